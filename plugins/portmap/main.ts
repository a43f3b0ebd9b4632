import { main } from '../skel/main.js';
import { portmapPlugin } from './portmap.js';

void main(portmapPlugin, {
  about: 'berth-portmap: publishes container ports on the host, config-compatible with the reference portmap plugin',
});
