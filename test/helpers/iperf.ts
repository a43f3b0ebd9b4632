/**
 * Throughput between two namespaces a test made, with iperf3: a one-off server bound to an
 * address the test assigned, a client run for a bounded time, the bits per second the receiver
 * counted. Traffic never leaves the test's namespaces.
 *
 *   const bps = await throughput(a.path, b.path, '10.95.0.2', servers);   // a sends to b
 */
import type { ChildProcess } from 'node:child_process';
import { spawnInNetns, spawnSyncInNetns } from '../../base/exec.js';

const START_TIMEOUT_MS = 5_000;
const RUN_TIMEOUT_MS = 20_000;
/** How long a client sends. */
export const IPERF_SECONDS = 2;

/** Resolves when the child prints `text` on stdout; rejects when it exits or the time is up. */
function waitForOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no '${text}' within ${timeoutMs} ms: ${seen}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`iperf3 server exited with ${code} before listening: ${seen}`));
    });
  });
}

/**
 * Bits per second that arrive at `toAddr` (in netns `to`) from netns `from` in one bounded iperf3 run,
 * as the receiver counts them. The server is pushed on `servers`, for the test's afterEach to kill if it
 * is still there.
 */
export async function throughput(
  from: string,
  to: string,
  toAddr: string,
  servers: ChildProcess[],
  seconds = IPERF_SECONDS,
): Promise<number> {
  const server = spawnInNetns(to, 'iperf3', ['-s', '-1', '-B', toAddr, '--forceflush'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(server);
  await waitForOutput(server, 'Server listening', START_TIMEOUT_MS);
  const client = spawnSyncInNetns(from, 'iperf3', ['-c', toAddr, '-t', String(seconds), '-J'], {
    timeout: RUN_TIMEOUT_MS,
  });
  if (client.status !== 0) throw new Error(`iperf3 client failed: ${client.stdout}${client.stderr}`);
  const report = JSON.parse(client.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second;
}
