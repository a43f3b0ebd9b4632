import { main } from '../skel/main.js';
import { ipamPlugin } from './ipam.js';

void main(ipamPlugin(), { about: 'berth-ipam: host-local compatible IPAM' });
