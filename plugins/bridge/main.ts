import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { bridgePlugin } from './bridge.js';

void main(bridgePlugin, { about: PLUGIN_ABOUT['berth-bridge'] });
