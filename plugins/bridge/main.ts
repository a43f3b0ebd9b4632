import { main } from '../skel/main.js';
import { bridgePlugin } from './bridge.js';

main(bridgePlugin, {
  about:
    'berth-bridge: a Linux bridge and a veth pair per container, config-compatible with the reference bridge plugin',
});
