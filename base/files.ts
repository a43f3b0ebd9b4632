import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { binding, isSystemError } from './binding.js';
import { BerthError, ErrorCode } from './errors.js';
import {
  DEFAULT_STUCK_RULE,
  deviceNumbers,
  flockHolderPids,
  HOLDER_TOKEN_BYTES,
  HolderWatch,
  holderCheckEveryMs,
  holderToken,
  type LockHolder,
  parseHolderToken,
  processState,
  type StuckRule,
  stuckHolderText,
} from './lock-holders.js';

/** Creates dir (and parents) with mode 0700 for berth's private state. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

let tempFiles = 0;
/** A temp file's name beside path, unique in this process even for writes that overlap. */
const tempBeside = (path: string): string =>
  join(dirname(path), `.${process.pid}.${Date.now()}.${(++tempFiles).toString(36)}.tmp`);

/** Writes a file so a reader sees the old content or the new, never a part: temp file, fsync, rename. */
export function writeFileAtomic(
  path: string,
  data: string | Buffer,
  mode = 0o600,
  { durable = true }: { readonly durable?: boolean } = {},
): void {
  const tmp = tempBeside(path);
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      fchmodSync(fd, mode); // the mode asked for, whatever the umask
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    removeTemp(tmp);
    throw e;
  }
  // Not durable: whole or not there, but a crash may lose it (a file that a reboot makes moot).
  if (durable) fsyncDir(dirname(path));
}

/** Best effort: a write that failed (ENOSPC, a rename refused) leaves no temp file; its own error is the one thrown. */
function removeTemp(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch {}
}

/** Makes the folder's entries durable: files created, linked, renamed or removed in it. */
export function fsyncDir(dir: string): void {
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * writeFileAtomic, durable, with the writes and fsyncs on libuv's pool: the thread serves other calls
 * while the disk syncs.
 */
export async function writeFileAtomicAsync(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = tempBeside(path);
  const file = await open(tmp, 'w', mode);
  try {
    try {
      await file.chmod(mode); // the mode asked for, whatever the umask
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    removeTemp(tmp);
    throw e;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export interface LockOptions {
  /** A shared (read) hold, which other shared holds do not exclude. Default: exclusive. */
  readonly shared?: boolean;
  /**
   * A deadline the caller chose (such as a config's `lockTimeoutMs`): past it the wait fails with code 11
   * whoever holds the lock. Without it the wait ends only when the lock is had or its holder is stuck.
   */
  readonly timeoutMs?: number;
  /** How messages name the lock. Default 'the lock'. */
  readonly label?: string;
  /** When a holder counts as stuck (see lock-holders.ts). */
  readonly stuck?: StuckRule;
  /**
   * Whether an exclusive holder writes its PID and acquisition into the file, so a waiter tells one
   * acquisition from the next (off for a file another program shares, as host-local's IPAM lock).
   */
  readonly announce?: boolean;
  /** Asked after fn, the lock still held: true removes the lock file (what it guards is gone). */
  readonly removeWhenDone?: () => boolean;
}

/** One lock of several, for withFileLocks. */
export interface LockRequest {
  readonly path: string;
  readonly shared?: boolean;
  readonly removeWhenDone?: () => boolean;
}

// Waiters in this process queue here, in order, rather than all polling the flock; shared holds
// after the same exclusive one run together.
interface PathQueue {
  exclusive: Promise<void>;
  shared: Promise<void>[];
  pending: number;
}
const inProcessQueues = new Map<string, PathQueue>();

function enqueue(lockPath: string, shared: boolean): { ready: Promise<void>; leave: () => void } {
  let q = inProcessQueues.get(lockPath);
  if (!q) {
    q = { exclusive: Promise.resolve(), shared: [], pending: 0 };
    inProcessQueues.set(lockPath, q);
  }
  q.pending++;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let ready: Promise<void>;
  if (shared) {
    ready = q.exclusive;
    q.shared.push(finished);
  } else {
    ready = Promise.all([q.exclusive, ...q.shared]).then(() => undefined);
    q.exclusive = finished;
    q.shared = [];
  }
  const queue = q;
  return {
    ready,
    leave: () => {
      finish();
      if (--queue.pending === 0 && inProcessQueues.get(lockPath) === queue) inProcessQueues.delete(lockPath);
    },
  };
}

/**
 * Holds an flock on lockPath while fn runs (exclusive unless `shared`). The wait gives up only on a
 * stuck holder (see lock-holders.ts) or the caller's own `timeoutMs`, with CNI code 11 (try again later).
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => T | Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const { ready, leave } = enqueue(lockPath, options.shared ?? false);
  try {
    await ready;
    return await holdFlock(lockPath, fn, options);
  } finally {
    leave();
  }
}

/**
 * Holds several locks while fn runs, taken in the order of their paths (so two callers never wait for
 * each other in a circle); a path named twice is taken once, exclusive when either asks it so.
 */
export function withFileLocks<T>(
  locks: readonly LockRequest[],
  fn: () => T | Promise<T>,
  options: Omit<LockOptions, 'shared' | 'removeWhenDone'> = {},
): Promise<T> {
  const byPath = new Map<string, LockRequest>();
  for (const l of locks) {
    const had = byPath.get(l.path);
    byPath.set(l.path, had ? mergeRequests(had, l) : l);
  }
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const take = (i: number): Promise<T> => {
    const l = sorted[i];
    if (!l) return Promise.resolve(fn());
    return withFileLock(l.path, () => take(i + 1), {
      ...options,
      shared: l.shared ?? false,
      ...(l.removeWhenDone ? { removeWhenDone: l.removeWhenDone } : {}),
    });
  };
  return take(0);
}

function mergeRequests(a: LockRequest, b: LockRequest): LockRequest {
  const removes = [a.removeWhenDone, b.removeWhenDone].filter((r) => r !== undefined);
  return {
    path: a.path,
    shared: (a.shared ?? false) && (b.shared ?? false),
    ...(removes.length > 0 ? { removeWhenDone: () => removes.every((r) => r()) } : {}),
  };
}

let acquisitions = 0;

async function holdFlock<T>(lockPath: string, fn: () => T | Promise<T>, options: LockOptions): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true, mode: 0o700 });
  const shared = options.shared ?? false;
  const wait = new LockWait(lockPath, options);
  let fd: number;
  for (;;) {
    fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      await wait.acquire(fd, shared);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    // The last holder of a lock that guards nothing any more removes its file: a lock had on a file no
    // longer at the path guards nothing, and the next try takes the path's new file.
    if (sameFile(fd, lockPath)) break;
    closeSync(fd);
  }
  try {
    if (!shared && options.announce !== false) {
      writeSync(fd, holderToken(process.pid, `${Date.now().toString(36)}.${++acquisitions}`), 0);
    }
    return await fn();
  } finally {
    try {
      if (!shared && options.removeWhenDone?.()) unlinkIfThere(lockPath);
    } finally {
      closeSync(fd); // closing the descriptor releases the flock
    }
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const held = fstatSync(fd);
    const now = statSync(path);
    return held.ino === now.ino && held.dev === now.dev;
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return false;
    throw e;
  }
}

/** A file's text, or undefined when there is no such file. */
export function readTextIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/** The names of the folders in dir, sorted; none when dir is not there. */
export function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return [];
    throw e;
  }
}

