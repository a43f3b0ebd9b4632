import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { bandwidthPlugin } from './bandwidth.js';

void main(bandwidthPlugin, { about: PLUGIN_ABOUT['berth-bandwidth'] });
