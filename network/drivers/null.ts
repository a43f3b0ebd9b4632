import { type Driver, NOTHING_LINKED } from './driver.js';

/** No network: a sandbox on it has only its `lo`, which the sandbox brought up itself. */
export const nullDriver: Driver<Record<string, never>> = {
  name: 'null',
  networks: true,
  makesInterface: false,
  settingsOf: () => ({}),
  hostInterface: () => undefined,
  admit: () => undefined,
  createNetwork: async () => ({}),
  deleteNetwork: () => [],
  attach: async () => NOTHING_LINKED,
  detach: () => [],
  check: async () => undefined,
};
