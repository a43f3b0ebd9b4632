/**
 * Names on berth networks against the kernel: the name service that a join starts, answering
 * from throwaway namespaces (one plays the host, one the host's upstream resolver, which this
 * test runs), and the sandboxes' resolv.conf and hosts bound over /etc for their processes.
 * Lookups are the system's own (getent, through glibc) where that is what a user runs, and a small
 * dns-packet client where the wire matters (TCP, garbage, a flood). Every process a test starts,
 * the name service included, is stopped by PID in afterEach.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnInNetns } from '../../base/exec.js';
import { deleteNamedNetns, NETNS_DIR } from '../../netlink/netns.js';
import { Controller, type SandboxOptions } from '../../network/controller.js';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import type { Network } from '../../network/network.js';
import type { Sandbox } from '../../network/sandbox.js';
import { getent, stopNameService } from '../helpers/names.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';
import { killAll } from '../helpers/servers.js';
import { startUpstream, UPSTREAM } from '../helpers/upstream.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RUN_TIMEOUT_MS = 15_000;

let seq = 0;
const unique = (label: string) => `bt-${process.pid}-n${++seq}-${label}`;

// One question to a server over UDP or TCP (or random bytes over UDP: "garbage"); prints the answer
// as JSON: the rcode, the data of the answers, whether truncated, or {"error": "timeout"}.
const DNS_CLIENT = `
const dgram = require('node:dgram');
const net = require('node:net');
const dns = require('dns-packet');
const [server, proto, name, type] = process.argv.slice(1);
const query = proto === 'garbage'
  ? Buffer.concat([Buffer.from([0xbe, 0xef, 0x01, 0x00, 0x00, 0x09]), require('node:crypto').randomBytes(30)])
  : dns.encode({ type: 'query', id: 4711, flags: dns.RECURSION_DESIRED, questions: [{ type, name }] });
const print = (buf) => {
  if (proto === 'garbage') {
    process.stdout.write(JSON.stringify({ id: buf.readUInt16BE(0), rcode: buf.readUInt16BE(2) & 15 }));
  } else {
    const p = dns.decode(buf);
    process.stdout.write(JSON.stringify({ rcode: p.rcode, tc: p.flag_tc, answers: p.answers.map((a) => a.data) }));
  }
  process.exit(0);
};
setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'timeout' })); process.exit(1); }, 3000);
if (proto === 'tcp') {
  const s = net.connect({ host: server, port: 53 }, () => s.write(dns.streamEncode(dns.decode(query))));
  let b = Buffer.alloc(0);
  s.on('data', (c) => { b = Buffer.concat([b, c]); if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) print(b.subarray(2)); });
  s.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code })); process.exit(1); });
} else {
  const s = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
  s.on('message', print);
  s.send(query, 53, server);
}
`;

// Sends count queries for a name as fast as it can over UDP, then prints how many answers came.
const FLOOD = `
const dgram = require('node:dgram');
const dns = require('dns-packet');
const [server, name, count] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let answers = 0;
s.on('message', () => answers++);
const query = dns.encode({ type: 'query', id: 1, questions: [{ type: 'A', name }] });
let sent = 0;
const burst = () => {
  for (let i = 0; i < 200 && sent < Number(count); i++, sent++) s.send(query, 53, server);
  if (sent < Number(count)) setImmediate(burst);
  else setTimeout(() => { process.stdout.write(String(answers)); process.exit(0); }, 500);
};
burst();
setTimeout(() => process.exit(1), 20000);
`;

/** Removes a folder this test made, unless something else has put files in it meanwhile. */
function rmdirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or gone
  }
}

interface Answer {
  readonly rcode?: string;
  readonly tc?: boolean;
  readonly answers?: string[];
  readonly error?: string;
  readonly id?: number;
}

