import { BerthError } from './errors.js';

/** What a thrown BerthError says, so a test states exactly what the runtime would see; anything else fails the test. */
export function failure(fn: () => unknown): { code: number; msg: string; details: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof BerthError) return { code: e.code, msg: e.msg, details: e.details };
    throw e;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}
