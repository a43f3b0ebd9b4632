import { linklessDriver } from './driver.js';

/** No network: a sandbox on it has only its `lo`, which the sandbox brought up itself. */
export const nullDriver = linklessDriver({
  name: 'null',
  networks: true,
  admit: () => undefined,
  check: async () => undefined,
});
