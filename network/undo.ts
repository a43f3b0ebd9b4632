import { isSystemError } from '../base/binding.js';
import { BerthError } from '../base/errors.js';

/**
 * The undo stack of a transaction: each step that changes something pushes how
 * to take it back; on failure the steps run in reverse, every one of them even
 * when some fail, and the original error leaves with the teardown errors attached.
 */
export class UndoStack {
  private readonly steps: { what: string; undo: () => unknown }[] = [];

  push(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Forget the steps: the transaction committed. */
  commit(): void {
    this.steps.length = 0;
  }

  /** Runs every step in reverse; returns the errors met, each naming its step. */
  async rollback(): Promise<Error[]> {
    const errors: Error[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (e) {
        errors.push(new Error(`undo ${step.what}: ${e instanceof Error ? e.message : String(e)}`));
      }
    }
    return errors;
  }
}

/** The failure, now also saying what rolling back could not undo (in `details`, which CNI errors and the CLI print). */
function withRollbackFailures(e: unknown, errors: readonly Error[]): unknown {
  const left = `rolling back failed, so this may be left behind: ${errors.map((x) => x.message).join('; ')}`;
  if (e instanceof BerthError)
    return new BerthError(e.code, e.msg, e.details ? `${e.details}; ${left}` : left, { cause: e });
  if (e instanceof Error) e.message += ` (and ${left})`;
  return e;
}

/** Runs fn with a fresh undo stack; a throw rolls everything back before it leaves. */
export async function transaction<T>(fn: (undo: UndoStack) => Promise<T>): Promise<T> {
  const undo = new UndoStack();
  try {
    const result = await fn(undo);
    undo.commit();
    return result;
  } catch (e) {
    const errors = await undo.rollback();
    if (errors.length > 0) throw withRollbackFailures(e, errors);
    throw e;
  }
}

/**
 * Best-effort teardown: runs every step, treats what `isGone` recognises as
 * success, and returns the other errors so the caller can report them all.
 */
export async function teardown(
  steps: readonly { what: string; run: () => unknown }[],
  isGone: (e: unknown) => boolean = () => false,
): Promise<Error[]> {
  const errors: Error[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (e) {
      if (isGone(e)) continue;
      errors.push(new Error(`${step.what}: ${e instanceof Error ? e.message : String(e)}`));
    }
  }
  return errors;
}

/** A link, address or netns that is already gone: success for a teardown. */
export function isGone(e: unknown): boolean {
  return isSystemError(e) && ['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL'].includes(e.code);
}
