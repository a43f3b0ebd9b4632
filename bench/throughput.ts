import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnInNetns, spawnSyncInNetns } from '../base/exec.js';
import { NetlinkHandle } from '../netlink/index.js';
import { createNamedNetns, deleteNamedNetns } from '../netlink/netns.js';
import { Controller } from '../network/controller.js';
import type { Measurement } from './measure.js';

/** Addresses inside this benchmark's own namespaces only: the host's uplink, the outside client, the berth network. */
const HOST_IP = '198.51.100.1';
const OUTSIDE_IP = '198.51.100.2';
const UPLINK_PREFIX = 24;
const SUBNET = '10.97.0.0/24';
const SERVER_PORT = 5201;
/** A host port other than the container's, so that reaching the server through it proves the DNAT. */
const PUBLISHED_PORT = 15201;
const BASELINE_PORT = 5202;
const SERVER_START_TIMEOUT_MS = 5_000;
/** Past the test's own seconds: connecting, the JSON, and a slow 2-core machine. */
const CLIENT_SLACK_MS = 20_000;

/**
 * TCP throughput with iperf3 between an "outside" netns and a container on a
 * berth bridge network, one stream for `seconds` each way in:
 * (i) outside -> the container's address, routed by the host (no NAT);
 * (ii) outside -> the host's address : a published port (DNAT to the container);
 * and, for scale, the host's own address over the same veth with no bridge,
 * forwarding or NAT. The host is a throwaway netns (the network's bridge and
 * rules live there), linked to the outside netns by a veth; the container's
 * sandbox is made through the library's Controller. Servers are killed by PID
 * and every namespace is removed at the end, even on failure.
 *
 * Each row's rate column is Mbit/s (ops are megabits received); its text gives Gbit/s.
 */
export async function benchThroughput(seconds = 3): Promise<Measurement[]> {
  const tag = `bb-${process.pid}-tp`;
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-bench-tp-'));
  const made: string[] = [];
  const servers: ChildProcess[] = [];
  try {
    const hostNetns = createNamedNetns(`${tag}-host`);
    made.push(hostNetns);
    const outsideNetns = createNamedNetns(`${tag}-out`);
    made.push(outsideNetns);
    await linkOutside(hostNetns, outsideNetns);

    const ctl = await Controller.open({ stateDir, hostNetnsPath: hostNetns });
    const net = await ctl.createNetwork({ name: `${tag}-net`, subnet: SUBNET, bridgeName: `bbtp${process.pid}` });
    const sb = await ctl.createSandbox({ name: `${tag}-srv` });
    made.push(sb.netnsPath);
    const ep = await net.createEndpoint({ name: 'srv' });
    await ep.join(sb);
    const containerIP = ep.addresses[0]!.split('/')[0]!;
    await ep.publish([{ hostPort: PUBLISHED_PORT, containerPort: SERVER_PORT }]);

    servers.push(await startServer(sb.netnsPath, containerIP, SERVER_PORT));
    servers.push(await startServer(hostNetns, HOST_IP, BASELINE_PORT));
    const client = (what: string, address: string, port: number) => measure(what, outsideNetns, address, port, seconds);
    return [
      client(`outside -> container ${containerIP}:${SERVER_PORT} (routed, no NAT)`, containerIP, SERVER_PORT),
      client(`outside -> host ${HOST_IP}:${PUBLISHED_PORT} (published, DNAT)`, HOST_IP, PUBLISHED_PORT),
      client(`outside -> host ${HOST_IP}:${BASELINE_PORT} (veth only, baseline)`, HOST_IP, BASELINE_PORT),
    ];
  } finally {
    for (const s of servers) await stop(s);
    // The namespaces take the veths, the bridge and the rules with them; the library's records go with stateDir.
    for (const path of made.reverse()) deleteNamedNetns(path);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** A veth from the host netns to the outside one, addressed, with the outside's route to the container subnet. */
async function linkOutside(hostNetns: string, outsideNetns: string): Promise<void> {
  const host = NetlinkHandle.open(hostNetns);
  const outside = NetlinkHandle.open(outsideNetns);
  try {
    await host.setLinkUp('lo');
    await outside.setLinkUp('lo');
    await host.createVeth('uplink', 'eth0', { peerNetnsPath: outsideNetns });
    await host.addAddress('uplink', `${HOST_IP}/${UPLINK_PREFIX}`);
    await host.setLinkUp('uplink');
    await outside.addAddress('eth0', `${OUTSIDE_IP}/${UPLINK_PREFIX}`);
    await outside.setLinkUp('eth0');
    await outside.addRoute({ dst: SUBNET, gateway: HOST_IP });
  } finally {
    host.close();
    outside.close();
  }
}

/** An iperf3 server bound to address:port inside the netns, once it listens. */
export async function startServer(netnsPath: string, address: string, port: number): Promise<ChildProcess> {
  const server = spawnInNetns(netnsPath, 'iperf3', ['-s', '-B', address, '-p', String(port), '--forceflush'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`iperf3 server on ${address}:${port}: ${why}; it said: ${output.trim()}`));
    };
    const timer = setTimeout(() => fail(`not listening after ${SERVER_START_TIMEOUT_MS} ms`), SERVER_START_TIMEOUT_MS);
    const read = (d: Buffer) => {
      output += d.toString();
      if (output.includes('Server listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout!.on('data', read);
    server.stderr!.on('data', read);
    server.once('error', (e) => fail(e.message));
    server.once('exit', (code, signal) => fail(`exited (${code ?? signal})`));
  });
  // Its per-interval lines keep coming; a full pipe would stall it.
  server.stdout!.resume();
  server.stderr!.resume();
  return server;
}

/** Kills a server by its PID and waits (bounded) for it to be gone. */
export async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5_000);
    server.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  server.kill('SIGKILL');
  await gone;
}

/** One iperf3 client run from the outside netns; a failed or empty run throws rather than report a figure. */
export function measure(
  what: string,
  outsideNetns: string,
  address: string,
  port: number,
  seconds: number,
): Measurement {
  const argv = ['-c', address, '-p', String(port), '-t', String(seconds), '-J'];
  const r = spawnSyncInNetns(outsideNetns, 'iperf3', argv, {
    timeout: seconds * 1000 + CLIENT_SLACK_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  let report: IperfReport | undefined;
  try {
    report = JSON.parse(r.stdout) as IperfReport;
  } catch {
    report = undefined;
  }
  const received = report?.end?.sum_received;
  if (r.status !== 0 || report?.error || !received || !(received.bytes > 0)) {
    const why = report?.error ?? (r.error?.message || r.stderr.trim() || `exit ${r.status ?? r.signal}`);
    throw new Error(`iperf3 ${argv.join(' ')} from the outside netns failed: ${why}`);
  }
  const megabits = (received.bytes * 8) / 1e6;
  const gbps = received.bits_per_second / 1e9;
  return {
    what: `iperf3 ${seconds} s ${what}: ${gbps.toFixed(2)} Gbit/s`,
    ops: megabits,
    seconds: received.seconds,
  };
}

/** The part of `iperf3 -c -J` output read here. */
interface IperfReport {
  readonly error?: string;
  readonly end?: {
    readonly sum_received?: { readonly bytes: number; readonly seconds: number; readonly bits_per_second: number };
  };
}
