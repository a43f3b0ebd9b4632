import { describe, expect, it } from 'vitest';
import { BerthError, TeardownErrors } from '../base/errors.js';
import { teardown, transaction } from './undo.js';

describe('transaction', () => {
  it('runs the undo steps in reverse when a step fails, and rethrows the failure', async () => {
    const log: string[] = [];
    await expect(
      transaction(async (undo) => {
        undo.push('a', () => log.push('undo a'));
        undo.push('b', () => log.push('undo b'));
        throw new Error('step c failed');
      }),
    ).rejects.toThrow('step c failed');
    expect(log).toEqual(['undo b', 'undo a']);
  });

  it('keeps undoing after an undo step fails and says so in the error', async () => {
    const log: string[] = [];
    const err = await transaction(async (undo) => {
      undo.push('a', () => log.push('undo a'));
      undo.push('veth', () => {
        throw new Error('ENODEV');
      });
      throw new Error('boom');
    }).catch((e: Error) => e);
    expect(log).toEqual(['undo a']);
    expect((err as Error).message).toBe(
      'boom (and rolling back failed, so this may be left behind: undo veth: ENODEV)',
    );
  });

  it('puts what rolling back left behind in the details of a typed error, keeping its code', async () => {
    const err = await transaction(async (undo) => {
      undo.push('veth', () => {
        throw new Error('EBUSY');
      });
      throw new BerthError(100, 'range exhausted', 'use a larger range');
    }).catch((e: BerthError) => e);
    expect(err).toMatchObject({
      code: 100,
      msg: 'range exhausted',
      details: 'use a larger range; rolling back failed, so this may be left behind: undo veth: EBUSY',
    });
  });

  it('runs no undo step when the transaction succeeds', async () => {
    const log: string[] = [];
    const v = await transaction(async (undo) => {
      undo.push('a', () => log.push('undo a'));
      return 42;
    });
    expect(v).toBe(42);
    expect(log).toEqual([]);
  });
});

describe('teardown', () => {
  it('runs every step, counts gone as success, and returns the other errors', async () => {
    const ran: string[] = [];
    const gone = Object.assign(new Error('gone'), { code: 'ENOENT' });
    const errors = await teardown(
      [
        { what: 'rules', run: () => ran.push('rules') },
        {
          what: 'link',
          run: () => {
            throw gone;
          },
        },
        {
          what: 'address',
          run: () => {
            throw new Error('EBUSY');
          },
        },
        { what: 'state', run: () => ran.push('state') },
      ],
      (e) => (e as { code?: string }).code === 'ENOENT',
    );
    expect(ran).toEqual(['rules', 'state']);
    expect(errors.map((e) => e.message)).toEqual(['address: EBUSY']);
  });
});

describe('TeardownErrors', () => {
  it('keeps a code every error shares, so a lock timeout still says try again', () => {
    expect(new TeardownErrors([new BerthError(11, 'lock'), new BerthError(11, 'lock 2')]).code).toBe(11);
    expect(new TeardownErrors([new BerthError(11, 'lock'), new Error('EIO')]).code).toBe(5);
  });
});