/** Takes the flock on fd without waiting: false when another holds it. */
export function tryFlock(fd: number, exclusive = true): boolean {
  try {
    binding().flock(fd, exclusive, 0);
    return true;
  } catch (e) {
    if (isSystemError(e, 'ETIMEDOUT')) return false;
    throw e;
  }
}

/** Removes a file; one that is not there is success. */
export function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (!isSystemError(e, 'ENOENT')) throw e;
  }
}

/** One wait for one lock: non-blocking tries with a growing pause, a look at the holders now and then. */
class LockWait {
  private readonly started = Date.now();
  private readonly rule: StuckRule;
  private readonly watch: HolderWatch;
  private nextLook: number;

  constructor(
    private readonly lockPath: string,
    private readonly options: LockOptions,
  ) {
    this.rule = options.stuck ?? DEFAULT_STUCK_RULE;
    this.watch = new HolderWatch(this.rule);
    this.nextLook = this.started + holderCheckEveryMs(this.rule);
  }

  // The binding's flock waits by blocking the thread; each try here does not wait at all, so the
  // event loop goes on between tries.
  async acquire(fd: number, shared: boolean): Promise<void> {
    const label = this.options.label ?? 'the lock';
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      if (tryFlock(fd, !shared)) return;
      const now = Date.now();
      const { timeoutMs } = this.options;
      if (timeoutMs !== undefined && now - this.started >= timeoutMs) {
        throw new BerthError(
          ErrorCode.TryAgainLater,
          `timed out after ${timeoutMs} ms waiting for ${label} ${this.lockPath}`,
          `another process holds it; try again, or find the holder with \`fuser ${this.lockPath}\``,
        );
      }
      if (now >= this.nextLook) {
        this.nextLook = now + holderCheckEveryMs(this.rule);
        const stuck = this.watch.observe(now, lockHolders(fd));
        if (stuck) {
          const { msg, details } = stuckHolderText(label, this.lockPath, stuck);
          throw new BerthError(ErrorCode.TryAgainLater, msg, details);
        }
      }
      // Jitter keeps a crowd of waiters from trying in step.
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
    }
  }
}

/** The holders of the flock on fd's file, by /proc/locks; none when they cannot be known. */
function lockHolders(fd: number): LockHolder[] {
  let procLocks: string;
  let held: { dev: number; ino: number };
  try {
    procLocks = readFileSync('/proc/locks', 'utf8');
    held = fstatSync(fd);
  } catch {
    return [];
  }
  const pids = flockHolderPids(procLocks, deviceNumbers(held.dev), held.ino);
  if (pids.length === 0) return [];
  const token = pids.length === 1 ? readToken(fd) : null;
  const holders: LockHolder[] = [];
  for (const pid of pids) {
    let state: string;
    let name: string;
    try {
      state = processState(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // gone: its locks go with it
    }
    holders.push({ pid, state, name, ...(token?.pid === pid ? { token: token.acquisition } : {}) });
  }
  return holders;
}

function readToken(fd: number): { pid: number; acquisition: string } | null {
  const buf = Buffer.alloc(HOLDER_TOKEN_BYTES);
  try {
    return parseHolderToken(buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0)));
  } catch {
    return null;
  }
}
