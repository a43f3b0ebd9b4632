/**
 * The network core against the kernel: Controller, Network, Endpoint and
 * Sandbox over real namespaces, bridges, veths and nftables. Every test gets a
 * throwaway netns that plays the host (bridges and rules land there, never in
 * the machine's own netns) and a temp stateDir; sandboxes' namespaces are made
 * under /run/netns with names bt-<pid>-c<n>-..., and all of it is removed in
 * afterEach, also after a failure.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { binding } from '../../base/binding.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { spawnInNetns, spawnSyncInNetns } from '../../base/exec.js';
import { NetlinkError } from '../../netlink/errors.js';
import { NetlinkHandle } from '../../netlink/handle.js';
import { deleteNamedNetns, NETNS_DIR, netnsExists } from '../../netlink/netns.js';
import { Controller } from '../../network/controller.js';
import { NetworkFirewall } from '../../network/firewall.js';
import { Allocator } from '../../network/ipam/allocator.js';
import type { Network } from '../../network/network.js';
import type { Sandbox } from '../../network/sandbox.js';
import { StateStore } from '../../network/state.js';
import type { IpAddr, IpLink, IpRoute } from '../helpers/ip-json.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';
import { killAll } from '../helpers/servers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'network', 'ipam', 'testdata', 'host-local', 'hostnet');
const RUN_TIMEOUT_MS = 15_000;

let seq = 0;
/** A name under this run's prefix, so TestNetns.removeStale() finds what a killed run left. */
const unique = (label: string) => `bt-${process.pid}-c${++seq}-${label}`;

