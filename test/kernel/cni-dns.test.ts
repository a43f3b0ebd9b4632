/**
 * Names through CNI: berth-dns chained after berth-bridge through libcni (cnitool), with podman's
 * way of naming a container (CNI_ARGS K8S_POD_NAME, the aliases capability), and the all-in-one
 * plugin's "dns" key. A throwaway netns plays the host, where the plugins and so the name service
 * run; queries come from the containers' namespaces by a small dns-packet client. The name
 * service is stopped by its PID after each test.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnInNetns } from '../../base/exec.js';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import { NamesStore } from '../../network/names/store.js';
import { CniWorkspace, ROOT, runCnitool, runPlugin, snapshotPlugins } from '../helpers/cni.js';
import { waitForDaemon } from '../helpers/daemon.js';
import { stopNameService } from '../helpers/names.js';
import { kernelSuite, notRoot, type TestHost, TestNetns, type TestNs } from '../helpers/netns.js';
import { killAll } from '../helpers/servers.js';

const NET = 'dnsnet';
const GW = '10.95.0.1';

// One A question over UDP to a server; prints {"rcode", "answers"} or {"error": "timeout"}.
const ASK = `
const dgram = require('node:dgram');
const dns = require('dns-packet');
const [server, name] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (m) => {
  const p = dns.decode(m);
  process.stdout.write(JSON.stringify({ rcode: p.rcode, answers: p.answers.map((a) => a.data) }));
  process.exit(0);
});
s.send(dns.encode({ type: 'query', id: 9, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'timeout' })); process.exit(1); }, 3000);
`;

// A TCP server on port 8080 that answers "hello from <name>"; a client that connects to a name
// resolved by the name service (no resolv.conf is needed: the runtime writes that, not CNI).
const SERVE = `
require('node:net').createServer((s) => s.end('hello from ' + process.argv[1] + '\\n')).listen(8080, () => process.stdout.write('listening\\n'));
setTimeout(() => process.exit(0), 60000);
`;
const FETCH_BY_NAME = `
const { Resolver } = require('node:dns').promises;
const net = require('node:net');
const [server, name] = process.argv.slice(1);
const r = new Resolver({ timeout: 2000, tries: 1 });
r.setServers([server]);
r.resolve4(name).then(([address]) => {
  const s = net.connect({ host: address, port: 8080 });
  let out = '';
  s.on('data', (c) => (out += c));
  s.on('end', () => { process.stdout.write(out); process.exit(0); });
  s.on('error', (e) => { process.stdout.write('error ' + e.code); process.exit(1); });
}, (e) => { process.stdout.write('error ' + e.code); process.exit(1); });
setTimeout(() => process.exit(2), 8000);
`;

interface Answer {
  readonly rcode?: string;
  readonly answers?: string[];
  readonly error?: string;
}

describe.skipIf(notRoot)(kernelSuite('berth-dns and the all-in-one plugin’s names'), () => {
  const netns = new TestNetns();
  const children: ChildProcess[] = [];
  const stateDirs: string[] = [];
  let cniDir: string;

  beforeAll(() => {
    TestNetns.removeStale();
    cniDir = snapshotPlugins();
  });
  afterAll(() => rmSync(join(cniDir, '..'), { recursive: true, force: true }));

  afterEach(async () => {
    for (const dir of stateDirs.splice(0)) await stopNameService(dir);
    killAll(children);
    netns.cleanup();
  });

  interface Host extends TestHost {
    readonly env: Record<string, string>;
  }

  async function makeHost(): Promise<Host> {
    const host = await netns.host();
    stateDirs.push(host.stateDir);
    // The host's resolvers, for what the service forwards: none answers here, and none is asked.
    writeFileSync(join(host.dir, 'resolv.conf'), '');
    return { ...host, env: { BERTH_RESOLV_CONF: join(host.dir, 'resolv.conf') } };
  }

  const bridge = (h: Host) => ({
    type: 'berth-bridge',
    bridge: 'bdns0',
    isGateway: true,
    stateDir: h.stateDir,
    ipam: { type: 'berth-ipam', subnet: '10.95.0.0/24', dataDir: h.dataDir },
  });

  async function ask(c: TestNs, name: string): Promise<Answer> {
    const child = spawnInNetns(c.path, process.execPath, ['-e', ASK, GW, name], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    await new Promise((resolve) => child.on('close', resolve));
    return JSON.parse(out || '{}') as Answer;
  }

  /** How long after now a name under the domain takes to be NXDOMAIN; fails after 2 s. */
  async function answerGone(c: TestNs, name: string): Promise<number> {
    const since = Date.now();
    for (;;) {
      const answer = await ask(c, name);
      if (answer.rcode === 'NXDOMAIN') return Date.now() - since;
      if (Date.now() - since > 2000) throw new Error(`${name} still answered: ${JSON.stringify(answer)}`);
    }
  }

  it('chained after berth-bridge through libcni: names from K8S_POD_NAME and aliases, a TCP connect by name, DEL and GC', async () => {
    const h = await makeHost();
    const web = await netns.create('web');
    const client = await netns.create('client');
    const ws = new CniWorkspace();
    try {
      // The example conflist, its state and IPAM folders moved into the test's temp dir.
      const example = JSON.parse(readFileSync(join(ROOT, 'conf', 'berth-dns.conflist'), 'utf8')) as {
        plugins: Record<string, unknown>[];
      };
      ws.writeConflist({
        ...example,
        name: NET,
        plugins: example.plugins.map((p) =>
          p.ipam
            ? { ...p, stateDir: h.stateDir, ipam: { ...(p.ipam as object), dataDir: h.dataDir } }
            : { ...p, stateDir: h.stateDir },
        ),
      });
      const opts = (id: string, name: string, aliases: string[]) =>
        ws.options({
          containerId: id,
          hostNetns: h.ns.path,
          cniPath: [cniDir],
          args: { IgnoreUnknown: '1', K8S_POD_NAME: name },
          capArgs: { aliases: { [NET]: aliases } },
          env: h.env,
        });
      const add = runCnitool('add', NET, web.path, opts('ctr-web', 'web', ['www']));
      expect(add.code, add.stderr + add.stdout).toBe(0);
      expect(add.json).toMatchObject({
        ips: [{ address: '10.95.0.2/24', gateway: GW }],
        dns: { nameservers: [GW], domain: 'dns.berth', search: ['dns.berth'] },
      });
      expect(runCnitool('add', NET, client.path, opts('ctr-client', 'client', [])).code).toBe(0);
      // Through the daemon, the daemon hosts the name service; in-process, it is a process of its own.
      const service = runningService(serviceFiles(h.stateDir))!;
      expect(readFileSync(`/proc/${service}/cmdline`, 'utf8')).toContain(
        process.env.BERTH_DAEMON === '0' ? 'berth-names.js' : 'berth-daemon.js',
      );

      expect(await ask(client, 'web')).toEqual({ rcode: 'NOERROR', answers: ['10.95.0.2'] });
      expect(await ask(client, 'www.dns.berth')).toEqual({ rcode: 'NOERROR', answers: ['10.95.0.2'] });
      expect(await ask(web, 'client')).toEqual({ rcode: 'NOERROR', answers: ['10.95.0.3'] });
      expect(await ask(client, 'nobody.dns.berth')).toEqual({ rcode: 'NXDOMAIN', answers: [] });
      // No upstream: another name fails at once rather than timing out.
      expect(await ask(client, 'example.org')).toEqual({ rcode: 'SERVFAIL', answers: [] });

      const server = spawnInNetns(web.path, process.execPath, ['-e', SERVE, 'web'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(server);
      await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
      const fetched = await new Promise<string>((resolve) => {
        const child = spawnInNetns(client.path, process.execPath, ['-e', FETCH_BY_NAME, GW, 'web'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d));
        child.on('close', () => resolve(out));
      });
      expect(fetched).toBe('hello from web\n');

      // DEL without the netns removes the names all the same.
      const conf = { cniVersion: '1.0.0', name: NET, type: 'berth-dns', stateDir: h.stateDir };
      const del = runPlugin(join(cniDir, 'berth-dns'), { command: 'DEL', containerId: 'ctr-web' }, conf, {
        hostNetns: h.ns.path,
      });
      expect(del.code, del.stdout).toBe(0);
      expect(await answerGone(client, 'web.dns.berth')).toBeLessThan(1000);

      // GC with no valid attachment removes the rest, and the network's folder with them.
      const gc = runPlugin(
        join(cniDir, 'berth-dns'),
        { command: 'GC', containerId: '', ifname: '' },
        { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] },
        { hostNetns: h.ns.path },
      );
      expect(gc.code, gc.stdout).toBe(0);
      expect(new NamesStore(join(h.stateDir, 'names')).networks()).toEqual([]);
      expect(runCnitool('del', NET, web.path, opts('ctr-web', 'web', [])).code).toBe(0);
      expect(runCnitool('del', NET, client.path, opts('ctr-client', 'client', [])).code).toBe(0);
    } finally {
      ws.remove();
    }
  });

  it('the all-in-one plugin with "dns": names on ADD, gone on DEL; a bad name is code 7 and leaves nothing', async () => {
    const h = await makeHost();
    const a = await netns.create('a');
    const b = await netns.create('b');
    const conf = {
      cniVersion: '1.0.0',
      name: NET,
      ...bridge(h),
      type: 'berth',
      dns: { domainName: 'test.berth' },
      capabilities: { aliases: true },
    };
    const call = (command: string, id: string, ns: TestNs | undefined, name: string) =>
      runPlugin(
        join(cniDir, 'berth'),
        { command, containerId: id, ...(ns ? { netns: ns.path } : {}), args: { K8S_POD_NAME: name } },
        conf,
        // A daemon idle after 1.5 s without a call, but not while it hosts a name service that serves.
        { hostNetns: h.ns.path, env: { ...h.env, BERTH_DAEMON_IDLE_MS: '1500' } },
      );
    const addA = call('ADD', 'ctr-a', a, 'alpha');
    expect(addA.code, addA.stdout).toBe(0);
    expect(addA.json).toMatchObject({ dns: { nameservers: [GW], domain: 'test.berth', search: ['test.berth'] } });
    const throughDaemon = process.env.BERTH_DAEMON !== '0';
    if (throughDaemon) {
      // The first call ran in-process (its name service a process of its own) and started the
      // daemon; from the next call on, the daemon hosts the name service.
      await stopNameService(h.stateDir);
      await waitForDaemon(h.ns.path, cniDir);
    }
    expect(call('ADD', 'ctr-b', b, 'beta').code).toBe(0);
    const host = runningService(serviceFiles(h.stateDir))!;
    if (throughDaemon) expect(readFileSync(`/proc/${host}/cmdline`, 'utf8')).toContain('berth-daemon.js');
    await new Promise((r) => setTimeout(r, 2500));
    // The same process still serves: a daemon that hosts a name service outlives its idle time.
    expect(runningService(serviceFiles(h.stateDir))).toBe(host);
    expect(await ask(b, 'alpha.test.berth')).toEqual({ rcode: 'NOERROR', answers: ['10.95.0.2'] });

    const bad = call('ADD', 'ctr-bad', await netns.create('bad'), 'bad_-');
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ code: 7, msg: 'invalid K8S_POD_NAME "bad_-": not a DNS name' });
    expect(existsSync(join(h.dataDir, NET, '10.95.0.4'))).toBe(false);
    const veths = netns.ipJson<{ ifname: string }[]>(h.ns, ['link', 'show', 'type', 'veth']).map((l) => l.ifname);
    expect(veths).toHaveLength(2);

    expect(call('DEL', 'ctr-a', undefined, 'alpha').code).toBe(0);
    expect(await answerGone(b, 'alpha.test.berth')).toBeLessThan(1000);
    expect(call('DEL', 'ctr-b', b, 'beta').code).toBe(0);
    expect(new NamesStore(join(h.stateDir, 'names')).networks()).toEqual([]);
  });
});
