import { BerthError, ErrorCode } from '../base/errors.js';

/**
 * Input the user can fix by retyping the command (a malformed -p, an unknown
 * mode): exit status 2, as yargs' own usage errors, and nothing was changed.
 */
export class UsageError extends BerthError {
  constructor(msg: string, details = '') {
    super(ErrorCode.InvalidConfig, msg, details);
  }
}