function run(argv: readonly string[], timeout = RUN_TIMEOUT_MS) {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

function ipJson<T>(netnsName: string, args: readonly string[]): T {
  const r = run(['ip', '-n', netnsName, '-j', ...args]);
  if (r.status !== 0) throw new Error(`ip -n ${netnsName} -j ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T;
}

const linkNames = (netnsName: string) =>
  ipJson<IpLink[]>(netnsName, ['link', 'show'])
    .map((l) => l.ifname)
    .sort();

/** One ICMP echo, one second to answer; a positive check gets a second try for the first ARP. */
function ping(netnsName: string, address: string, tries = 1): boolean {
  for (let i = 0; i < tries; i++) {
    if (run(['ip', 'netns', 'exec', netnsName, 'ping', '-n', '-q', '-c1', '-W1', address]).status === 0) return true;
  }
  return false;
}

function nftRuleset(netnsName: string): unknown[] {
  const r = run(['ip', 'netns', 'exec', netnsName, 'nft', '-j', 'list', 'ruleset']);
  if (r.status !== 0) throw new Error(`nft -j list ruleset in ${netnsName}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { nftables: unknown[] }).nftables;
}

/** The set of berth's table in the ruleset, as JSON text, or '' when there is no such set. */
function nftSet(ruleset: unknown[], name: string): string {
  const found = ruleset.find((o) => {
    const set = (o as { set?: { table: string; name: string } }).set;
    return set?.table === 'berth' && set.name === name;
  });
  return found ? JSON.stringify(found) : '';
}

/** The addresses reserved in the network's IPAM folder (stateDir/ipam/<network>/<ip>). */
function reservations(stateDir: string, network: string): string[] {
  const dir = join(stateDir, 'ipam', network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => isIP(f) !== 0)
    .sort();
}

/** Resolves with what a promise rejects with, or fails the test. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected a rejection, the promise resolved');
}

/** Polls a condition the kernel reaches asynchronously (netns teardown), bounded in time. */
async function eventually(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function waitForLine(child: ChildProcess, line: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no "${line}" within ${timeoutMs} ms; got ${seen}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before "${line}"; got ${seen}`));
    });
  });
}

// A TCP server that tells each client the address it sees it from; bounded life.
const PEER_SERVER = `
const net = require('node:net');
const server = net.createServer((s) => s.end(s.remoteAddress + '\\n'));
server.listen(Number(process.argv[2]), process.argv[1], () => process.stdout.write('listening\\n'));
setTimeout(() => process.exit(0), 30000);
`;
const PEER_CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 3000 });
let out = '';
s.on('data', (c) => (out += c));
s.on('end', () => process.stdout.write(out));
s.on('timeout', () => s.destroy(new Error('timed out')));
s.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });
`;

describe.skipIf(notRoot)(kernelSuite('network core (Controller) in throwaway namespaces'), () => {
  const netns = new TestNetns();
  const sandboxNetns: string[] = [];
  const tempDirs: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => TestNetns.removeStale());

  afterEach(() => {
    vi.restoreAllMocks();
    killAll(children);
    for (const name of sandboxNetns.splice(0)) deleteNamedNetns(name);
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    netns.cleanup();
  });

  interface Env {
    readonly ctl: Controller;
    readonly host: TestNs;
    readonly hostHandle: NetlinkHandle;
    readonly stateDir: string;
  }

  function tempDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `berth-${label}-`));
    tempDirs.push(dir);
    return dir;
  }

  async function env(): Promise<Env> {
    const { ns: host, dir, stateDir } = await netns.host();
    const ctl = await Controller.open({
      stateDir,
      hostNetnsPath: host.path,
      netnsDir: NETNS_DIR,
      etcNetnsDir: join(dir, 'etc-netns'),
      firewallBackend: 'nftables',
    });
    return { ctl, host, hostHandle: netns.handle(host), stateDir };
  }

  /** A sandbox name whose netns afterEach removes whatever the test did. */
  function sandboxName(label: string): string {
    const name = unique(label);
    sandboxNetns.push(name);
    return name;
  }

  const newSandbox = (
    ctl: Controller,
    label: string,
    options: { mode?: 'none' | 'host' | 'container'; shareWith?: string } = {},
  ) => ctl.createSandbox({ name: sandboxName(label), ...options });

  /** The host netns's links that are veths (the host ends berth made). */
  const hostVeths = (e: Env) =>
    ipJson<IpLink[]>(e.host.name, ['link', 'show', 'type', 'veth'])
      .map((l) => l.ifname)
      .sort();

  async function joined(net: Network, sb: Sandbox, endpoint: string, ifname = 'eth0') {
    const ep = await net.createEndpoint({ name: endpoint });
    await ep.join(sb, { ifname });
    return ep;
  }

  it('puts two sandboxes on a bridge network that reach each other and the gateway', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'front', subnet: '10.91.0.0/24' });
    const a = await newSandbox(e.ctl, 'a');
    const b = await newSandbox(e.ctl, 'b');
    const ea = await joined(net, a, 'ea');
    const eb = await joined(net, b, 'eb');

    expect(a.netnsPath).toBe(join(NETNS_DIR, a.name));
    expect(ea.addresses).toEqual(['10.91.0.2/24']);
    expect(eb.addresses).toEqual(['10.91.0.3/24']);
    expect(ea.sandbox).toBe(a.name);

    for (const [sb, ep] of [
      [a, ea],
      [b, eb],
    ] as const) {
      expect(linkNames(sb.name)).toEqual(['eth0', 'lo']);
      const [eth0] = ipJson<IpLink[]>(sb.name, ['link', 'show', 'eth0']);
      expect(eth0!.flags).toContain('UP');
      expect(eth0!.mtu).toBe(1500);
      expect(eth0!.address).toBe(ep.record.join!.mac);
      const [addr] = ipJson<IpAddr[]>(sb.name, ['-4', 'addr', 'show', 'dev', 'eth0']);
      expect(addr!.addr_info.map((i) => `${i.local}/${i.prefixlen}`)).toEqual(ep.addresses);
      const routes = ipJson<IpRoute[]>(sb.name, ['-4', 'route', 'show', 'default']);
      expect(routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev }))).toEqual([
        { dst: 'default', gateway: '10.91.0.1', dev: 'eth0' },
      ]);
    }

    // The host side: the bridge holds the gateway, each host veth is a port of it.
    const [bridge] = ipJson<IpLink[]>(e.host.name, ['-d', 'link', 'show', 'berth-front']);
    expect(bridge!.linkinfo?.info_kind).toBe('bridge');
    expect(bridge!.flags).toContain('UP');
    const [bridgeAddr] = ipJson<IpAddr[]>(e.host.name, ['-4', 'addr', 'show', 'dev', 'berth-front']);
    expect(bridgeAddr!.addr_info.map((i) => `${i.local}/${i.prefixlen}`)).toEqual(['10.91.0.1/24']);
    const ports = ipJson<IpLink[]>(e.host.name, ['link', 'show', 'master', 'berth-front']);
    expect(ports.map((p) => p.ifname).sort()).toEqual([ea.record.join!.hostVeth, eb.record.join!.hostVeth].sort());
    for (const p of ports) expect(p.flags).toContain('UP');

    expect(ping(a.name, '10.91.0.3', 2)).toBe(true);
    expect(ping(b.name, '10.91.0.2', 2)).toBe(true);
    expect(ping(a.name, '10.91.0.1', 2)).toBe(true);
    expect(ping(b.name, '10.91.0.1', 2)).toBe(true);

    expect(e.ctl.networks().map((n) => n.name)).toEqual(['front']);
    expect(
      e.ctl
        .sandboxes()
        .map((s) => s.name)
        .sort(),
    ).toEqual([a.name, b.name].sort());
    expect(
      net
        .endpoints()
        .map((x) => x.name)
        .sort(),
    ).toEqual(['ea', 'eb']);
    expect(a.endpoints().map((x) => x.name)).toEqual(['ea']);
    const inspected = e.ctl.network('front');
    expect(inspected.record.subnets).toEqual([{ subnet: '10.91.0.0/24', gateway: '10.91.0.1', prefixLength: 24 }]);
    expect(inspected.record.bridgeName).toBe('berth-front');
    expect(e.ctl.sandbox(b.name).netnsPath).toBe(b.netnsPath);
    const again = inspected.endpoint('eb');
    expect(again.addresses).toEqual(eb.addresses);
    expect(again.sandbox).toBe(b.name);
    expect(reservations(e.stateDir, 'front')).toEqual(['10.91.0.2', '10.91.0.3']);

    // Teardown through the model leaves the host with lo alone.
    await a.destroy();
    await b.destroy();
    await ea.delete();
    await eb.delete();
    await net.delete();
    expect(linkNames(e.host.name)).toEqual(['lo']);
    expect(netnsExists(a.netnsPath)).toBe(false);
    expect(reservations(e.stateDir, 'front')).toEqual([]);
    expect(e.ctl.networks()).toEqual([]);
    expect(e.ctl.sandboxes()).toEqual([]);
  });

  it('masquerades traffic leaving the subnet, and does not when masquerade is false', async () => {
    const e = await env();
    // An "outside" host on a TEST-NET-1 link to the host netns; both ends are ours.
    const outside = await netns.create('out');
    const out = netns.handle(outside);
    await e.hostHandle.createVeth('uplink', 'eth0', { peerNetnsPath: outside.path });
    await e.hostHandle.addAddress('uplink', '192.0.2.1/24');
    await e.hostHandle.setLinkUp('uplink');
    await out.addAddress('eth0', '192.0.2.2/24');
    await out.setLinkUp('eth0');
    // The outside knows the way back, so without masquerade the container's own address gets an answer too.
    await out.addRoute({ dst: '10.92.0.0/16', gateway: '192.0.2.1', dev: 'eth0' });

    const masq = await e.ctl.createNetwork({ name: 'masq', subnet: '10.92.1.0/24' });
    const plain = await e.ctl.createNetwork({ name: 'plain', subnet: '10.92.2.0/24', masquerade: false });
    const m = await newSandbox(e.ctl, 'm');
    const p = await newSandbox(e.ctl, 'p');
    await joined(masq, m, 'em');
    const ep = await joined(plain, p, 'ep');

    const ruleset = nftRuleset(e.host.name);
    const masqnet = nftSet(ruleset, 'masqnet4');
    expect(masqnet).toContain('10.92.1.0');
    expect(masqnet).not.toContain('10.92.2.0');
    const bridges = nftSet(ruleset, 'bridges');
    expect(bridges).toContain('berth-masq');
    expect(bridges).toContain('berth-plain');

    const server = spawnInNetns(outside.path, process.execPath, ['-e', PEER_SERVER, '192.0.2.2', '8099'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(server);
    await waitForLine(server, 'listening', 10_000);

    const ask = (sb: Sandbox) => {
      const r = spawnSyncInNetns(sb.netnsPath, process.execPath, ['-e', PEER_CLIENT, '192.0.2.2', '8099'], {
        timeout: RUN_TIMEOUT_MS,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return r.stdout.trim();
    };
    expect(ask(m)).toBe('192.0.2.1');
    expect(ask(p)).toBe(ep.addresses[0]!.split('/')[0]);
  });

  it('isolates bridge networks from each other by default, and routes between them with isolate: false', async () => {
    const e = await env();
    const n1 = await e.ctl.createNetwork({ name: 'iso1', subnet: '10.93.1.0/24' });
    const n2 = await e.ctl.createNetwork({ name: 'iso2', subnet: '10.93.2.0/24' });
    const a = await newSandbox(e.ctl, 'a');
    const b = await newSandbox(e.ctl, 'b');
    await joined(n1, a, 'ea');
    await joined(n2, b, 'eb');
    // Each reaches its own gateway: what fails below is isolation, not the link.
    expect(ping(a.name, '10.93.1.1', 2)).toBe(true);
    expect(ping(b.name, '10.93.2.1', 2)).toBe(true);
    expect(ping(a.name, '10.93.2.2')).toBe(false);
    expect(ping(b.name, '10.93.1.2')).toBe(false);
    const isolated = nftSet(nftRuleset(e.host.name), 'isolated');
    expect(isolated).toContain('berth-iso1');
    expect(isolated).toContain('berth-iso2');

    const n3 = await e.ctl.createNetwork({ name: 'open3', subnet: '10.93.3.0/24', isolate: false });
    const n4 = await e.ctl.createNetwork({ name: 'open4', subnet: '10.93.4.0/24', isolate: false });
    const c = await newSandbox(e.ctl, 'c');
    const d = await newSandbox(e.ctl, 'd');
    await joined(n3, c, 'ec');
    await joined(n4, d, 'ed');
    expect(ping(c.name, '10.93.4.2', 2)).toBe(true);
    expect(ping(d.name, '10.93.3.2', 2)).toBe(true);
    expect(nftSet(nftRuleset(e.host.name), 'isolated')).not.toContain('berth-open3');
    // Opening two networks does not open the isolated ones.
    expect(ping(a.name, '10.93.2.2')).toBe(false);
  });

  it('none mode: a netns with only lo, up', async () => {
    const e = await env();
    const sb = await newSandbox(e.ctl, 'none');
    expect(sb.mode).toBe('none');
    expect(netnsExists(sb.netnsPath)).toBe(true);
    const links = ipJson<IpLink[]>(sb.name, ['link', 'show']);
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    expect(links[0]!.flags).toContain('UP');
    expect(ping(sb.name, '127.0.0.1')).toBe(true);
    await sb.destroy();
    expect(netnsExists(sb.netnsPath)).toBe(false);
    expect(existsSync(sb.netnsPath)).toBe(false);
  });

  it('host mode: the sandbox is the host netns, and joining a host network creates nothing', async () => {
    const e = await env();
    const before = ipJson<IpLink[]>(e.host.name, ['link', 'show']);
    const hostNet = await e.ctl.createNetwork({ name: 'hostnet', driver: 'host' });
    const sb = await newSandbox(e.ctl, 'host', { mode: 'host' });
    expect(sb.netnsPath).toBe(e.host.path);
    const ep = await joined(hostNet, sb, 'eh');
    expect(ep.sandbox).toBe(sb.name);
    expect(ep.addresses).toEqual([]);
    expect(ipJson<IpLink[]>(e.host.name, ['link', 'show'])).toEqual(before);
    expect(reservations(e.stateDir, 'hostnet')).toEqual([]);

    // A host-mode sandbox has no interface of its own to put on a bridge.
    const bridged = await e.ctl.createNetwork({ name: 'br', subnet: '10.94.0.0/24' });
    const other = await bridged.createEndpoint({ name: 'ex' });
    const err = await rejection(other.join(sb));
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toContain(sb.name);

    await sb.destroy();
    expect(netnsExists(e.host.path)).toBe(true);
    expect(hostNet.endpoint('eh').sandbox).toBeUndefined();
    expect(ipJson<IpLink[]>(e.host.name, ['link', 'show']).filter((l) => l.ifname !== 'berth-br')).toEqual(before);
  });

  it('container mode shares the netns; it lives until the last sandbox using it is destroyed', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'shared', subnet: '10.94.1.0/24' });
    const c1 = await newSandbox(e.ctl, 'c1');
    await joined(net, c1, 'e1');
    const c2 = await newSandbox(e.ctl, 'c2', { mode: 'container', shareWith: c1.name });
    expect(c2.mode).toBe('container');
    expect(c2.netnsPath).toBe(c1.netnsPath);
    // A process in c2 sees c1's interface.
    const r = spawnSyncInNetns(c2.netnsPath, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0'], { timeout: RUN_TIMEOUT_MS });
    expect(r.status).toBe(0);
    expect(JSON.stringify(JSON.parse(r.stdout))).toContain('10.94.1.2');

    await c1.destroy();
    expect(netnsExists(c1.netnsPath)).toBe(true);
    // c2 keeps the network stack it shares: interface, address and the way out.
    expect(linkNames(c1.name)).toEqual(['eth0', 'lo']);
    expect(ping(c1.name, '10.94.1.1', 2)).toBe(true);
    expect(e.ctl.sandboxes().map((s) => s.name)).toEqual([c2.name]);

    await c2.destroy();
    expect(netnsExists(c1.netnsPath)).toBe(false);
    expect(e.ctl.sandboxes()).toEqual([]);
    expect(net.endpoint('e1').sandbox).toBeUndefined();
    expect(reservations(e.stateDir, 'shared')).toEqual([]);
    expect(hostVeths(e)).toEqual([]);
  });

  interface Ctx {
    readonly sandboxPath: string;
    readonly bridge: string;
  }
  type When = (self: unknown, args: readonly unknown[], ctx: Ctx) => boolean;
  interface Step {
    readonly step: string;
    readonly target: object;
    readonly method: string;
    readonly when: When;
    /** Whether the method is synchronous (throws) rather than async (rejects). */
    readonly sync?: boolean;
  }
  const always: When = () => true;
  const netnsOf = (self: unknown) => (self as NetlinkHandle).netnsPath;
  const proto = NetlinkHandle.prototype;

  /** Makes the step's method fail once, at its first call that `when` picks; returns the error and a call count. */
  function inject({ target, method, when, sync }: Step, ctx: Ctx): { error: Error; fired: () => number } {
    const error = new NetlinkError(5, `injected failure in ${method}`);
    const t = target as Record<string, (...args: unknown[]) => unknown>;
    const original = t[method]!;
    let fired = 0;
    vi.spyOn(t, method).mockImplementation(function (this: unknown, ...args: unknown[]) {
      if (fired === 0 && when(this, args, ctx)) {
        fired++;
        if (sync) throw error;
        return Promise.reject(error);
      }
      return original.apply(this, args);
    });
    return { error, fired: () => fired };
  }

  describe('a failure at any step of join leaves nothing behind', () => {
    const steps: Step[] = [
      { step: 'IPAM allocation', target: Allocator.prototype, method: 'allocate', when: always },
      { step: 'bridge lookup', target: proto, method: 'getLink', when: (_s, a, c) => a[0] === c.bridge },
      { step: 'veth creation', target: proto, method: 'createVeth', when: always },
      { step: 'attaching to the bridge', target: proto, method: 'setMaster', when: always },
      { step: 'hairpin on the bridge port', target: proto, method: 'setBridgePort', when: always },
      {
        step: 'host veth up',
        target: proto,
        method: 'setLinkUp',
        when: (s, a, c) => netnsOf(s) !== c.sandboxPath && String(a[0]).startsWith('veth'),
      },
      {
        step: 'host veth lookup',
        target: proto,
        method: 'getLink',
        when: (s, a, c) => netnsOf(s) !== c.sandboxPath && String(a[0]).startsWith('veth'),
      },
      {
        step: 'opening the sandbox netns',
        target: NetlinkHandle,
        method: 'open',
        when: (_s, a, c) => a[0] === c.sandboxPath,
        sync: true,
      },
      {
        step: 'lo up in the sandbox',
        target: proto,
        method: 'setLinkUp',
        when: (s, a, c) => netnsOf(s) === c.sandboxPath && a[0] === 'lo',
      },
      { step: 'address in the sandbox', target: proto, method: 'addAddress', when: always },
      {
        step: 'eth0 up in the sandbox',
        target: proto,
        method: 'setLinkUp',
        when: (s, a, c) => netnsOf(s) === c.sandboxPath && a[0] === 'eth0',
      },
      { step: 'default route', target: proto, method: 'addRoute', when: always },
      {
        step: 'eth0 lookup in the sandbox',
        target: proto,
        method: 'getLink',
        when: (s, a, c) => netnsOf(s) === c.sandboxPath && a[0] === 'eth0',
      },
      {
        step: 'writing the endpoint record',
        target: StateStore.prototype,
        method: 'writeAsync',
        when: (_s, a) => a[0] === 'endpoints' && (a[2] as { join?: unknown }).join !== undefined,
      },
    ];

    it.each(steps)('fails at $step', async (step) => {
      const e = await env();
      const net = await e.ctl.createNetwork({ name: 'tx', subnet: '10.95.0.0/24' });
      const sb = await newSandbox(e.ctl, 'tx');
      const ep = await net.createEndpoint({ name: 'ep' });
      const hostLinks = linkNames(e.host.name);

      const { error, fired } = inject(step, { sandboxPath: sb.netnsPath, bridge: net.record.bridgeName });
      const err = await rejection(ep.join(sb));
      vi.restoreAllMocks();
      expect(fired()).toBe(1);
      expect(err).toBe(error);
      expect(err.message).not.toContain('rolling back failed');

      expect(linkNames(e.host.name)).toEqual(hostLinks);
      expect(hostVeths(e)).toEqual([]);
      expect(linkNames(sb.name)).toEqual(['lo']);
      expect(reservations(e.stateDir, 'tx')).toEqual([]);
      expect(ep.addresses).toEqual([]);
      expect(ep.sandbox).toBeUndefined();
      expect(net.endpoint('ep').sandbox).toBeUndefined();
      expect(sb.endpoints()).toEqual([]);

      // Nothing stale in IPAM or the records: the same endpoint joins cleanly now.
      await ep.join(sb);
      expect(ep.addresses).toHaveLength(1);
      expect(reservations(e.stateDir, 'tx')).toEqual([ep.addresses[0]!.split('/')[0]]);
      expect(ping(sb.name, '10.95.0.1', 2)).toBe(true);
    });
  });

  describe('a failure at any step of createNetwork leaves nothing behind', () => {
    const bridge = 'berth-cn';
    const onBridge: When = (_s, a) => a[0] === bridge;
    const steps: Step[] = [
      { step: 'bridge creation', target: proto, method: 'createBridge', when: always },
      { step: 'pinning the bridge MAC', target: proto, method: 'setMac', when: onBridge },
      { step: 'gateway address', target: proto, method: 'addAddress', when: onBridge },
      { step: 'bridge up', target: proto, method: 'setLinkUp', when: onBridge },
      { step: 'forwarding sysctl', target: proto, method: 'setSysctl', when: always },
      { step: 'firewall rules', target: NetworkFirewall.prototype, method: 'addNetwork', when: always },
      {
        step: 'writing the network record',
        target: StateStore.prototype,
        method: 'write',
        when: (_s, a) => a[0] === 'networks',
        sync: true,
      },
    ];

    it.each(steps)('fails at $step', async (step) => {
      const e = await env();
      const { error, fired } = inject(step, { sandboxPath: '', bridge });
      const err = await rejection(e.ctl.createNetwork({ name: 'cn', subnet: '10.95.1.0/24' }));
      vi.restoreAllMocks();
      expect(fired()).toBe(1);
      expect(err).toBe(error);
      expect(err.message).not.toContain('rolling back failed');
      expect(linkNames(e.host.name)).toEqual(['lo']);
      expect(nftSet(nftRuleset(e.host.name), 'bridges')).not.toContain(bridge);
      expect(e.ctl.networks()).toEqual([]);
      expect(existsSync(join(e.stateDir, 'firewall', 'network-cn.json'))).toBe(false);

      const net = await e.ctl.createNetwork({ name: 'cn', subnet: '10.95.1.0/24' });
      expect(net.record.bridgeName).toBe(bridge);
      expect(nftSet(nftRuleset(e.host.name), 'bridges')).toContain(bridge);
    });
  });

  it('a sandbox that cannot be recorded leaves no netns behind', async () => {
    const e = await env();
    const name = sandboxName('unrecorded');
    vi.spyOn(StateStore.prototype, 'write').mockImplementationOnce(() => {
      throw new Error('injected failure writing the sandbox record');
    });
    await expect(e.ctl.createSandbox({ name })).rejects.toThrow('injected failure');
    expect(existsSync(join(NETNS_DIR, name))).toBe(false);
    expect(e.ctl.sandboxes()).toEqual([]);
  });

  it('gives 20 processes that join at once 20 distinct addresses', async () => {
    const bundle = join(ROOT, 'dist', 'lib', 'index.js');
    const native = join(ROOT, 'dist', 'native', 'berth_netlink.node');
    if (!existsSync(bundle) || !existsSync(native)) {
      throw new Error(`${bundle} is missing: run \`node scripts/build.mjs\` first (\`npm test\` does)`);
    }
    // A private copy of the bundle: another build may replace dist/ while the children load it.
    const work = tempDir('join20');
    mkdirSync(join(work, 'lib'));
    mkdirSync(join(work, 'native'));
    cpSync(bundle, join(work, 'lib', 'index.js'));
    cpSync(native, join(work, 'native', 'berth_netlink.node'));
    writeFileSync(join(work, 'package.json'), '{"type":"commonjs"}\n');
    const script = join(work, 'join.mjs');
    writeFileSync(
      script,
      `import { Controller } from ${JSON.stringify(join(work, 'lib', 'index.js'))};
const [stateDir, hostNetnsPath, network, name, startAt] = process.argv.slice(2);
const ctl = await Controller.open({ stateDir, hostNetnsPath, firewallBackend: 'nftables', etcNetnsDir: stateDir + '/etc-netns' });
// Everyone waits for the same moment, so the joins really overlap.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const sb = await ctl.createSandbox({ name });
const ep = await ctl.network(network).createEndpoint({ name });
await ep.join(sb);
process.stdout.write(JSON.stringify({ name, netnsPath: sb.netnsPath, addresses: ep.addresses }) + '\\n');
`,
    );

    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'crowd', subnet: '10.96.0.0/24' });
    const names = Array.from({ length: 20 }, (_, i) => sandboxName(`j${i}`));
    const startAt = Date.now() + 2000;
    const results = await Promise.all(
      names.map(
        (name) =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
            const child = spawn(process.execPath, [script, e.stateDir, e.host.path, net.name, name, String(startAt)], {
              stdio: ['ignore', 'pipe', 'pipe'],
              timeout: 60_000,
            });
            children.push(child);
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (c: Buffer) => (stdout += c));
            child.stderr.on('data', (c: Buffer) => (stderr += c));
            child.on('close', (code) => resolve({ code, stdout, stderr }));
          }),
      ),
    );
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const joins = results.map((r) => JSON.parse(r.stdout) as { name: string; netnsPath: string; addresses: string[] });
    const addresses = joins.map((j) => j.addresses[0]!);
    expect(new Set(addresses).size).toBe(20);
    for (const a of addresses) expect(a).toMatch(/^10\.96\.0\.\d+\/24$/);
    expect(reservations(e.stateDir, 'crowd')).toEqual(addresses.map((a) => a.split('/')[0]!).sort());
    expect(ipJson<IpLink[]>(e.host.name, ['link', 'show', 'master', 'berth-crowd'])).toHaveLength(20);
    for (const j of joins) {
      const [addr] = ipJson<IpAddr[]>(j.name, ['-4', 'addr', 'show', 'dev', 'eth0']);
      expect(addr!.addr_info.map((i) => `${i.local}/${i.prefixlen}`)).toEqual(j.addresses);
    }
    expect(net.endpoints()).toHaveLength(20);
    expect(ping(joins[0]!.name, joins[19]!.addresses[0]!.split('/')[0]!, 2)).toBe(true);
  });

  it('says clearly when a small range is exhausted, and leaves nothing of the failed join', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'small', subnet: '10.97.0.0/29' });
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(...(await joined(net, await newSandbox(e.ctl, `s${i}`), `e${i}`)).addresses);
    expect(got).toEqual(['10.97.0.2/29', '10.97.0.3/29', '10.97.0.4/29', '10.97.0.5/29', '10.97.0.6/29']);
    const veths = hostVeths(e);
    expect(veths).toHaveLength(5);

    const last = await newSandbox(e.ctl, 'full');
    const ep = await net.createEndpoint({ name: 'one-too-many' });
    const err = await rejection(ep.join(last));
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe(ErrorCode.RangeExhausted);
    expect((err as BerthError).msg).toContain('10.97.0.0/29');
    expect((err as BerthError).details).not.toBe('');
    expect(hostVeths(e)).toEqual(veths);
    expect(linkNames(last.name)).toEqual(['lo']);
    expect(reservations(e.stateDir, 'small')).toHaveLength(5);
    expect(net.endpoint('one-too-many').sandbox).toBeUndefined();
  });

  it("honours reservations in host-local's format found in the IPAM folder", async () => {
    const e = await env();
    const dir = join(e.stateDir, 'ipam', 'hostnet');
    cpSync(FIXTURE, dir, { recursive: true });
    const net = await e.ctl.createNetwork({ name: 'hostnet', subnet: '10.77.0.0/28', subnet6: 'fd00:77::/124' });
    // .1 is the gateway, .2-.4 are held in the fixture: 10 of .2-.14 are free.
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      const ep = await joined(net, await newSandbox(e.ctl, `h${i}`), `h${i}`);
      got.push(ep.addresses[0]!);
      expect(ep.addresses[1]).toMatch(/^fd00:77::[0-9a-f]+\/124$/);
      expect(ep.addresses[1]).not.toBe('fd00:77::2/124');
    }
    expect([...got].sort()).toEqual(
      ['5', '6', '7', '8', '9', '10', '11', '12', '13', '14'].map((n) => `10.77.0.${n}/28`).sort(),
    );
    const err = await rejection(joined(net, await newSandbox(e.ctl, 'h10'), 'h10'));
    expect((err as BerthError).code).toBe(ErrorCode.RangeExhausted);
    // The foreign reservations are still there, byte for byte.
    for (const ip of ['10.77.0.2', '10.77.0.3', '10.77.0.4', 'fd00:77::2']) {
      expect(readFileSync(join(dir, ip), 'utf8')).toBe(readFileSync(join(FIXTURE, ip), 'utf8'));
    }
  });

  describe('bad input changes nothing and says what to fix', () => {
    /** Everything berth could have changed: the host netns's links, addresses and rules, and the state files. */
    function snapshot(e: Env): string {
      const files: string[] = [];
      const walk = (dir: string) => {
        for (const entry of readdirSync(dir, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) walk(path);
          else if (entry.name !== 'lock') files.push(`${path}=${readFileSync(path, 'utf8')}`);
        }
      };
      walk(e.stateDir);
      // Only what berth sets: timers and IPv6 DAD states move on their own.
      return JSON.stringify({
        links: ipJson<IpLink[]>(e.host.name, ['link', 'show']).map((l) => [
          l.ifname,
          l.mtu,
          l.master,
          l.address,
          l.flags.includes('UP'),
        ]),
        addrs: ipJson<IpAddr[]>(e.host.name, ['addr', 'show']).map((a) => [
          a.ifname,
          a.addr_info.map((i) => `${i.local}/${i.prefixlen}`),
        ]),
        rules: nftRuleset(e.host.name),
        files,
      });
    }

    async function refused(e: Env, p: Promise<unknown>, code: number, names: string): Promise<BerthError> {
      const before = snapshot(e);
      const err = await rejection(p);
      expect(err).toBeInstanceOf(BerthError);
      const be = err as BerthError;
      expect(be.code).toBe(code);
      expect(be.msg).toContain(names);
      expect(be.details.length).toBeGreaterThan(0);
      expect(snapshot(e)).toBe(before);
      return be;
    }

    it('refuses bad networks', async () => {
      const e = await env();
      await refused(
        e,
        e.ctl.createNetwork({ name: 'bad', subnet: '10.98.0.300/24' }),
        ErrorCode.InvalidConfig,
        '10.98.0.300/24',
      );
      await refused(
        e,
        e.ctl.createNetwork({ name: 'bad', subnet: '10.98.0.1/24' }),
        ErrorCode.InvalidConfig,
        '10.98.0.1/24',
      );
      await refused(
        e,
        e.ctl.createNetwork({ name: 'bad', subnet: '10.98.0.0/24', gateway: '10.98.1.1' }),
        ErrorCode.InvalidConfig,
        '10.98.1.1',
      );
      await refused(e, e.ctl.createNetwork({ name: 'bad name' }), ErrorCode.InvalidConfig, 'bad name');
      await e.ctl.createNetwork({ name: 'first', subnet: '10.98.0.0/24' });
      const overlap = await refused(
        e,
        e.ctl.createNetwork({ name: 'second', subnet: '10.98.0.0/16' }),
        ErrorCode.InvalidConfig,
        '10.98.0.0/16',
      );
      expect(overlap.msg).toContain('first');
      await refused(
        e,
        e.ctl.createNetwork({ name: 'first', subnet: '10.98.9.0/24' }),
        ErrorCode.InvalidConfig,
        'first',
      );
      expect(e.ctl.networks().map((n) => n.name)).toEqual(['first']);
    });

    it('refuses bad interface names and unknown sandboxes', async () => {
      const e = await env();
      const net = await e.ctl.createNetwork({ name: 'ifn', subnet: '10.98.2.0/24' });
      const sb = await newSandbox(e.ctl, 'ifn');
      const ep = await net.createEndpoint({ name: 'ep' });
      for (const ifname of ['eth0123456789012', 'eth/0', 'eth:0', 'eth 0', '']) {
        await refused(e, ep.join(sb, { ifname }), ErrorCode.InvalidConfig, JSON.stringify(ifname));
        expect(linkNames(sb.name)).toEqual(['lo']);
      }
      expect(() => e.ctl.sandbox('bt-nobody')).toThrowError(/bt-nobody/);
      try {
        e.ctl.sandbox('bt-nobody');
      } catch (err) {
        expect((err as BerthError).code).toBe(ErrorCode.UnknownContainer);
        expect((err as BerthError).details).not.toBe('');
      }
      // A Sandbox object whose sandbox was destroyed meanwhile.
      const gone = await newSandbox(e.ctl, 'gone');
      await gone.destroy();
      await refused(e, ep.join(gone), ErrorCode.UnknownContainer, gone.name);
      expect(reservations(e.stateDir, 'ifn')).toEqual([]);
    });

    it('refuses to delete a network that has endpoints', async () => {
      const e = await env();
      const net = await e.ctl.createNetwork({ name: 'busy', subnet: '10.98.3.0/24' });
      const ep = await joined(net, await newSandbox(e.ctl, 'busy'), 'still-here');
      await refused(e, net.delete(), ErrorCode.InvalidConfig, 'still-here');
      expect(linkNames(e.host.name)).toContain('berth-busy');
      await ep.delete();
      await net.delete();
      expect(linkNames(e.host.name)).toEqual(['lo']);
      expect(nftSet(nftRuleset(e.host.name), 'bridges')).not.toContain('berth-busy');
    });
  });

  describe('leaving is idempotent and best effort', () => {
    it('destroying a sandbox leaves every endpoint first', async () => {
      const e = await env();
      const n1 = await e.ctl.createNetwork({ name: 'l1', subnet: '10.99.1.0/24' });
      const n2 = await e.ctl.createNetwork({ name: 'l2', subnet: '10.99.2.0/24' });
      const sb = await newSandbox(e.ctl, 'two');
      const e1 = await joined(n1, sb, 'a', 'eth0');
      const e2 = await joined(n2, sb, 'b', 'eth1');
      expect(linkNames(sb.name)).toEqual(['eth0', 'eth1', 'lo']);
      expect(hostVeths(e)).toHaveLength(2);
      await sb.destroy();
      expect(netnsExists(sb.netnsPath)).toBe(false);
      expect(hostVeths(e)).toEqual([]);
      expect(n1.endpoint(e1.name).sandbox).toBeUndefined();
      expect(n2.endpoint(e2.name).sandbox).toBeUndefined();
      expect(reservations(e.stateDir, 'l1')).toEqual([]);
      expect(reservations(e.stateDir, 'l2')).toEqual([]);
      expect(e.ctl.sandboxes()).toEqual([]);
    });

    it('gives a sandbox on two networks a way out through each, the first preferred', async () => {
      const e = await env();
      const n1 = await e.ctl.createNetwork({ name: 'w1', subnet: '10.99.6.0/24', subnet6: 'fd00:99:6::/64' });
      const n2 = await e.ctl.createNetwork({ name: 'w2', subnet: '10.99.7.0/24', subnet6: 'fd00:99:7::/64' });
      const sb = await newSandbox(e.ctl, 'ways');
      const e1 = await joined(n1, sb, 'a', 'eth0');
      await joined(n2, sb, 'b', 'eth1');
      const defaults = (family: '-4' | '-6') =>
        ipJson<(IpRoute & { metric?: number })[]>(sb.name, [family, 'route', 'show', 'default'])
          .map((r) => ({ gateway: r.gateway, dev: r.dev, metric: r.metric ?? 0 }))
          .sort((x, y) => x.metric - y.metric);
      for (const [family, gw1, gw2] of [
        ['-4', '10.99.6.1', '10.99.7.1'],
        ['-6', 'fd00:99:6::1', 'fd00:99:7::1'],
      ] as const) {
        const routes = defaults(family);
        expect(routes.map((r) => [r.gateway, r.dev])).toEqual([
          [gw1, 'eth0'],
          [gw2, 'eth1'],
        ]);
        expect(routes[0]!.metric).toBeLessThan(routes[1]!.metric);
      }
      await e1.leave();
      expect(defaults('-4').map((r) => [r.gateway, r.dev])).toEqual([['10.99.7.1', 'eth1']]);
      expect(defaults('-6').map((r) => [r.gateway, r.dev])).toEqual([['fd00:99:7::1', 'eth1']]);
      expect(ping(sb.name, '10.99.7.1', 2)).toBe(true);
    });

    it('leaving twice succeeds', async () => {
      const e = await env();
      const net = await e.ctl.createNetwork({ name: 'twice', subnet: '10.99.3.0/24' });
      const sb = await newSandbox(e.ctl, 'twice');
      const ep = await joined(net, sb, 'ep');
      await ep.leave();
      await ep.leave();
      await ep.leave(sb);
      expect(ep.addresses).toEqual([]);
      expect(linkNames(sb.name)).toEqual(['lo']);
      expect(hostVeths(e)).toEqual([]);
      expect(reservations(e.stateDir, 'twice')).toEqual([]);
    });

    it('leaving after the netns was deleted behind berth’s back succeeds', async () => {
      const e = await env();
      const net = await e.ctl.createNetwork({ name: 'nsgone', subnet: '10.99.4.0/24' });
      const sb = await newSandbox(e.ctl, 'nsgone');
      const ep = await joined(net, sb, 'ep');
      binding().deleteNetns(sb.netnsPath);
      await ep.leave();
      expect(ep.sandbox).toBeUndefined();
      expect(reservations(e.stateDir, 'nsgone')).toEqual([]);
      await eventually('the host veth goes with the netns', () => hostVeths(e).length === 0);
      await sb.destroy();
      expect(e.ctl.sandboxes()).toEqual([]);
    });

    it('leaving after the veth was deleted behind berth’s back succeeds', async () => {
      const e = await env();
      const net = await e.ctl.createNetwork({ name: 'vgone', subnet: '10.99.5.0/24' });
      const sb = await newSandbox(e.ctl, 'vgone');
      const ep = await joined(net, sb, 'ep');
      await e.hostHandle.deleteLink(ep.record.join!.hostVeth);
      await ep.leave();
      expect(ep.sandbox).toBeUndefined();
      expect(reservations(e.stateDir, 'vgone')).toEqual([]);
      expect(linkNames(sb.name)).toEqual(['lo']);
      // Nothing stale: the endpoint joins again.
      await ep.join(sb);
      expect(reservations(e.stateDir, 'vgone')).toEqual([ep.addresses[0]!.split('/')[0]]);
      expect(ping(sb.name, '10.99.5.1', 2)).toBe(true);
    });
  });
});
