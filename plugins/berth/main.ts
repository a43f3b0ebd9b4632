import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { berthPlugin } from './berth.js';

void main(berthPlugin, { about: PLUGIN_ABOUT.berth });
