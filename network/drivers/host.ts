import { BerthError, ErrorCode } from '../../base/errors.js';
import { type Driver, NOTHING_LINKED } from './driver.js';

/** The host's own network: the sandbox is the host's netns, nothing is made and nothing is undone. */
export const hostDriver: Driver<Record<string, never>> = {
  name: 'host',
  networks: true,
  makesInterface: false,
  settingsOf: () => ({}),
  hostInterface: () => undefined,

  admit(sb) {
    if (sb.mode === 'host') return;
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `only a host-mode sandbox joins the host network; ${sb.name} is in ${sb.mode} mode`,
      'create the sandbox with mode "host"',
    );
  },

  createNetwork: async () => ({}),
  deleteNetwork: () => [],
  attach: async () => NOTHING_LINKED,
  detach: () => [],
  check: async () => undefined,
};
