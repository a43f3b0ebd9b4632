/**
 * Small servers that kernel tests start inside a netns: a Node script run by this test's Node,
 * which prints "ready" once it listens. The caller kills it by its PID when the test is done.
 *
 *   const child = await serveInNetns(ns.path, "require('node:net').createServer(...).listen(80, () => console.log('ready'))", servers);
 *   afterEach(() => killAll(servers));   // by PID, each one still running
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { binding } from '../../base/binding.js';

const READY_TIMEOUT_MS = 10_000;

/** Kills, by PID with SIGKILL, each of the processes that has not ended yet, and empties the list. */
export function killAll(started: ChildProcess[]): void {
  for (const c of started.splice(0))
    if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
}

/** Starts `node -e code` in the netns and resolves once it prints "ready"; rejects when it exits first or is not ready in 10 s. */
export function serveInNetns(netnsPath: string, code: string, started: ChildProcess[]): Promise<ChildProcess> {
  const child = binding().runInNetns(netnsPath, () =>
    spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  started.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the server in ${netnsPath} did not start within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (status) => {
      clearTimeout(timer);
      reject(new Error(`the server in ${netnsPath} exited with ${status}`));
    });
  });
}
