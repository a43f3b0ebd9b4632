import { BerthError, ErrorCode } from '../../base/errors.js';
import { netnsExists } from '../../netlink/netns.js';
import { linklessDriver } from './driver.js';

/**
 * Docker's container mode: the sandbox joins the netns of another one and uses its interfaces.
 * It makes nothing; the netns lives while a user of it is left (the Sandbox sees to that).
 */
export const containerDriver = linklessDriver({
  name: 'container',
  networks: false,
  admit(sb) {
    if (sb.mode === 'container') return;
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `sandbox ${sb.name} is in ${sb.mode} mode; only a container-mode sandbox shares another's netns`,
      'create the sandbox with mode "container" and shareWith',
    );
  },
  async check(_host, step) {
    if (netnsExists(step.netnsPath)) return;
    throw new BerthError(
      ErrorCode.Internal,
      `the shared network namespace ${step.netnsPath} of ${step.name} is gone`,
      'the sandbox it shared ended; remove this one too',
    );
  },
});
