import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { macvlanPlugin } from './macvlan.js';

void main(macvlanPlugin, { about: PLUGIN_ABOUT['berth-macvlan'] });
