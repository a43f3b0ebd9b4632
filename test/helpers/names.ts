/**
 * Names in kernel tests: lookups as a sandbox's processes make them, and stopping a state
 * dir's name service.
 *
 *   expect(await getent(sb, 'web')).toEqual(['10.89.0.2']);   // null: no such name
 *   await stopNameService(stateDir);                           // by its PID
 */
import { runningService, serviceFiles } from '../../network/names/instance.js';
import type { Sandbox } from '../../network/sandbox.js';

const GETENT_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * The addresses, sorted and each once, that `getent ahosts NAME` finds in the sandbox as berth
 * runs a process there (its resolv.conf and hosts over /etc, through glibc); null when it finds
 * none. Throws when getent fails otherwise; kills it after 15 s.
 */
export function getent(sb: Sandbox, name: string): Promise<string[] | null> {
  return new Promise((resolve, reject) => {
    const child = sb.spawn('getent', ['ahosts', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c));
    child.stderr!.on('data', (c: Buffer) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), GETENT_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status === 2) resolve(null);
      else if (status === 0)
        resolve([...new Set(out.split('\n').flatMap((l) => (l ? [l.split(/\s+/)[0]!] : [])))].sort());
      else reject(new Error(`getent ahosts ${name} ended with ${status}: ${err}`));
    });
  });
}

/** Stops the state dir's name service by its PID (SIGKILL after 5 s) and waits until it is gone. */
export async function stopNameService(stateDir: string): Promise<void> {
  const pid = runningService(serviceFiles(stateDir));
  if (pid === undefined) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (runningService(serviceFiles(stateDir)) !== undefined) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
