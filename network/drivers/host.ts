import { BerthError, ErrorCode } from '../../base/errors.js';
import { linklessDriver } from './driver.js';

/** The host's own network: the sandbox is the host's netns, nothing is made and nothing is undone. */
export const hostDriver = linklessDriver({
  name: 'host',
  networks: true,
  admit(sb) {
    if (sb.mode === 'host') return;
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `only a host-mode sandbox joins the host network; ${sb.name} is in ${sb.mode} mode`,
      'create the sandbox with mode "host"',
    );
  },
  check: async () => undefined,
});
