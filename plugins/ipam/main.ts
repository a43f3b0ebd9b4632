import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { ipamPlugin } from './ipam.js';

void main(ipamPlugin(), { about: PLUGIN_ABOUT['berth-ipam'] });
