/**
 * A process of the test's own that holds an flock, for tests of waiting for a lock: a holder that
 * lets go, one that is stopped (SIGSTOP) while it holds, shared holders that relay.
 *
 *   const h = new LockHolders();                       // afterEach(() => h.stopAll())
 *   const child = await h.start(lockPath);             // resolves once it holds the lock
 *   process.kill(child.pid!, 'SIGSTOP');
 *
 * Each holder ends by itself within 60 s; stopAll() continues and kills, by PID, those still running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { findBinding } from '../../base/binding.js';

export interface HolderOptions {
  /** A shared hold instead of an exclusive one. */
  readonly shared?: boolean;
  /** Takes the lock on SIGUSR2 only (start() resolves once it is ready). */
  readonly onSignal?: boolean;
  /** Lets go after this long; default: holds until killed (or 60 s). */
  readonly holdMs?: number;
  /** On SIGUSR1: puts a new file at the path, holds it 300 ms, then writes this file and ends. */
  readonly doneFile?: string;
}

const SCRIPT = `
const fs = require('node:fs');
const b = require(process.env.BINDING);
const path = process.env.LOCK;
setTimeout(() => process.exit(9), 60000);
const fd = fs.openSync(path, 'a+');
const take = () => {
  b.flock(fd, !process.env.SHARED, 0);
  process.stdout.write('held\\n');
  const hold = Number(process.env.HOLD_MS || 0);
  if (hold > 0) setTimeout(() => process.exit(0), hold);
};
if (process.env.ON_SIGNAL) {
  process.on('SIGUSR2', take);
  process.stdout.write('ready\\n');
} else take();
process.on('SIGUSR1', () => {
  fs.unlinkSync(path);
  const next = fs.openSync(path, 'a+');
  b.flock(next, true, 0);
  fs.closeSync(fd);
  setTimeout(() => { fs.writeFileSync(process.env.DONE, 'done'); process.exit(0); }, 300);
});
`;

export class LockHolders {
  private readonly children: ChildProcess[] = [];

  /** Starts a holder of lockPath; resolves once it holds it (or, onSignal, is ready to take it). */
  async start(lockPath: string, options: HolderOptions = {}): Promise<ChildProcess> {
    const binding = findBinding();
    if (!binding) throw new Error("berth's native binding is not built: run `npm ci`");
    const child = spawn(process.execPath, ['-e', SCRIPT], {
      env: {
        PATH: process.env.PATH ?? '',
        BINDING: binding,
        LOCK: lockPath,
        ...(options.shared ? { SHARED: '1' } : {}),
        ...(options.onSignal ? { ON_SIGNAL: '1' } : {}),
        ...(options.holdMs ? { HOLD_MS: String(options.holdMs) } : {}),
        ...(options.doneFile ? { DONE: options.doneFile } : {}),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    await said(child, options.onSignal ? 'ready' : 'held');
    return child;
  }

  /** Continues and kills, by PID, every holder still running. */
  stopAll(): void {
    for (const c of this.children.splice(0)) {
      if (c.pid && c.exitCode === null && c.signalCode === null) {
        process.kill(c.pid, 'SIGCONT');
        process.kill(c.pid, 'SIGKILL');
      }
    }
  }
}

/** Resolves when the holder has printed the word ('ready', 'held'); rejects after 10 s or when it ends first. */
export function said(child: ChildProcess, word: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the lock holder did not say ${word} within 10 s`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes(word)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the lock holder exited with ${code} before saying ${word}`));
    });
  });
}
