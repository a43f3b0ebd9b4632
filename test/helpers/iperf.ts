/**
 * Throughput between two namespaces a test made, with iperf3: a one-off server bound to an
 * address the test assigned, a client run for a bounded time, the bits per second the receiver
 * counted. Traffic never leaves the test's namespaces.
 *
 *   const bps = await throughput(a.path, b.path, '10.95.0.2', servers);   // a sends to b
 *
 * or, for a client that something else starts: startIperfServer, iperfClientArgs, receivedBitsPerSecond.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnInNetns, spawnSyncInNetns } from '../../base/exec.js';

const START_TIMEOUT_MS = 5_000;
const RUN_TIMEOUT_MS = 20_000;
/** How long a client sends. */
const IPERF_SECONDS = 2;

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

/** Starts a one-off iperf3 server on `addr` in netns `ns` and waits until it listens; pushed on `servers` for the test to kill. */
export async function startIperfServer(ns: string, addr: string, servers: ChildProcess[]): Promise<void> {
  const server = spawnInNetns(ns, 'iperf3', ['-s', '-1', '-B', addr, '--forceflush'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(server);
  await waitForOutput(server, 'Server listening', START_TIMEOUT_MS);
}

/** The client's arguments: send to `addr` for IPERF_SECONDS, report in JSON. */
export const iperfClientArgs = (addr: string) => ['-c', addr, '-t', String(IPERF_SECONDS), '-J'];

/** The bits per second the receiver counted, from a client's JSON report. */
export function receivedBitsPerSecond(report: string): number {
  return (JSON.parse(report) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
    .bits_per_second;
}

/**
 * Bits per second that arrive at `toAddr` (in netns `to`) from netns `from` in one bounded iperf3 run,
 * as the receiver counts them.
 */
export async function throughput(from: string, to: string, toAddr: string, servers: ChildProcess[]): Promise<number> {
  await startIperfServer(to, toAddr, servers);
  const client = spawnSyncInNetns(from, 'iperf3', iperfClientArgs(toAddr), { timeout: RUN_TIMEOUT_MS });
  if (client.status !== 0) throw new Error(`iperf3 client failed: ${client.stdout}${client.stderr}`);
  return receivedBitsPerSecond(client.stdout);
}