function run(argv: readonly string[], timeout = RUN_TIMEOUT_MS) {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

/** Waits for a child to end, killing it after timeoutMs; its status and output. */
function finished(child: ChildProcess, timeoutMs = RUN_TIMEOUT_MS) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c));
    child.stderr?.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe.skipIf(notRoot)(kernelSuite('names: the name service and the sandboxes’ resolv.conf'), () => {
  const netns = new TestNetns();
  const sandboxNetns: string[] = [];
  const tempDirs: string[] = [];
  const children: ChildProcess[] = [];
  const stateDirs: string[] = [];
  const savedResolvConf = process.env.BERTH_RESOLV_CONF;

  beforeAll(() => TestNetns.removeStale());
  afterAll(() => {
    if (savedResolvConf === undefined) delete process.env.BERTH_RESOLV_CONF;
    else process.env.BERTH_RESOLV_CONF = savedResolvConf;
  });

  afterEach(async () => {
    for (const dir of stateDirs.splice(0)) await stopNameService(dir);
    killAll(children);
    for (const name of sandboxNetns.splice(0)) deleteNamedNetns(name);
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    netns.cleanup();
  });

  function tempDir(label: string): string {
    const dir = mkdtempSync(join(tmpdir(), `berth-${label}-`));
    tempDirs.push(dir);
    return dir;
  }

  interface Env {
    readonly ctl: Controller;
    readonly host: TestNs;
    readonly stateDir: string;
    readonly etcNetnsDir: string;
    /** The questions the upstream got, one "udp NAME" or "tcp NAME" a line. */
    readonly upstreamLog: () => string;
  }

  /** A host netns, a state dir, and the host's upstream resolver on a link of its own. */
  async function env(): Promise<Env> {
    const { ns: host, dir, stateDir } = await netns.host();
    const upstream = await startUpstream(netns, host, children, dir);
    // The name service inherits this: the host's resolvers are the test's own upstream.
    process.env.BERTH_RESOLV_CONF = upstream.resolvConf;
    stateDirs.push(stateDir);
    const etcNetnsDir = join(dir, 'etc-netns');
    const ctl = await Controller.open({ stateDir, hostNetnsPath: host.path, netnsDir: NETNS_DIR, etcNetnsDir });
    return { ctl, host, stateDir, etcNetnsDir, upstreamLog: upstream.log };
  }

  async function sandbox(e: Env, label: string, options: Omit<SandboxOptions, 'name'> = {}) {
    const name = unique(label);
    sandboxNetns.push(name);
    return e.ctl.createSandbox({ name, ...options });
  }

  async function attach(net: Network, sb: Sandbox, aliases: string[] = []) {
    const ep = await net.createEndpoint({ name: sb.name, aliases });
    await ep.join(sb, { ifname: 'eth0' });
    return ep;
  }

  /** A command in the sandbox as berth starts it (its resolv.conf and hosts bound over /etc). */
  function inSandbox(sb: Sandbox, argv: readonly string[]) {
    const child = sb.spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return finished(child);
  }

  /** One question from inside a netns by the dns-packet client. */
  async function ask(sb: Sandbox, server: string, proto: string, name = '', type = 'A'): Promise<Answer> {
    const child = spawnInNetns(sb.netnsPath, process.execPath, ['-e', DNS_CLIENT, server, proto, name, type], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const r = await finished(child);
    return JSON.parse(r.stdout || '{}') as Answer;
  }

  const ip = (ep: { addresses: readonly string[] }) => ep.addresses[0]!.split('/')[0]!;

  it('two sandboxes find each other by name and alias; each has a resolv.conf pointing at the gateway', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'web', dns: { domain: 'dns.berth' } });
    const a = await sandbox(e, 'a');
    const b = await sandbox(e, 'b');
    const ea = await attach(net, a);
    const eb = await attach(net, b, ['db', 'Cache']);

    const resolv = readFileSync(join(e.etcNetnsDir, a.name, 'resolv.conf'), 'utf8');
    expect(resolv).toContain('nameserver 10.89.0.1\n');
    expect(resolv).toContain('search dns.berth\n');
    expect(readFileSync(join(e.etcNetnsDir, a.name, 'hosts'), 'utf8')).toContain(`${ip(ea)}\t${a.name}\n`);

    expect(await getent(a, b.name)).toEqual([ip(eb)]);
    expect(await getent(b, a.name)).toEqual([ip(ea)]);
    expect(await getent(a, 'db')).toEqual([ip(eb)]);
    expect(await getent(a, 'cache.dns.berth')).toEqual([ip(eb)]);
    // Its own name comes from its hosts file, without asking.
    expect(await getent(a, a.name)).toEqual([ip(ea)]);
    // PTR: the address back to the sandbox's name in the network's domain.
    const reverse = await inSandbox(a, ['getent', 'hosts', ip(eb)]);
    expect(reverse.stdout.trim().split(/\s+/)).toEqual([ip(eb), `${b.name}.dns.berth`]);

    // A process outside berth's mount namespace still sees the host's files.
    expect(readFileSync('/etc/resolv.conf', 'utf8')).not.toContain('10.89.0.1');
    // Leaving the network takes its name service and the address out of b's files.
    const left = ip(eb);
    await eb.leave();
    expect(readFileSync(join(e.etcNetnsDir, b.name, 'resolv.conf'), 'utf8')).toBe(
      `# written by berth for this sandbox\nnameserver ${UPSTREAM}\n`,
    );
    expect(readFileSync(join(e.etcNetnsDir, b.name, 'hosts'), 'utf8')).not.toContain(left);
    await a.destroy();
    expect(existsSync(join(e.etcNetnsDir, a.name))).toBe(false);
  });

  it('the same name on two networks is each network’s own, and no network sees another’s names', async () => {
    const e = await env();
    const n1 = await e.ctl.createNetwork({ name: 'one', dns: true });
    const n2 = await e.ctl.createNetwork({ name: 'two', dns: true });
    const s1 = await sandbox(e, 's1');
    const s2 = await sandbox(e, 's2');
    const c1 = await sandbox(e, 'c1');
    const c2 = await sandbox(e, 'c2');
    const e1 = await attach(n1, s1, ['svc']);
    const e2 = await attach(n2, s2, ['svc']);
    await attach(n1, c1);
    await attach(n2, c2);

    expect(await getent(c1, 'svc')).toEqual([ip(e1)]);
    expect(await getent(c2, 'svc')).toEqual([ip(e2)]);
    const started = Date.now();
    expect(await getent(c1, s2.name)).toBeNull();
    expect(await getent(c2, s1.name)).toBeNull();
    // Refused at once (NXDOMAIN from the upstream for a name no network of theirs has), not a timeout.
    expect(Date.now() - started).toBeLessThan(3000);
    // Asked at the other network's gateway, the service refuses a client that is not on it.
    expect(await ask(c1, '10.89.1.1', 'udp', s2.name)).toMatchObject({ rcode: 'REFUSED', answers: [] });
  });

  it('a removed endpoint stops resolving within one second; a killed service is started again and loses nothing', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'churn', dns: true });
    const client = await sandbox(e, 'client');
    const gone = await sandbox(e, 'gone');
    const kept = await sandbox(e, 'kept');
    await attach(net, client);
    const eg = await attach(net, gone);
    const ek = await attach(net, kept);
    expect(await ask(client, '10.89.0.1', 'udp', gone.name)).toMatchObject({ rcode: 'NOERROR', answers: [ip(eg)] });

    await eg.delete();
    const left = Date.now();
    let answer: Answer = {};
    while (Date.now() - left < 2000) {
      answer = await ask(client, '10.89.0.1', 'udp', gone.name);
      if (answer.answers?.length === 0) break;
    }
    expect(answer.rcode).toBe('NXDOMAIN');
    expect(Date.now() - left).toBeLessThan(1000);

    const files = serviceFiles(e.stateDir);
    const pid = runningService(files)!;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 5000;
    while (runningService(files) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(runningService(files)).toBeUndefined();
    expect(await ask(client, '10.89.0.1', 'udp', kept.name)).toEqual({ error: 'timeout' });

    // The next call starts another; it answers what was registered before the kill.
    const again = await e.ctl.ensureNameService('churn');
    expect(again).not.toBe(pid);
    expect(await ask(client, '10.89.0.1', 'udp', kept.name)).toMatchObject({ answers: [ip(ek)] });
    const joinsToo = await sandbox(e, 'later');
    await stopNameService(e.stateDir);
    const el = await attach(net, joinsToo);
    expect(await getent(client, joinsToo.name)).toEqual([ip(el)]);
  });

  it('forwards other names to the host’s resolver, over UDP and TCP, and answers TCP queries itself', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'fwd', dns: true });
    const a = await sandbox(e, 'a');
    const b = await sandbox(e, 'b');
    await attach(net, a);
    const eb = await attach(net, b);

    expect(await getent(a, 'outside.test')).toEqual(['203.0.113.7']);
    expect(e.upstreamLog()).toMatch(/^udp outside\.test$/m);
    expect(await ask(a, '10.89.0.1', 'tcp', 'outside.test')).toMatchObject({ answers: ['203.0.113.7'] });
    expect(e.upstreamLog()).toMatch(/^tcp outside\.test$/m);
    expect(await ask(a, '10.89.0.1', 'tcp', b.name)).toMatchObject({ rcode: 'NOERROR', answers: [ip(eb)] });
    expect(await ask(a, '10.89.0.1', 'udp', 'nothing.test')).toMatchObject({ rcode: 'NXDOMAIN' });
    // berth's own names never reach the upstream.
    expect(e.upstreamLog()).not.toContain(b.name);
  });

  it('answers garbage with FORMERR or not at all, keeps running, and bounds a flood from one sandbox', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'rough', dns: true });
    const flooder = await sandbox(e, 'flood');
    const polite = await sandbox(e, 'polite');
    await attach(net, flooder);
    const ep = await attach(net, polite);
    const pid = runningService(serviceFiles(e.stateDir));

    expect(await ask(flooder, '10.89.0.1', 'garbage')).toEqual({ id: 0xbeef, rcode: 1 });
    expect(await ask(polite, '10.89.0.1', 'udp', polite.name)).toMatchObject({ answers: [ip(ep)] });

    const flood = spawnInNetns(flooder.netnsPath, process.execPath, ['-e', FLOOD, '10.89.0.1', polite.name, '20000'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(flood);
    const during = await ask(polite, '10.89.0.1', 'udp', polite.name);
    const flooded = await finished(flood);
    expect(during).toMatchObject({ answers: [ip(ep)] });
    // Its burst and rate, not its 20000.
    expect(Number(flooded.stdout)).toBeGreaterThan(500);
    expect(Number(flooded.stdout)).toBeLessThan(10_000);
    expect(runningService(serviceFiles(e.stateDir))).toBe(pid);
  });

  it('takes resolver settings and hosts for a sandbox, and binds its files for ip netns exec as well', async () => {
    const e = await env();
    const given = await sandbox(e, 'given', {
      dns: { nameservers: ['192.0.2.53'], search: ['example.org'], options: ['ndots:2'] },
      hosts: [{ address: '192.0.2.10', names: ['db.example.org', 'db'] }],
    });
    const r = await inSandbox(given, ['cat', '/etc/resolv.conf', '/etc/hosts']);
    expect(r.stdout).toContain('nameserver 192.0.2.53\nsearch example.org\noptions ndots:2\n');
    expect(r.stdout).toContain('192.0.2.10\tdb.example.org db\n');
    expect(await getent(given, 'db')).toEqual(['192.0.2.10']);
    // Without settings and networks: the host's resolvers (the test's upstream here).
    const plain = await sandbox(e, 'plain');
    expect((await inSandbox(plain, ['cat', '/etc/resolv.conf'])).stdout).toContain(`nameserver ${UPSTREAM}\n`);
    // Host mode sees the host's files; dns for host mode is refused, naming why.
    const host = await sandbox(e, 'hostmode', { mode: 'host' });
    expect((await inSandbox(host, ['cat', '/etc/resolv.conf'])).stdout).toBe(readFileSync('/etc/resolv.conf', 'utf8'));
    await expect(sandbox(e, 'bad', { mode: 'host', dns: { nameservers: ['192.0.2.1'] } })).rejects.toThrow(
      /in host mode and takes no dns or hosts/,
    );
    // A container-mode sandbox shares the files of the netns it shares.
    const shared = await sandbox(e, 'shared', { mode: 'container', shareWith: given.name });
    expect((await inSandbox(shared, ['cat', '/etc/resolv.conf'])).stdout).toContain('nameserver 192.0.2.53\n');

    // The `ip netns exec` convention: /etc/netns/NAME, bound by ip itself.
    const stateDir = join(tempDir('etc'), 'state');
    const ctl = await Controller.open({ stateDir, hostNetnsPath: e.host.path, netnsDir: NETNS_DIR });
    const name = unique('ipexec');
    sandboxNetns.push(name);
    const hadEtcNetns = existsSync('/etc/netns');
    try {
      const sb = await ctl.createSandbox({ name, hosts: [{ address: '192.0.2.11', names: ['viaip'] }] });
      expect(run(['ip', 'netns', 'exec', name, 'getent', 'hosts', 'viaip']).stdout).toMatch(/^192\.0\.2\.11\s+viaip$/m);
      await sb.destroy();
      expect(existsSync(join('/etc/netns', name))).toBe(false);
    } finally {
      rmSync(join('/etc/netns', name), { recursive: true, force: true });
      if (!hadEtcNetns) rmdirIfEmpty('/etc/netns');
    }
  });

  it('dual stack: AAAA and A for a name, PTR for its IPv6 address, and queries to the IPv6 gateway', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'dual', subnet6: 'fd00:89::/64', dns: true });
    const a = await sandbox(e, 'a');
    const b = await sandbox(e, 'b');
    await attach(net, a);
    const eb = await attach(net, b);
    const [v4, v6] = eb.addresses.map((x) => x.split('/')[0]!);
    expect(v6).toMatch(/^fd00:89::/);
    expect(await getent(a, b.name)).toEqual([v4, v6].sort());
    expect(readFileSync(join(e.etcNetnsDir, a.name, 'resolv.conf'), 'utf8')).toContain(
      'nameserver 10.89.0.1\nnameserver fd00:89::1\n',
    );
    // The IPv6 gateway's address may still be tentative (DAD): the service binds it once it can.
    let answer: Answer = {};
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      answer = await ask(a, 'fd00:89::1', 'udp', b.name, 'AAAA');
      if (answer.rcode) break;
    }
    expect(answer).toMatchObject({ rcode: 'NOERROR', answers: [v6] });
    const reverse = await inSandbox(a, ['getent', 'hosts', v6!]);
    expect(reverse.stdout.trim().split(/\s+/)).toEqual([v6, b.name]);
  });

  it('refuses an alias that is not a DNS name with code 7, and a join whose sandbox name is none', async () => {
    const e = await env();
    const net = await e.ctl.createNetwork({ name: 'strict', dns: true });
    await expect(net.createEndpoint({ name: 'x', aliases: ['bad_-'] })).rejects.toMatchObject({ code: 7 });
    await expect(net.createEndpoint({ name: 'x', aliases: ['has space'] })).rejects.toThrow(
      'invalid alias "has space": not a DNS name',
    );
    const name = `${unique('odd')}..x`;
    sandboxNetns.push(name);
    const sb = await e.ctl.createSandbox({ name });
    const ep = await net.createEndpoint({ name: 'odd' });
    await expect(ep.join(sb)).rejects.toThrow(`invalid sandbox name "${name}": not a DNS name`);
    expect(e.ctl.names.records('strict')).toEqual([]);
    await sb.destroy();
  });
});
