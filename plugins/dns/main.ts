import { main } from '../skel/main.js';
import { dnsPlugin } from './dns.js';

void main(dnsPlugin, {
  about: "berth-dns: names of a bridge network's containers answered on its gateway, chained after the bridge plugin",
});
