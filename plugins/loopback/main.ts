import { main } from '../skel/main.js';
import { loopbackPlugin } from './loopback.js';

void main(loopbackPlugin(), { about: 'berth-loopback: brings up lo in a container network namespace' });
