import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockHolders, said } from '../test/helpers/lock-holder.js';
import { BerthError, ErrorCode } from './errors.js';
import {
  readTextIfThere,
  subfolders,
  tryFlock,
  withFileLock,
  withFileLocks,
  writeFileAtomic,
  writeFileAtomicAsync,
} from './files.js';
import { HOLDER_TOKEN_BYTES, parseHolderToken } from './lock-holders.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('withFileLock', () => {
  const dirs: string[] = [];
  const holders = new LockHolders();
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-locks-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    holders.stopAll();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const rejection = async (p: Promise<unknown>): Promise<BerthError> => {
    try {
      await p;
    } catch (e) {
      if (e instanceof BerthError) return e;
      throw e;
    }
    throw new Error('expected a rejection');
  };

  it('waiters in one process take turns in order', async () => {
    const lock = join(tempDir(), 'lock');
    const order: number[] = [];
    let inside = 0;
    await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        withFileLock(lock, async () => {
          inside++;
          expect(inside).toBe(1);
          await sleep(5);
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it('shared holds run together; an exclusive one waits for them, and the shared ones after it wait for it', async () => {
    const lock = join(tempDir(), 'lock');
    const events: string[] = [];
    const hold = (name: string, shared: boolean) =>
      withFileLock(
        lock,
        async () => {
          events.push(`${name}+`);
          await sleep(30);
          events.push(`${name}-`);
        },
        { shared },
      );
    await Promise.all([hold('r1', true), hold('r2', true), hold('w', false), hold('r3', true)]);
    expect(events).toEqual(['r1+', 'r2+', 'r1-', 'r2-', 'w+', 'w-', 'r3+', 'r3-']);
  });

  it("another process's shared hold lets a shared one in and keeps an exclusive one out", async () => {
    const lock = join(tempDir(), 'lock');
    const child = await holders.start(lock, { shared: true, holdMs: 600 });
    const started = Date.now();
    await withFileLock(lock, () => undefined, { shared: true });
    expect(Date.now() - started).toBeLessThan(400);
    await withFileLock(lock, () => undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(child.pid).toBeGreaterThan(0);
  });

  it("the holder leaves its PID in the lock file, over the last holder's token, whole", async () => {
    const lock = join(tempDir(), 'lock');
    writeFileSync(lock, `1 ${'x'.repeat(40)}\n`); // an earlier holder's, unpadded
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      await withFileLock(lock, () => {
        tokens.push(readFileSync(lock, 'utf8'));
      });
    }
    for (const token of tokens) {
      expect(token).toHaveLength(HOLDER_TOKEN_BYTES);
      expect(parseHolderToken(token)?.pid).toBe(process.pid);
    }
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  it('removeWhenDone removes the file; a waiter that had the old file takes the one now at the path', async () => {
    const dir = tempDir();
    const lock = join(dir, 'lock');
    await withFileLock(lock, () => undefined, { removeWhenDone: () => true });
    expect(existsSync(lock)).toBe(false);

    const done = join(dir, 'done');
    const child = await holders.start(lock, { doneFile: done });
    const waiting = withFileLock(lock, () => existsSync(done));
    await sleep(200); // the waiter has opened the first file and tries it
    process.kill(child.pid!, 'SIGUSR1');
    // Had the waiter kept the first file, it would be inside while the child still holds the second.
    expect(await waiting).toBe(true);
  });

  it('waits as long as the lock changes hands, even far past the bound on one holder', async () => {
    const lock = join(tempDir(), 'lock');
    // Shared holders that overlap, one after the other, each for less than the bound: never free, never stuck.
    const relay = await Promise.all(
      [1, 2, 3, 4, 5].map(() => holders.start(lock, { shared: true, onSignal: true, holdMs: 500 })),
    );
    const taken = relay.map((c) => said(c, 'held'));
    process.kill(relay[0]!.pid!, 'SIGUSR2');
    await taken[0];
    const started = Date.now();
    const waiting = withFileLock(lock, () => Date.now() - started, { stuck: { stoppedMs: 300, tenureMs: 700 } });
    for (const [i, c] of relay.slice(1).entries()) {
      await sleep(250);
      process.kill(c.pid!, 'SIGUSR2');
      await taken[i + 1];
    }
    // Had it given up at the bound, this would throw; it got in after the last holder let go.
    expect(await waiting).toBeGreaterThan(1_000);
  });

  it('a holder stopped for stoppedMs fails the wait with code 11 naming its PID; continued, it lets go', async () => {
    const lock = join(tempDir(), 'lock');
    const child = await holders.start(lock);
    process.kill(child.pid!, 'SIGSTOP');
    const started = Date.now();
    const e = await rejection(withFileLock(lock, () => undefined, { stuck: { stoppedMs: 300, tenureMs: 30_000 } }));
    const waited = Date.now() - started;
    expect(e.code).toBe(ErrorCode.TryAgainLater);
    expect(e.msg).toMatch(
      new RegExp(`^the lock ${lock} is held by process ${child.pid} \\(node\\), which has been stopped for`),
    );
    expect(e.details).toContain(`kill -CONT ${child.pid}`);
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(5_000);
    process.kill(child.pid!, 'SIGCONT');
    process.kill(child.pid!, 'SIGTERM');
    await withFileLock(lock, () => undefined);
  });

  it('a running holder that keeps the lock for tenureMs fails the wait with code 11 naming it', async () => {
    const lock = join(tempDir(), 'lock');
    const child = await holders.start(lock);
    const e = await rejection(
      withFileLock(lock, () => undefined, { stuck: { stoppedMs: 10_000, tenureMs: 400 }, label: 'the IPAM lock' }),
    );
    expect(e.code).toBe(ErrorCode.TryAgainLater);
    expect(e.msg).toMatch(
      new RegExp(`^the IPAM lock ${lock} is held by process ${child.pid} \\(node\\), which has not let go of it for`),
    );
  });

  it("a caller's own timeoutMs still ends the wait, whoever holds the lock", async () => {
    const lock = join(tempDir(), 'lock');
    await holders.start(lock);
    const e = await rejection(withFileLock(lock, () => undefined, { timeoutMs: 150 }));
    expect(e).toMatchObject({ code: 11, msg: `timed out after 150 ms waiting for the lock ${lock}` });
  });
});

describe('withFileLocks', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('takes the locks in the order of their paths, so crossing requests never wait for each other in a circle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-locks-'));
    dirs.push(dir);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => join(dir, n));
    let count = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        withFileLocks(
          (i % 2 ? [c!, a!, b!] : [b!, c!, a!]).map((path) => ({ path })),
          async () => {
            await sleep(1);
            count++;
          },
        ),
      ),
    );
    expect(count).toBe(20);
  });

  it('takes a path named twice once, exclusive when either asks it so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-locks-'));
    dirs.push(dir);
    const lock = join(dir, 'x');
    const events: string[] = [];
    await Promise.all([
      withFileLocks([{ path: lock, shared: true }, { path: lock }], async () => {
        events.push('one+');
        await sleep(20);
        events.push('one-');
      }),
      withFileLock(
        lock,
        () => {
          events.push('two');
        },
        { shared: true },
      ),
    ]);
    expect(events).toEqual(['one+', 'one-', 'two']);
  });
});

