import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { portmapPlugin } from './portmap.js';

void main(portmapPlugin, { about: PLUGIN_ABOUT['berth-portmap'] });
