import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { dnsPlugin } from './dns.js';

void main(dnsPlugin, { about: PLUGIN_ABOUT['berth-dns'] });
