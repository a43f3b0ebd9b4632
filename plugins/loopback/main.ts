import { PLUGIN_ABOUT } from '../about.js';
import { main } from '../skel/main.js';
import { loopbackPlugin } from './loopback.js';

void main(loopbackPlugin(), { about: PLUGIN_ABOUT['berth-loopback'] });
