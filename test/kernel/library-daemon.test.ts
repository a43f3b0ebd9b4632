/**
 * The library through the berth daemon (daemon/client.ts), as an orchestrator would use it: a client
 * whose first call starts the daemon in the netns that plays the host, a network and two sandboxes
 * made through it with real traffic between them, the same BerthErrors as in-process, a SIGKILLed
 * daemon replaced by the next call that finds everything by the records, and all of it removed.
 *
 * The daemon runs from a plain copy of dist/cni (its own folder, so its own daemon) and is stopped by PID.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { connectDaemon, DaemonClient, type DaemonClientOptions } from '../../daemon/client.js';
import { prepareRunDir } from '../../daemon/instance.js';
import { RUN_DIR } from '../../daemon/paths.js';
import { encodeGreeting } from '../../daemon/protocol.js';
import { deleteNamedNetns, NETNS_DIR, netnsExists } from '../../netlink/netns.js';
import { Controller } from '../../network/controller.js';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import { NamesStore } from '../../network/names/store.js';
import { DIST_CNI } from '../helpers/cni.js';
import { runningDaemons, stopDaemons, waitForDaemon } from '../helpers/daemon.js';
import { getent } from '../helpers/names.js';
import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';

const NET = 'bt-libd';
const BRIDGE = 'btlibd0';
const SUBNET = '10.77.0.0/24';
const EXEC_TIMEOUT_MS = 15_000;

function ipJson<T>(netnsName: string, args: readonly string[]): T {
  return JSON.parse(
    execFileSync('ip', ['-n', netnsName, '-j', ...args], { encoding: 'utf8', timeout: EXEC_TIMEOUT_MS }) || '[]',
  ) as T;
}

/** One ICMP echo, one second to answer; two tries for the first ARP. */
function ping(netnsName: string, address: string): boolean {
  for (let i = 0; i < 2; i++) {
    const r = spawnSync('ip', ['netns', 'exec', netnsName, 'ping', '-n', '-q', '-c1', '-W1', address], {
      timeout: EXEC_TIMEOUT_MS,
    });
    if (r.status === 0) return true;
  }
  return false;
}

/** What a promise rejects with, as a BerthError's code, message and fix. */
async function rejection(p: Promise<unknown>): Promise<{ code: number; msg: string; details: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    const { code, msg, details } = e as BerthError;
    return { code, msg, details };
  }
  throw new Error('expected a rejection, the promise resolved');
}