describe('small file helpers', () => {
  const dirs: string[] = [];
  const holders = new LockHolders();
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-files-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    holders.stopAll();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writeFileAtomicAsync: the whole content with the mode asked for, replacing the file, no temp file left', async () => {
    const dir = tempDir();
    const a = join(dir, 'a');
    writeFileSync(a, 'old content, longer than the new');
    const umask = process.umask(0o077);
    try {
      await writeFileAtomicAsync(a, 'new', 0o640);
    } finally {
      process.umask(umask);
    }
    expect(readFileSync(a, 'utf8')).toBe('new');
    expect(statSync(a).mode & 0o777).toBe(0o640);
    // Overlapping writes in one folder, in the same millisecond: each temp file is its own.
    const names = Array.from({ length: 20 }, (_, i) => `f${i}`);
    await Promise.all(names.map((n) => writeFileAtomicAsync(join(dir, n), Buffer.from(n.repeat(1000)))));
    writeFileAtomic(join(dir, 'sync'), 'sync');
    for (const n of names) expect(readFileSync(join(dir, n), 'utf8')).toBe(n.repeat(1000));
    expect(readdirSync(dir).sort()).toEqual(['a', ...names, 'sync'].sort());
  });

  it('writeFileAtomicAsync: a folder that is not there is ENOENT, and nothing is written', async () => {
    const dir = tempDir();
    await expect(writeFileAtomicAsync(join(dir, 'none', 'a'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writeFileAtomic(Async): a write that fails (here its rename, onto a folder) throws its error and leaves no temp file', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'target'));
    writeFileSync(join(dir, 'target', 'inside'), '');
    await expect(writeFileAtomicAsync(join(dir, 'target'), 'x')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(() => writeFileAtomic(join(dir, 'target'), 'x')).toThrow(/EISDIR/);
    expect(() => writeFileAtomic(join(dir, 'target'), 'x', 0o600, { durable: false })).toThrow(/EISDIR/);
    expect(readdirSync(dir)).toEqual(['target']);
  });

  it('readTextIfThere: the text, undefined for no file, an error for anything else', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a'), 'text');
    expect(readTextIfThere(join(dir, 'a'))).toBe('text');
    expect(readTextIfThere(join(dir, 'none'))).toBeUndefined();
    expect(() => readTextIfThere(dir)).toThrow(/EISDIR/);
  });

  it('subfolders: the folders only, sorted; none for a missing folder', () => {
    const dir = tempDir();
    for (const name of ['b', 'a', 'c']) mkdirSync(join(dir, name));
    writeFileSync(join(dir, 'file'), '');
    expect(subfolders(dir)).toEqual(['a', 'b', 'c']);
    expect(subfolders(join(dir, 'none'))).toEqual([]);
  });

  it("tryFlock: takes a free lock at once, and returns false on another process's hold", async () => {
    const dir = tempDir();
    const free = openSync(join(dir, 'free'), 'a+');
    const held = join(dir, 'held');
    await holders.start(held, { holdMs: 5_000 });
    const fd = openSync(held, 'a+');
    try {
      expect(tryFlock(free)).toBe(true);
      expect(tryFlock(fd)).toBe(false);
      expect(tryFlock(fd, false)).toBe(false);
    } finally {
      closeSync(fd);
      closeSync(free);
    }
  });
});
