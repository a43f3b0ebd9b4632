/**
 * Who holds a file lock, and when a wait for it is to give up: the pure half of
 * withFileLock's waiting (files.ts reads /proc and the lock file).
 *
 * A wait never gives up on a clock alone. berth holds its locks for one kernel
 * transaction and a record write, milliseconds; under load a lock changes hands
 * many times a second, and a waiter that sees the holder change sees progress.
 * A holder is stuck when the same one (the same PID and, for berth's own
 * holders, the same acquisition) is seen holding:
 *   - stopped (state T or t in /proc/PID/stat: SIGSTOP, Ctrl-Z, a debugger) for
 *     `stoppedMs` on end, or
 *   - for `tenureMs`, whatever its state: far longer than any transaction, so a
 *     holder that long is looping or blocked for good.
 * A holder the waiter cannot identify (no /proc/locks, another PID namespace) is
 * waited for, as the reference plugins wait.
 */

/** When a holder counts as stuck (see above). */
export interface StuckRule {
  readonly stoppedMs: number;
  readonly tenureMs: number;
}

export const DEFAULT_STUCK_RULE: StuckRule = { stoppedMs: 10_000, tenureMs: 60_000 };

/** One holder of a lock as a waiter sees it. */
export interface LockHolder {
  readonly pid: number;
  /** The acquisition the holder wrote into the lock file, when it is berth's and exclusive. */
  readonly token?: string;
  /** The state letter of /proc/PID/stat: R, S, D, T, t, Z, ... */
  readonly state: string;
  /** Its command name (/proc/PID/comm), for the message. */
  readonly name: string;
}

export interface StuckHolder {
  readonly holder: LockHolder;
  readonly why: 'stopped' | 'tenure';
  /** How long the waiter has seen it so (stopped, or holding). */
  readonly forMs: number;
}

/** The major and minor numbers of a st_dev as Linux encodes it (glibc's gnu_dev_major/minor). */
export function deviceNumbers(dev: number): { major: number; minor: number } {
  const high = Math.floor(dev / 2 ** 32);
  const low = dev >>> 0;
  return {
    major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0),
    minor: ((low & 0xff) | ((low >>> 12) & 0xfff00) | ((high & 0xfff) << 20)) >>> 0,
  };
}

/**
 * The PIDs holding an flock on the file (device numbers and inode) by /proc/locks, whose lines read
 * `1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146368 0 EOF`; waiters (`1: -> FLOCK ...`) and POSIX locks
 * are not holders of an flock.
 */
export function flockHolderPids(procLocks: string, dev: { major: number; minor: number }, ino: number): number[] {
  const pids: number[] = [];
  for (const line of procLocks.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK') continue;
    const [major, minor, inode] = (f[5] ?? '').split(':');
    if (Number.parseInt(major ?? '', 16) !== dev.major || Number.parseInt(minor ?? '', 16) !== dev.minor) continue;
    if (Number(inode) !== ino) continue;
    const pid = Number(f[4]);
    if (Number.isInteger(pid) && pid > 0 && !pids.includes(pid)) pids.push(pid);
  }
  return pids;
}

/** The state letter of a /proc/PID/stat line: the field after the command, which may hold spaces and parentheses. */
export function processState(stat: string): string {
  const end = stat.lastIndexOf(')');
  return end < 0 ? '?' : (stat.slice(end + 1).trim()[0] ?? '?');
}

/** A token's length in the file: every token fills it, so the next one overwrites it whole. */
export const HOLDER_TOKEN_BYTES = 64;

/**
 * What a holder writes at the start of the lock file once it holds it: `<pid> <acquisition>`,
 * padded with spaces to HOLDER_TOKEN_BYTES. Overwriting in place needs no truncate: on ext4 a file
 * truncated to 0 is flushed when closed (auto_da_alloc), a disk write at every release.
 */
export const holderToken = (pid: number, acquisition: string): string =>
  `${`${pid} ${acquisition}`.padEnd(HOLDER_TOKEN_BYTES - 1, ' ')}\n`;

export function parseHolderToken(text: string): { pid: number; acquisition: string } | null {
  const m = /^(\d+) (\S+) *\n?$/.exec(text);
  return m ? { pid: Number(m[1]), acquisition: m[2]! } : null;
}

const isStopped = (state: string) => state === 'T' || state === 't';

/**
 * A waiter's memory of the holders it has seen, fed one observation at a time
 * (the holders now; an empty list when none is known). A holder not seen in an
 * observation is forgotten: the lock changed hands.
 */
export class HolderWatch {
  private readonly seen = new Map<string, { since: number; stoppedSince?: number }>();

  constructor(private readonly rule: StuckRule = DEFAULT_STUCK_RULE) {}

  observe(now: number, holders: readonly LockHolder[]): StuckHolder | null {
    const current = new Map(holders.map((h) => [`${h.pid} ${h.token ?? ''}`, h]));
    for (const key of [...this.seen.keys()]) if (!current.has(key)) this.seen.delete(key);
    let verdict: StuckHolder | null = null;
    for (const [key, holder] of current) {
      const before = this.seen.get(key);
      const since = before?.since ?? now;
      const stoppedSince = isStopped(holder.state) ? (before?.stoppedSince ?? now) : undefined;
      this.seen.set(key, { since, ...(stoppedSince === undefined ? {} : { stoppedSince }) });
      if (verdict) continue;
      if (stoppedSince !== undefined && now - stoppedSince >= this.rule.stoppedMs) {
        verdict = { holder, why: 'stopped', forMs: now - stoppedSince };
      } else if (now - since >= this.rule.tenureMs) {
        verdict = { holder, why: 'tenure', forMs: now - since };
      }
    }
    return verdict;
  }
}

/** How often a waiter looks at the holders: often enough for the rule's bounds, rarely enough to cost nothing. */
export function holderCheckEveryMs(rule: StuckRule): number {
  return Math.max(10, Math.min(500, Math.floor(Math.min(rule.stoppedMs, rule.tenureMs) / 4)));
}

/** The message and the fix for a stuck holder of the lock at path. */
export function stuckHolderText(label: string, path: string, stuck: StuckHolder): { msg: string; details: string } {
  const { pid, name } = stuck.holder;
  const seconds = (stuck.forMs / 1000).toFixed(1);
  const msg =
    stuck.why === 'stopped'
      ? `${label} ${path} is held by process ${pid} (${name}), which has been stopped for ${seconds} s`
      : `${label} ${path} is held by process ${pid} (${name}), which has not let go of it for ${seconds} s`;
  const details =
    stuck.why === 'stopped'
      ? `see it with \`ps -o pid,stat,etime,args -p ${pid}\`; \`kill -CONT ${pid}\` lets it go on (or end it), then try again`
      : `see it with \`ps -o pid,stat,etime,args -p ${pid}\` (or \`cat /proc/${pid}/stack\`); a change holds this lock for milliseconds, so this holder is stuck: end it, then try again`;
  return { msg, details };
}
