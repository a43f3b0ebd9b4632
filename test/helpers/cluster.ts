/**
 * A cluster of "hosts" for overlay tests: network namespaces on one LAN (a bridge in
 * a namespace of its own), and etcd, from Debian's etcd-server, started inside one
 * of the hosts on its LAN address with its data in a temp folder.
 *
 *   const lan = await makeLan(netns, 3);         // hosts[i]: { ns, address: '192.168.77.<i+1>', ... }
 *   const etcd = await startEtcd(lan.hosts[0]);  // etcd.url (over the LAN), etcd.socket (for this process)
 *   ...
 *   await etcd.stop();                           // by its PID; the temp folder goes too
 *
 * This process stays in the machine's own netns, which has no way onto the LAN: it
 * reaches etcd through a unix socket that etcd also listens on (sockets in the file
 * system are not bound to a netns). Processes started inside a host use the LAN URL.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnInNetns } from '../../base/exec.js';
import type { OverlayAgent } from '../../network/overlay/agent.js';
import type { TestNetns, TestNs } from './netns.js';

export interface LanHost {
  readonly ns: TestNs;
  /** The underlay address, on eth0. */
  readonly address: string;
  /** The node name. */
  readonly node: string;
}

export interface Lan {
  readonly ns: TestNs;
  readonly hosts: readonly LanHost[];
}

export const LAN_PREFIX = '192.168.77';

/** `count` host namespaces, each with eth0 (MTU 1500) on a bridge in a LAN namespace, addresses 192.168.77.1 and up. */
export async function makeLan(netns: TestNetns, count: number): Promise<Lan> {
  const lanNs = await netns.create('lan');
  const lan = netns.handle(lanNs);
  await lan.createBridge('lan0');
  await lan.setLinkUp('lan0');
  const hosts: LanHost[] = [];
  for (let i = 1; i <= count; i++) {
    const ns = await netns.create(`h${i}`);
    await lan.createVeth(`p${i}`, 'eth0', { peerNetnsPath: ns.path, mtu: 1500 });
    await lan.setMaster(`p${i}`, 'lan0');
    await lan.setLinkUp(`p${i}`);
    const h = netns.handle(ns);
    const address = `${LAN_PREFIX}.${i}`;
    await h.addAddress('eth0', `${address}/24`);
    await h.setLinkUp('eth0');
    hosts.push({ ns, address, node: `node${i}` });
  }
  return { ns: lanNs, hosts };
}

export interface Etcd {
  /** The client URL on the LAN, for processes inside the hosts. */
  readonly url: string;
  /** A client URL for this process: a unix socket. */
  readonly socket: string;
  readonly pid: number;
  /** Stops it by PID (SIGTERM, SIGKILL after 5 s) and removes its data; a second call does nothing. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export const etcdInstalled = existsSync('/usr/bin/etcd');

/** etcd in the host's namespace, on its address port 2379 and a unix socket; resolves when it serves. */
export async function startEtcd(host: LanHost): Promise<Etcd> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-etcd-'));
  const logPath = join(dir, 'etcd.log');
  const peer = `http://${host.address}:2380`;
  const url = `http://${host.address}:2379`;
  // etcd takes unix://host:port and makes the socket "host:port" in its working directory.
  const child: ChildProcess = spawnInNetns(
    host.ns.path,
    'sh',
    [
      '-c',
      'exec "$@" >etcd.log 2>&1',
      'etcd',
      '/usr/bin/etcd',
      '--name',
      host.node,
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      `${url},unix://etcd.sock:0`,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${host.node}=${peer}`,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const pid = child.pid!;
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exit.then(() => {
    exited = true;
  });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!readFileSafe(logPath).includes('ready to serve client requests')) {
    if (exited || Date.now() > deadline) {
      const log = readFileSafe(logPath);
      await stop();
      throw new Error(`etcd did not start within ${READY_TIMEOUT_MS} ms:\n${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, socket: `unix:${join(dir, 'etcd.sock:0')}`, pid, stop };
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Syncs every agent until each has programmed `count` other hosts, on `network` or, without it,
 * on all networks together; the time it took.
 */
export function meshed(
  agents: readonly Pick<OverlayAgent, 'syncNow' | 'status'>[],
  count: number,
  network?: string,
  timeoutMs = 10_000,
): Promise<number> {
  const programmed = (a: Pick<OverlayAgent, 'status'>) => {
    const { remotes } = a.status();
    return (network === undefined ? Object.values(remotes).flat() : (remotes[network] ?? [])).length;
  };
  return waitFor(
    `each of ${agents.length} hosts programmed for ${count} other(s)`,
    async () => {
      for (const a of agents) await a.syncNow();
      return agents.every((a) => programmed(a) === count);
    },
    timeoutMs,
  );
}

/** Waits until check() returns true, checking every 50 ms, for at most timeoutMs; throws naming what it waited for. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
