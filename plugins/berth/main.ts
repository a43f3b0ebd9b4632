import { main } from '../skel/main.js';
import { berthPlugin } from './berth.js';

void main(berthPlugin, { about: 'berth: bridge, IPAM, masquerade and published ports in one CNI plugin' });