async function eventually(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(notRoot)(kernelSuite('the library through the berth daemon'), () => {
  const netns = new TestNetns();
  let temp: string;
  let dir: string;
  const sandboxes = [`bt-${process.pid}-ld-a`, `bt-${process.pid}-ld-b`];

  beforeAll(() => {
    TestNetns.removeStale();
    temp = mkdtempSync(join(tmpdir(), 'berth-library-daemon-'));
    cpSync(DIST_CNI, join(temp, 'cni'), { recursive: true });
    dir = realpathSync(join(temp, 'cni'));
  });
  afterEach(() => {
    stopDaemons({ pluginDir: dir });
    for (const name of sandboxes) if (netnsExists(join(NETNS_DIR, name))) deleteNamedNetns(name);
    netns.cleanup();
  });
  afterAll(() => {
    if (dir) stopDaemons({ pluginDir: dir });
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  it('networks, sandboxes and endpoints through the daemon: traffic flows, errors match, a killed daemon is replaced', async () => {
    const host = await netns.create('host');
    const stateDir = join(temp, 'state');
    const options: DaemonClientOptions = {
      pluginDir: dir,
      stateDir,
      hostNetnsPath: host.path,
      netnsDir: NETNS_DIR,
      etcNetnsDir: join(temp, 'etc-netns'),
      firewallBackend: 'nftables',
    };
    expect(runningDaemons({ pluginDir: dir })).toEqual([]);
    // Of several callers that find no daemon at once, one starts it: in the host netns, its socket root's only.
    const client = (await Promise.all(Array.from({ length: 4 }, () => connectDaemon(options))))[0]!;
    const first = await waitForDaemon(host.path, dir);
    expect(runningDaemons({ pluginDir: dir }).map((d) => d.pid)).toEqual([first.pid]);
    expect(client.socket).toBe(first.socket);
    const mode = () => statSync(first.socket).mode & 0o777;
    expect(mode()).toBe(0o600);

    const net = await client.createNetwork({ name: NET, subnet: SUBNET, bridgeName: BRIDGE });
    expect(net).toMatchObject({
      name: NET,
      driver: 'bridge',
      bridge: BRIDGE,
      subnets: [{ subnet: SUBNET, gateway: '10.77.0.1' }],
    });
    const [a, b] = sandboxes as [string, string];
    const sa = await client.createSandbox({
      name: a,
      dns: { nameservers: ['192.0.2.53'] },
      hosts: [{ address: '192.0.2.7', names: ['db'] }],
    });
    expect(sa).toMatchObject({ name: a, mode: 'none', netns: join(NETNS_DIR, a), endpoints: [] });
    expect(readFileSync(join(temp, 'etc-netns', a, 'resolv.conf'), 'utf8')).toMatch(/^nameserver 192\.0\.2\.53$/m);
    expect(readFileSync(join(temp, 'etc-netns', a, 'hosts'), 'utf8')).toMatch(/^192\.0\.2\.7\s+db$/m);
    await client.createSandbox({ name: b });
    await client.createEndpoint(NET, { name: 'ea' });
    await client.createEndpoint(NET, { name: 'eb', aliases: ['bee'] });
    const ea = await client.join(NET, 'ea', a);
    const eb = await client.join(NET, 'eb', b, { ifname: 'eth1' });
    expect(ea).toMatchObject({ network: NET, name: 'ea', sandbox: a, ifname: 'eth0', addresses: ['10.77.0.2/24'] });
    expect(eb).toMatchObject({ sandbox: b, ifname: 'eth1', addresses: ['10.77.0.3/24'] });

    // The kernel has what the views say: the bridge in the host netns, the addresses in the sandboxes.
    expect(ipJson<{ ifname: string }[]>(host.name, ['link', 'show', BRIDGE])).toHaveLength(1);
    const addr = (ns: string, ifname: string) =>
      ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(ns, [
        '-4',
        'addr',
        'show',
        ifname,
      ])[0]!.addr_info.map((i) => `${i.local}/${i.prefixlen}`);
    expect(addr(a, 'eth0')).toEqual(ea.addresses);
    expect(addr(b, 'eth1')).toEqual(eb.addresses);
    expect(ping(a, '10.77.0.3')).toBe(true);
    expect(ping(b, '10.77.0.2')).toBe(true);
    expect(await client.publish(NET, 'eb', [{ hostPort: 18080, containerPort: 80 }])).toMatchObject([
      { protocol: 'tcp', hostPort: 18080, containerPort: 80 },
    ]);

    // A bad request comes back as the BerthError the same operation throws in-process.
    const ctl = await Controller.open(options);
    const inProcess = async (fn: () => unknown) => rejection((async () => fn())());
    expect(await rejection(client.network('nope'))).toEqual(await inProcess(() => ctl.network('nope')));
    expect((await rejection(client.network('nope'))).code).toBe(ErrorCode.UnknownContainer);
    const taken = await rejection(client.createSandbox({ name: a }));
    expect(taken).toEqual(await inProcess(() => ctl.createSandbox({ name: a })));
    expect(taken.msg).toBe(`a sandbox named "${a}" already exists`);
    expect(await rejection(client.createEndpoint(NET, { name: 'ea' }))).toEqual(
      await inProcess(() => ctl.network(NET).createEndpoint({ name: 'ea' })),
    );
    expect(await rejection(client.deleteNetwork(NET))).toMatchObject({
      code: ErrorCode.InvalidConfig,
      msg: `network ${NET} still has 2 endpoint(s): ea, eb`,
    });
    expect(await rejection(client.call('frobnicate'))).toMatchObject({
      code: ErrorCode.IncompatibleVersion,
      msg: 'the berth daemon has no library method "frobnicate"',
    });
    await ctl.close();

    // Killed at once, the daemon leaves its socket behind; the next call starts a new one, which
    // finds everything by the records.
    process.kill(first.pid, 'SIGKILL');
    await eventually('the daemon is gone', () => !runningDaemons({ pluginDir: dir }).some((d) => d.pid === first.pid));
    const views = await client.sandboxes();
    const second = await waitForDaemon(host.path, dir);
    expect(second.pid).not.toBe(first.pid);
    expect(mode()).toBe(0o600);
    expect(views.map((s) => [s.name, s.endpoints.map((e) => e.addresses)])).toEqual([
      [a, [['10.77.0.2/24']]],
      [b, [['10.77.0.3/24']]],
    ]);
    expect((await client.endpoint(NET, 'eb')).hostVeth).toBe(eb.hostVeth);
    expect(ping(a, '10.77.0.3')).toBe(true);

    // Everything goes through the new daemon, and is gone from the kernel and the records.
    await client.unpublish(NET, 'eb');
    expect((await client.leave(NET, 'ea', a)).sandbox).toBeNull();
    await client.deleteEndpoint(NET, 'ea');
    await client.deleteEndpoint(NET, 'eb');
    expect(await client.endpoints(NET)).toEqual([]);
    for (const name of sandboxes) await client.destroySandbox(name);
    await client.deleteNetwork(NET);
    expect(await client.networks()).toEqual([]);
    expect(await client.sandboxes()).toEqual([]);
    for (const name of sandboxes) expect(netnsExists(join(NETNS_DIR, name))).toBe(false);
    expect(ipJson<{ ifname: string }[]>(host.name, ['link', 'show']).map((l) => l.ifname)).toEqual(['lo']);
    for (const kind of ['networks', 'sandboxes', 'endpoints']) {
      expect(readdirSync(join(stateDir, kind))).toEqual([]);
    }
    expect(runningDaemons({ pluginDir: dir }).map((d) => d.pid)).toEqual([second.pid]);
  });

  it('names through the daemon: sandboxes on a network with names find each other by getent; the name service goes with the network', async () => {
    const host = await netns.create('host');
    const stateDir = join(temp, 'state-names');
    const etcNetnsDir = join(temp, 'etc-netns-names');
    // No upstreams: the daemon's name service never forwards to the machine's resolvers.
    const resolvConf = join(temp, 'no-upstream-resolv.conf');
    writeFileSync(resolvConf, '');
    const options: DaemonClientOptions = {
      pluginDir: dir,
      stateDir,
      hostNetnsPath: host.path,
      netnsDir: NETNS_DIR,
      etcNetnsDir,
      firewallBackend: 'nftables',
    };
    const saved = process.env.BERTH_RESOLV_CONF;
    process.env.BERTH_RESOLV_CONF = resolvConf;
    let client: DaemonClient;
    try {
      client = await connectDaemon(options);
    } finally {
      if (saved === undefined) delete process.env.BERTH_RESOLV_CONF;
      else process.env.BERTH_RESOLV_CONF = saved;
    }
    const daemon = await waitForDaemon(host.path, dir);
    try {
      const net = await client.createNetwork({
        name: NET,
        subnet: SUBNET,
        bridgeName: BRIDGE,
        dns: { domain: 'libd.berth' },
      });
      expect(net.dns).toEqual({ domain: 'libd.berth', records: [] });
      const [a, b] = sandboxes as [string, string];
      for (const [sb, aliases] of [
        [a, []],
        [b, ['bee']],
      ] as const) {
        await client.createSandbox({ name: sb });
        await client.createEndpoint(NET, { name: sb, aliases: [...aliases] });
        await client.join(NET, sb, sb);
      }
      expect(readFileSync(join(etcNetnsDir, a, 'resolv.conf'), 'utf8')).toMatch(/^nameserver 10\.77\.0\.1$/m);
      const records = (await client.network(NET)).dns?.records ?? [];
      expect(records.map((r) => `${r.names.join(' ')}: ${r.addresses.join(' ')}`).sort()).toEqual([
        `${a}: 10.77.0.2`,
        `${b} bee: 10.77.0.3`,
      ]);

      // The daemon hosts the service (the host netns it was given is its own): no process of its own.
      expect(runningService(serviceFiles(stateDir))).toBe(daemon.pid);

      const ctl = await Controller.open({ stateDir, hostNetnsPath: host.path, netnsDir: NETNS_DIR, etcNetnsDir });
      expect(await getent(ctl.sandbox(a), b)).toEqual(['10.77.0.3']);
      expect(await getent(ctl.sandbox(b), a)).toEqual(['10.77.0.2']);
      expect(await getent(ctl.sandbox(a), 'bee.libd.berth')).toEqual(['10.77.0.3']);
      expect(await getent(ctl.sandbox(a), 'nothing-here')).toBeNull();
      await ctl.close();

      for (const sb of sandboxes) await client.deleteEndpoint(NET, sb);
      for (const sb of sandboxes) await client.destroySandbox(sb);
      await client.deleteNetwork(NET);
      expect(NamesStore.in(stateDir).networks()).toEqual([]);
      // The service goes with the daemon that hosts it.
      expect(stopDaemons({ pluginDir: dir })).toEqual([daemon.pid]);
      expect(runningService(serviceFiles(stateDir))).toBeUndefined();
    } finally {
      const servicePid = runningService(serviceFiles(stateDir));
      if (servicePid !== undefined && servicePid !== daemon.pid) process.kill(servicePid, 'SIGKILL');
    }
  });

  it('a daemon gone after its greeting: code 11 naming its socket, not repeated; gone before it: no call made, a daemon started', async () => {
    const host = await netns.create('host');
    const client = new DaemonClient({ pluginDir: dir, hostNetnsPath: host.path, stateDir: join(temp, 'state-fake') });
    prepareRunDir(RUN_DIR);
    let requests = 0;
    const listen = (serve: (socket: Socket) => void) => {
      const server = createServer(serve);
      return new Promise<typeof server>((resolve) => server.listen(client.socket, () => resolve(server)));
    };
    const lost = await listen((socket) => {
      socket.write(encodeGreeting());
      socket.on('data', () => {
        requests++;
        socket.destroy();
      });
    });
    try {
      expect(await rejection(client.networks())).toMatchObject({
        code: ErrorCode.TryAgainLater,
        msg: `the berth daemon at ${client.socket} ended the connection before its answer`,
      });
      expect(requests).toBe(1);
      expect(runningDaemons({ pluginDir: dir })).toEqual([]);
    } finally {
      await new Promise((resolve) => lost.close(resolve));
    }

    const closing = await listen((socket) => {
      closing.close();
      socket.destroy();
    });
    expect(await client.networks()).toEqual([]);
    expect(requests).toBe(1);
    expect((await waitForDaemon(host.path, dir)).socket).toBe(client.socket);
  });
});
