/**
 * The built `berth` command end to end: dist/bin/berth spawned as a user would
 * run it, with --state-dir in a temp folder and --host-netns a throwaway netns
 * that plays the host (bridges, firewall rules and ip_forward land there, never
 * in the machine's own netns). Sandboxes are named bt-<pid>-cli<n>-..., so
 * TestNetns.removeStale() finds what a killed run left; afterEach deletes every
 * netns the state names, also after a failure.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteNamedNetns, netnsExists } from '../../netlink/netns.js';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import { ROOT, runPlugin } from '../helpers/cni.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const BERTH = join(ROOT, 'dist', 'bin', 'berth');
const RUN_TIMEOUT_MS = 30_000;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface IpAddrJson {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

let seq = 0;
const unique = (label: string) => `bt-${process.pid}-cli${++seq}-${label}`;

function sh(argv: readonly string[]): Result {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

/** The names of the links in a netns, as `ip` sees them. */
function links(netns: string): string[] {
  const r = sh(['ip', '-n', netns, '-j', 'link', 'show']);
  if (r.code !== 0) throw new Error(`ip -n ${netns} link: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
}

function addresses(netns: string, ifname: string): string[] {
  const r = sh(['ip', '-n', netns, '-j', 'addr', 'show', 'dev', ifname]);
  if (r.code !== 0) throw new Error(`ip -n ${netns} addr show dev ${ifname}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as IpAddrJson[])
    .flatMap((l) => l.addr_info)
    .filter((a) => a.family === 'inet')
    .map((a) => `${a.local}/${a.prefixlen}`);
}

function nftRuleset(netns: string): string {
  const r = sh(['ip', 'netns', 'exec', netns, 'nft', 'list', 'ruleset']);
  if (r.code !== 0) throw new Error(`nft list ruleset in ${netns}: ${r.stderr}`);
  return r.stdout;
}

/** One line on stderr, berth's form, naming what is asked. */
function expectErrorLine(r: Result, pattern: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^berth: /);
  expect(lines[0]).toMatch(pattern);
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess, timeoutMs = RUN_TIMEOUT_MS): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Stops the name service a berth call started for the state dir, by its PID, and waits until it is gone. */
async function stopNameService(stateDir: string | undefined): Promise<void> {
  if (!stateDir) return;
  const pid = runningService(serviceFiles(stateDir));
  if (pid === undefined) return;
  process.kill(pid, 'SIGTERM');
  await waitUntil(
    `name service ${pid} to stop`,
    () => runningService(serviceFiles(stateDir)) === undefined,
    5000,
  ).catch(() => process.kill(pid, 'SIGKILL'));
}

describe.skipIf(notRoot)(kernelSuite('the berth command'), () => {
  const netns = new TestNetns();
  let host: TestNs;
  let stateDir: string;
  let temp: string;

  const globals = () => ['--state-dir', stateDir, '--host-netns', host.path];

  /** berth with this test's --state-dir and --host-netns (none with bare), as a user runs it. */
  function berth(args: readonly string[], options: { bare?: boolean; uid?: number; timeoutMs?: number } = {}): Result {
    const r = spawnSync(BERTH, [...(options.bare ? [] : globals()), ...args], {
      encoding: 'utf8',
      timeout: options.timeoutMs ?? RUN_TIMEOUT_MS,
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid, cwd: '/' } : {}),
    });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** berth ... --json, parsed, after checking it succeeded. */
  function berthJson<T>(args: readonly string[]): T {
    const r = berth([...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as T;
  }

  function ok(args: readonly string[]): string {
    const r = berth(args);
    expect(r.code, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
    expect(r.stderr).toBe('');
    return r.stdout;
  }

  beforeAll(() => {
    if (!existsSync(BERTH)) throw new Error(`${BERTH} does not exist: run \`node scripts/build.mjs\` (npm test does)`);
  });

  async function setUp(): Promise<void> {
    host = await netns.create('host');
    stateDir = mkdtempSync(join(tmpdir(), 'berth-cli-state-'));
    temp = mkdtempSync(join(tmpdir(), 'berth-cli-tmp-'));
  }

  afterEach(async () => {
    const errors: unknown[] = [];
    await stopNameService(stateDir);
    // Every netns berth made for a sandbox of this test, whatever state the test left.
    for (const dir of [join(stateDir, 'sandboxes')]) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) {
        try {
          const rec = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { netnsPath: string; ownsNetns: boolean };
          if (rec.ownsNetns && rec.netnsPath.startsWith('/run/netns/')) deleteNamedNetns(rec.netnsPath);
        } catch (e) {
          errors.push(e);
        }
      }
    }
    for (const name of readdirSync('/run/netns')) {
      if (name.startsWith(`bt-${process.pid}-cli`)) deleteNamedNetns(name);
    }
    // The sandboxes' resolv.conf and hosts, for those whose netns was deleted above rather than by berth.
    for (const name of existsSync('/etc/netns') ? readdirSync('/etc/netns') : []) {
      if (name.startsWith(`bt-${process.pid}-cli`)) rmSync(join('/etc/netns', name), { recursive: true, force: true });
    }
    try {
      netns.cleanup();
    } catch (e) {
      errors.push(e);
    }
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(temp, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  });

  describe('networks', () => {
    it('creates, lists, inspects and removes networks, with the --json shapes', async () => {
      await setUp();
      expect(ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0'])).toBe('web\n');
      expect(links(host.name)).toContain('bcli0');
      expect(addresses(host.name, 'bcli0')).toEqual(['10.91.0.1/24']);

      expect(
        ok([
          'network',
          'create',
          'lab',
          '--subnet',
          '10.92.0.0/24',
          '--gateway',
          '10.92.0.254',
          '--subnet6',
          'fd00:92::/64',
          '--bridge',
          'bcli1',
          '--mtu',
          '1400',
          '--no-isolate',
          '--no-masquerade',
        ]),
      ).toBe('lab\n');
      expect(ok(['network', 'create', 'hostnet', '--driver', 'host'])).toBe('hostnet\n');

      const table = ok(['network', 'ls']).trimEnd().split('\n');
      expect(table[0]).toMatch(/^NAME\s+DRIVER\s+BRIDGE\s+SUBNETS\s+ENDPOINTS$/);
      expect(table.slice(1).map((l) => l.split(/\s+/))).toEqual([
        ['hostnet', 'host', '-', '-', '0'],
        ['lab', 'bridge', 'bcli1', '10.92.0.0/24,fd00:92::/64', '0'],
        ['web', 'bridge', 'bcli0', '10.91.0.0/24', '0'],
      ]);

      const list = berthJson<unknown[]>(['network', 'ls']);
      expect(list).toEqual([
        {
          name: 'hostnet',
          id: expect.stringMatching(/^[0-9a-f]{12}$/),
          driver: 'host',
          bridge: null,
          subnets: [],
          mtu: 1500,
          masquerade: true,
          isolate: true,
          createdAt: expect.any(String),
          endpoints: [],
          dns: null,
          macvlan: null,
          overlay: null,
        },
        {
          name: 'lab',
          id: expect.stringMatching(/^[0-9a-f]{12}$/),
          driver: 'bridge',
          bridge: 'bcli1',
          subnets: [
            { subnet: '10.92.0.0/24', gateway: '10.92.0.254' },
            { subnet: 'fd00:92::/64', gateway: 'fd00:92::1' },
          ],
          mtu: 1400,
          masquerade: false,
          isolate: false,
          createdAt: expect.any(String),
          endpoints: [],
          dns: { domain: null, records: [] },
          macvlan: null,
          overlay: null,
        },
        expect.objectContaining({
          name: 'web',
          bridge: 'bcli0',
          subnets: [{ subnet: '10.91.0.0/24', gateway: '10.91.0.1' }],
        }),
      ]);
      expect(berthJson(['network', 'inspect', 'web', 'lab'])).toEqual([list[2], list[1]]);
      const text = ok(['network', 'inspect', 'lab']);
      expect(text).toMatch(/^name:\s+lab$/m);
      expect(text).toMatch(/^subnet:\s+fd00:92::\/64 gateway fd00:92::1$/m);

      expect(ok(['network', 'rm', 'web', 'lab', 'hostnet'])).toBe('web\nlab\nhostnet\n');
      expect(links(host.name)).not.toContain('bcli0');
      expect(links(host.name)).not.toContain('bcli1');
      expect(berthJson(['network', 'ls'])).toEqual([]);
    });

    it('refuses bad input with one line and changes nothing', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      const before = berthJson<unknown[]>(['network', 'ls']);

      let r = berth(['network', 'create', 'web']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /a network named "web" already exists \(choose another name/);

      r = berth(['network', 'create', 'other', '--subnet', '10.91.0.0/25']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /subnet 10\.91\.0\.0\/25 overlaps network "web"/);

      r = berth(['network', 'create', 'other', '--subnet', '10.93.0.1/24']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /has host bits set \(did you mean 10\.93\.0\.0\/24\?\)/);

      r = berth(['network', 'create', 'other', '--driver', 'ipvlan']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /Invalid values: Argument: driver, Given: "ipvlan"/);

      r = berth(['network', 'create', 'host']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /the network name "host" is reserved/);

      r = berth(['network', 'inspect', 'nope']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /no network named "nope" \(see `berth network ls`/);

      r = berth(['network', 'rm', 'web', 'nope']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /no network named "nope"/);

      expect(berthJson(['network', 'ls'])).toEqual(before);
      expect(links(host.name).filter((l) => l.startsWith('bcli'))).toEqual(['bcli0']);
    });
  });

  describe('sandboxes, connect and disconnect', () => {
    it('creates sandboxes in three modes, connects, disconnects and removes them', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      ok(['network', 'create', 'db', '--subnet', '10.92.0.0/24', '--bridge', 'bcli1']);
      const app = unique('app');
      const side = unique('side');
      const tools = unique('tools');

      expect(ok(['sandbox', 'create', app])).toBe(`${app}\n`);
      expect(netnsExists(`/run/netns/${app}`)).toBe(true);
      expect(links(app)).toEqual(['lo']);
      expect(ok(['sandbox', 'create', side, '--mode', `container:${app}`])).toBe(`${side}\n`);
      expect(ok(['sandbox', 'create', tools, '--mode', 'host'])).toBe(`${tools}\n`);

      expect(ok(['connect', 'web', app])).toBe(`${app} eth0 10.91.0.2/24\n`);
      expect(ok(['connect', 'db', app, '--ip', '10.92.0.50', '--ifname', 'eth5'])).toBe(`${app} eth5 10.92.0.50/24\n`);
      expect(addresses(app, 'eth0')).toEqual(['10.91.0.2/24']);
      expect(addresses(app, 'eth5')).toEqual(['10.92.0.50/24']);

      const sandboxes = berthJson<{ name: string }[]>(['sandbox', 'ls']);
      const appView = {
        name: app,
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        mode: 'none',
        netns: `/run/netns/${app}`,
        shareWith: null,
        createdAt: expect.any(String),
        endpoints: [
          {
            network: 'db',
            name: app,
            id: expect.stringMatching(/^[0-9a-f]{12}$/),
            sandbox: app,
            ifname: 'eth5',
            addresses: ['10.92.0.50/24'],
            mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
            hostVeth: expect.stringMatching(/^veth/),
            bandwidth: null,
          },
          expect.objectContaining({ network: 'web', ifname: 'eth0', addresses: ['10.91.0.2/24'] }),
        ],
      };
      expect(sandboxes).toEqual([
        appView,
        { ...appView, name: side, mode: 'container', shareWith: app, id: expect.any(String) },
        {
          name: tools,
          id: expect.any(String),
          mode: 'host',
          netns: null,
          shareWith: null,
          createdAt: expect.any(String),
          endpoints: [],
        },
      ]);
      expect(berthJson(['sandbox', 'inspect', app])).toEqual([appView]);
      const hostVeth = berthJson<{ endpoints: { hostVeth: string }[] }[]>(['network', 'inspect', 'web'])[0]!
        .endpoints[0]!.hostVeth;
      expect(links(host.name)).toContain(hostVeth);
      expect(ok(['sandbox', 'ls'])).toMatch(new RegExp(`^${side}\\s+container:${app}\\s`, 'm'));

      let r = berth(['connect', 'web', app]);
      expect(r.code).toBe(1);
      expectErrorLine(r, new RegExp(`sandbox ${app} is already connected to network web \\(disconnect it first`));
      r = berth(['connect', 'web', side]);
      expect(r.code).toBe(1);
      expectErrorLine(
        r,
        new RegExp(`is in container mode and cannot join bridge network web \\(connect sandbox ${app}`),
      );
      r = berth(['connect', 'web', unique('nope')]);
      expect(r.code).toBe(1);
      expectErrorLine(r, /no sandbox named/);
      r = berth(['connect', 'nope', app]);
      expect(r.code).toBe(1);
      expectErrorLine(r, /no network named "nope"/);
      r = berth(['network', 'rm', 'web']);
      expect(r.code).toBe(1);
      expectErrorLine(r, new RegExp(`network web is in use by 1 endpoint\\(s\\): ${app} \\(disconnect them first`));
      r = berth(['sandbox', 'create', app]);
      expect(r.code).toBe(1);
      expectErrorLine(r, /already exists/);
      r = berth(['sandbox', 'create', unique('x'), '--mode', 'container']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /--mode container needs the sandbox to share \(write --mode container:NAME\)/);
      const foreign = (await netns.create('foreign')).name;
      r = berth(['sandbox', 'create', foreign]);
      expect(r.code).toBe(1);
      expectErrorLine(r, new RegExp(`a network namespace named "${foreign}" already exists .*\\(choose another name`));
      expect(netnsExists(`/run/netns/${foreign}`)).toBe(true);
      r = berth(['sandbox', 'create', unique('x'), '--mode', 'bridge']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /unknown --mode "bridge"/);

      expect(ok(['disconnect', 'web', app])).toBe(`${app}\n`);
      expect(links(app)).toEqual(['eth5', 'lo']);
      expect(links(host.name)).not.toContain(hostVeth);
      expect(berthJson<{ endpoints: unknown[] }[]>(['network', 'inspect', 'web'])[0]!.endpoints).toEqual([]);
      r = berth(['disconnect', 'web', app]);
      expect(r.code).toBe(1);
      expectErrorLine(r, new RegExp(`sandbox ${app} is not connected to network web`));
      expect(ok(['connect', 'web', app])).toMatch(new RegExp(`^${app} eth0 10\\.91\\.0\\.\\d+/24\n$`));

      r = berth(['sandbox', 'rm', app, unique('nope')]);
      expect(r.code).toBe(1);
      expect(netnsExists(`/run/netns/${app}`)).toBe(true);

      expect(ok(['sandbox', 'rm', side, app, tools])).toBe(`${side}\n${app}\n${tools}\n`);
      expect(netnsExists(`/run/netns/${app}`)).toBe(false);
      expect(berthJson(['sandbox', 'ls'])).toEqual([]);
      expect(berthJson<{ endpoints: unknown[] }[]>(['network', 'ls']).map((n) => n.endpoints)).toEqual([[], []]);
      expect(ok(['network', 'rm', 'web', 'db'])).toBe('web\ndb\n');
    });
  });

  describe('run', () => {
    it('runs in a sandbox on a bridge network and removes it afterwards', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      const out = ok(['run', '--network', 'web', '--', 'ip', '-j', 'addr', 'show', 'dev', 'eth0']);
      const eth0 = JSON.parse(out) as IpAddrJson[];
      expect(eth0[0]?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        '10.91.0.2/24',
      ]);

      // Named run-<random> by default, and gone when the command ends.
      const name = ok(['run', '--network', 'web', '--', 'ip', 'netns', 'identify']).trim();
      expect(name).toMatch(/^run-[0-9a-f]{8}$/);
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
      expect(berthJson(['sandbox', 'ls'])).toEqual([]);
      expect(berthJson<{ endpoints: unknown[] }[]>(['network', 'inspect', 'web'])[0]!.endpoints).toEqual([]);
      expect(links(host.name).filter((l) => l.startsWith('veth'))).toEqual([]);
    });

    it('runs in the host netns, in a none netns and in the netns of another sandbox', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      const devices = (text: string) =>
        text
          .split('\n')
          .filter((l) => l.includes(':') && !l.includes('|'))
          .map((l) => l.split(':')[0]!.trim())
          .sort();

      // The host netns given by --host-netns: it holds the bridge.
      expect(devices(ok(['run', '--network', 'host', '--', 'cat', '/proc/net/dev']))).toEqual(['bcli0', 'lo']);
      expect(devices(ok(['run', '--network', 'none', '--', 'cat', '/proc/net/dev']))).toEqual(['lo']);
      expect(ok(['run', '--network', 'none', '--', 'ip', '-br', 'link'])).toMatch(/^lo\s+UNKNOWN\s.*LOOPBACK,UP/);

      const db = unique('db');
      ok(['sandbox', 'create', db]);
      ok(['connect', 'web', db]);
      const inDb = JSON.parse(ok(['run', '--network', `container:${db}`, '--', 'ip', '-j', 'addr'])) as IpAddrJson[];
      expect(inDb.find((l) => l.ifname === 'eth0')?.addr_info.map((a) => a.local)).toContain('10.91.0.2');
      // The shared sandbox and its interface stay.
      expect(berthJson<{ name: string }[]>(['sandbox', 'ls']).map((s) => s.name)).toEqual([db]);
      expect(addresses(db, 'eth0')).toEqual(['10.91.0.2/24']);

      // A network of the host driver runs in the host netns too.
      ok(['network', 'create', 'hostnet', '--driver', 'host']);
      expect(devices(ok(['run', '--network', 'hostnet', '--', 'cat', '/proc/net/dev']))).toEqual(links(host.name));
      expect(berthJson<{ endpoints: unknown[] }[]>(['network', 'inspect', 'hostnet'])[0]!.endpoints).toEqual([]);
    });

    it('forwards the exit status, keeps the sandbox on --keep, and says when a command is missing', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      let r = berth(['run', '--network', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
      expect(r).toEqual({ code: 7, stdout: 'out\n', stderr: 'err\n' });
      r = berth(['run', '--', 'sh', '-c', 'kill -KILL $$']);
      expect(r.code).toBe(137);

      r = berth(['run', '--network', 'web', '--', 'no-such-command-here']);
      expect(r.code).toBe(127);
      expectErrorLine(r, /command not found: no-such-command-here/);
      expect(berthJson(['sandbox', 'ls'])).toEqual([]);

      const kept = unique('kept');
      r = berth(['run', '--network', 'web', '--name', kept, '--keep', '--', 'true']);
      expect(r.code).toBe(0);
      expectErrorLine(r, new RegExp(`kept sandbox ${kept}; remove it with: berth sandbox rm ${kept}`));
      expect(addresses(kept, 'eth0')).toEqual([expect.stringMatching(/^10\.91\.0\.\d+\/24$/)]);
      r = berth(['run', '--network', 'web', '--name', kept, '--', 'true']);
      expect(r.code).toBe(1);
      expectErrorLine(r, new RegExp(`a sandbox named "${kept}" already exists`));
      ok(['sandbox', 'rm', kept]);
    });

    it('passes SIGTERM on to the command and removes the sandbox after it', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      const name = unique('sig');
      const marker = join(temp, 'started');
      const child = spawn(
        BERTH,
        [...globals(), 'run', '--network', 'web', '--name', name, '--', 'sh', '-c', `touch ${marker}; exec sleep 30`],
        { stdio: 'ignore' },
      );
      try {
        await waitUntil('the command to start', () => existsSync(marker));
        child.kill('SIGTERM');
        expect(await exited(child)).toBe(143);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
      expect(berthJson(['sandbox', 'ls'])).toEqual([]);
    });

    it('publishes -p ports for as long as the command runs', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      expect(nftRuleset(host.name)).not.toMatch(/18080/);
      const marker = join(temp, 'started');
      const child = spawn(
        BERTH,
        [
          ...globals(),
          'run',
          '--network',
          'web',
          '-p',
          '18080:80/udp',
          '--',
          'sh',
          '-c',
          `touch ${marker}; exec sleep 30`,
        ],
        { stdio: 'ignore' },
      );
      try {
        await waitUntil('the command to start', () => existsSync(marker));
        expect(nftRuleset(host.name)).toMatch(/18080/);
        // The port is taken: a second run is refused before its command starts, and leaves nothing.
        const taken = berth(['run', '--network', 'web', '-p', '18080:81/udp', '--', 'touch', join(temp, 'ran')]);
        expect(taken.code).toBe(1);
        expectErrorLine(taken, /18080/);
        expect(existsSync(join(temp, 'ran'))).toBe(false);
        expect(berthJson<unknown[]>(['sandbox', 'ls'])).toHaveLength(1);
        child.kill('SIGINT');
        expect(await exited(child)).toBe(130);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      expect(nftRuleset(host.name)).not.toMatch(/18080/);
    });

    it('publishes, lists and unpublishes ports of running containers with berth port, and reloads the firewall', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.92.0.0/24', '--bridge', 'bcli1']);
      const app = unique('app');
      ok(['sandbox', 'create', app]);
      ok(['connect', 'web', app]);
      // A spec given twice is published once.
      expect(ok(['port', 'publish', '--sandbox', app, '18081:80', '5353:53/udp', '18081:80/tcp'])).toBe(
        '18081:80/tcp -> 10.92.0.2\n5353:53/udp -> 10.92.0.2\n',
      );
      // A netns berth did not make, by path and by a process in it.
      const other = await netns.create('other');
      sh([
        'ip',
        'link',
        'add',
        'o-host',
        'netns',
        host.name,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        other.name,
      ]);
      sh(['ip', '-n', host.name, 'link', 'set', 'o-host', 'master', 'bcli1', 'up']);
      sh(['ip', '-n', other.name, 'addr', 'add', '10.92.0.200/24', 'dev', 'eth0']);
      sh(['ip', '-n', other.name, 'link', 'set', 'eth0', 'up']);
      expect(ok(['port', 'publish', '--netns', other.path, '127.0.0.1:18082:80'])).toBe(
        '127.0.0.1:18082:80/tcp -> 10.92.0.200\n',
      );
      const sleeper = spawn('ip', ['netns', 'exec', other.name, 'sleep', '20'], { stdio: 'ignore' });
      try {
        await waitUntil(
          'the process in the other netns',
          () => sh(['ip', 'netns', 'pids', other.name]).stdout.trim() !== '',
        );
        const pid = Number(sh(['ip', 'netns', 'pids', other.name]).stdout.trim().split('\n')[0]);
        expect(ok(['port', 'publish', '--pid', String(pid), '18083:80'])).toBe('18083:80/tcp -> 10.92.0.200\n');
      } finally {
        sleeper.kill();
      }
      const listed = berthJson<{ label: string; ports: { hostPort: number }[] }[]>(['port', 'ls']);
      expect(listed.flatMap((r) => r.ports.map((p) => p.hostPort)).sort((a, b) => a - b)).toEqual([
        5353, 18081, 18082, 18083,
      ]);
      expect(ok(['port', 'ls'])).toMatch(/^PORTS\s+CONTAINER\s+OWNER\n/);
      // Taken by another container: refused, naming the holder.
      const taken = berth(['port', 'publish', '--netns', other.path, '18081:80']);
      expect(taken.code).toBe(1);
      expectErrorLine(
        taken,
        new RegExp(`host port \\*:18081/tcp is already published by endpoint ${app} of network web`),
      );
      // Malformed: usage, status 2.
      expect(berth(['port', 'publish', '--sandbox', app, '80:x']).code).toBe(2);
      expect(berth(['port', 'publish', '18084:80']).code).toBe(2);
      // The ruleset flushed behind berth's back comes back.
      sh(['ip', 'netns', 'exec', host.name, 'nft', 'flush', 'ruleset']);
      expect(nftRuleset(host.name)).not.toMatch(/18081/);
      expect(ok(['firewall', 'reload'])).toMatch(/^reloaded the rules of \d+ owner\(s\) \(nftables\)\n$/);
      expect(nftRuleset(host.name)).toMatch(/18081/);
      ok(['port', 'unpublish', '--sandbox', app, '18081/tcp']);
      ok(['port', 'unpublish', '--netns', other.path]);
      expect(
        berthJson<{ ports: { hostPort: number }[] }[]>(['port', 'ls']).flatMap((r) => r.ports.map((p) => p.hostPort)),
      ).toEqual([5353]);
      ok(['sandbox', 'rm', app]);
      expect(berthJson<unknown[]>(['port', 'ls'])).toEqual([]);
      expect(nftRuleset(host.name)).not.toMatch(/18081|18082|18083|5353/);
    });

    it('refuses bad input before making anything', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      ok(['network', 'create', 'hostnet', '--driver', 'host']);
      // A netns of that name made by someone else: berth neither uses nor removes it.
      const taken = (await netns.create('taken')).name;
      const cases: [string[], number, RegExp][] = [
        [
          ['run', '--network', 'web', '-p', '80', '--', 'true'],
          2,
          /-p: invalid port mapping "80" \(write \[HOST_IP:\]HOST_PORT/,
        ],
        [['run', '--network', 'web', '-p', '8080:80/icmp', '--', 'true'], 2, /-p: unknown protocol "icmp"/],
        [['run', '--network', 'web', '-p', '1:2', '-p', '1:3', '--', 'true'], 2, /publish the same host port/],
        [['run', '--network', 'hostnet', '-p', '1:2', '--', 'true'], 2, /-p publishes ports of a bridge network/],
        [['run', '--network', 'nope', '--', 'true'], 1, /no network named "nope"/],
        [['run', '--network', 'container:nope', '--', 'true'], 1, /no sandbox named "nope"/],
        [['run', '--network', 'container', '--', 'true'], 2, /--network container needs the sandbox to share/],
        [['run', '--network', 'web'], 2, /berth run needs a command/],
        [['run', '--name', 'a/b', '--', 'true'], 1, /invalid sandbox name "a\/b"/],
        [['run', '--name', taken, '--', 'true'], 1, new RegExp(`a network namespace named "${taken}" already exists`)],
        [['run', '--network', 'web', 'ls', '-l'], 2, /Unknown argument: l \(put -- before the command/],
      ];
      for (const [args, code, pattern] of cases) {
        const r = berth(args);
        expect(r.code, args.join(' ')).toBe(code);
        expectErrorLine(r, pattern);
      }
      expect(berthJson(['sandbox', 'ls'])).toEqual([]);
      expect(links(host.name).filter((l) => l.startsWith('veth'))).toEqual([]);
    });
  });

  describe('names', () => {
    it('finds sandboxes by name and alias on a network, which has names unless --no-dns', async () => {
      await setUp();
      const resolvConf = join(temp, 'host-resolv.conf');
      // No one answers at 192.0.2.53 (the host netns has no route there): one try of a second each.
      writeFileSync(resolvConf, 'nameserver 192.0.2.53\nsearch example.org\noptions timeout:1 attempts:1\n');
      const saved = process.env.BERTH_RESOLV_CONF;
      process.env.BERTH_RESOLV_CONF = resolvConf;
      try {
        ok([
          'network',
          'create',
          'web',
          '--subnet',
          '10.91.0.0/24',
          '--bridge',
          'bcli0',
          '--dns-domain',
          'web.internal',
        ]);
        const db = unique('db');
        const app = unique('app');
        expect(
          berth(['run', '--network', 'web', '--name', db, '--alias', 'database', '--keep', '--', 'true']).code,
        ).toBe(0);
        ok(['sandbox', 'create', app]);
        expect(ok(['connect', 'web', app, '--alias', 'api'])).toBe(`${app} eth0 10.91.0.3/24\n`);

        const lookup = (name: string) => berth(['run', '--network', 'web', '--', 'getent', 'hosts', name]);
        // The sandboxes search the network's domain first: the answer carries it.
        expect(lookup('database').stdout).toMatch(/^10\.91\.0\.2\s+database\.web\.internal$/m);
        expect(lookup(db).stdout).toMatch(new RegExp(`^10\\.91\\.0\\.2\\s+${db}\\.web\\.internal$`, 'm'));
        expect(lookup('api.web.internal').stdout).toMatch(/^10\.91\.0\.3\s+api\.web\.internal$/m);
        const resolv = ok(['run', '--network', 'web', '--', 'cat', '/etc/resolv.conf']);
        expect(resolv).toContain('nameserver 10.91.0.1\nsearch web.internal example.org\n');

        const inspected = berthJson<{ dns: unknown }[]>(['network', 'inspect', 'web'])[0]!;
        expect(inspected.dns).toEqual({
          domain: 'web.internal',
          records: expect.arrayContaining([
            { names: [db, 'database'], addresses: ['10.91.0.2'], imported: false, node: null },
            { names: [app, 'api'], addresses: ['10.91.0.3'], imported: false, node: null },
          ]),
        });
        expect(ok(['network', 'inspect', 'web'])).toMatch(new RegExp(`^name:\\s+${app} api: 10\\.91\\.0\\.3$`, 'm'));

        // A killed name service: the next call starts another, which knows every name.
        const pid = runningService(serviceFiles(stateDir))!;
        process.kill(pid, 'SIGKILL');
        await waitUntil('the name service to die', () => runningService(serviceFiles(stateDir)) === undefined, 5000);
        expect(lookup('api').stdout).toMatch(/^10\.91\.0\.3\s+api\.web\.internal$/m);
        expect(runningService(serviceFiles(stateDir))).not.toBe(pid);

        // Killed again: doctor says so, and gc starts it.
        const second = runningService(serviceFiles(stateDir))!;
        process.kill(second, 'SIGKILL');
        await waitUntil('the name service to die', () => runningService(serviceFiles(stateDir)) === undefined, 5000);
        const doctor = berth(['doctor', '--no-kernel']);
        expect(doctor.code).toBe(1);
        expect(doctor.stdout).toContain(
          'FAIL state: the name service is not running: names on web are not answered; fix: berth gc starts it again, as does the next berth run or connect\n',
        );
        expect(ok(['gc'])).toBe('started: the name service is not running: names on web are not answered\n');
        expect(runningService(serviceFiles(stateDir))).toBeDefined();

        ok(['disconnect', 'web', app]);
        // Gone, and at once: the host's resolver has no route here, and forwarding says so without waiting.
        const asked = Date.now();
        expect(lookup('api').code).toBe(2);
        expect(Date.now() - asked).toBeLessThan(3000);

        // --no-dns: no name service; the sandbox gets the host's resolvers.
        ok(['network', 'create', 'plain', '--subnet', '10.92.0.0/24', '--bridge', 'bcli1', '--no-dns']);
        expect(ok(['run', '--network', 'plain', '--', 'cat', '/etc/resolv.conf'])).toContain(
          'nameserver 192.0.2.53\nsearch example.org\n',
        );
        expect(berthJson<{ dns: unknown }[]>(['network', 'inspect', 'plain'])[0]!.dns).toBeNull();
        // Given settings and hosts lines win, on either network.
        const own = ok([
          'run',
          '--network',
          'web',
          '--dns',
          '192.0.2.9',
          '--dns-search',
          'corp.example',
          '--dns-option',
          'ndots:3',
          '--add-host',
          'printer:192.0.2.77',
          '--',
          'sh',
          '-c',
          'cat /etc/resolv.conf; getent hosts printer',
        ]);
        expect(own).toContain('nameserver 192.0.2.9\nsearch corp.example\noptions ndots:3\n');
        expect(own).toMatch(/^192\.0\.2\.77\s+printer$/m);
        expect(berth(['run', '--network', 'plain', '--', 'getent', 'hosts', 'database']).code).toBe(2);
        ok(['sandbox', 'rm', db, app]);
      } finally {
        if (saved === undefined) delete process.env.BERTH_RESOLV_CONF;
        else process.env.BERTH_RESOLV_CONF = saved;
      }
    });

    it('berth names serve is the name service in the foreground, which berth calls use', async () => {
      await setUp();
      const serve = spawn('ip', ['netns', 'exec', host.name, BERTH, 'names', 'serve', '--state-dir', stateDir], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      serve.stderr!.on('data', (c: Buffer) => (log += c));
      try {
        await waitUntil(
          'berth names serve to hold the lock',
          () => runningService(serviceFiles(stateDir)) !== undefined,
        );
        const pid = runningService(serviceFiles(stateDir))!;
        ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
        const db = unique('db');
        expect(berth(['run', '--network', 'web', '--name', db, '--keep', '--', 'true']).code).toBe(0);
        expect(berth(['run', '--network', 'web', '--', 'getent', 'hosts', db]).stdout).toMatch(
          new RegExp(`^10\\.91\\.0\\.2\\s+${db}$`, 'm'),
        );
        expect(runningService(serviceFiles(stateDir))).toBe(pid);
        ok(['sandbox', 'rm', db]);
        serve.kill('SIGTERM');
        expect(await exited(serve)).toBe(0);
        expect(log).toMatch(/listening on 10\.91\.0\.1 port 53 \(network web\)/);
      } finally {
        if (serve.exitCode === null && serve.pid) process.kill(serve.pid, 'SIGKILL');
      }
      // With nothing to serve it leaves after its idle time.
      const idle = spawn(
        'ip',
        ['netns', 'exec', host.name, BERTH, 'names', 'serve', '--state-dir', stateDir, '--idle-timeout', '300'],
        { stdio: 'ignore' },
      );
      try {
        ok(['network', 'rm', 'web']);
        expect(await exited(idle, 5000)).toBe(0);
      } finally {
        if (idle.exitCode === null && idle.pid) process.kill(idle.pid, 'SIGKILL');
      }
      const r = berth(['names', 'serve', '--host-netns', host.path]);
      expect(r.code).toBe(2);
      expectErrorLine(r, /berth names serve listens in the netns it runs in/);
    });

    it('refuses a name or alias that is not a DNS name with one line, leaving nothing', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      let r = berth(['run', '--network', 'web', '--alias', 'bad_-', '--', 'true']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /invalid alias "bad_-": not a DNS name \(a name is labels of/);
      r = berth(['run', '--network', 'web', '--name', 'a..b', '--', 'true']);
      expect(r.code).toBe(1);
      expectErrorLine(r, /invalid sandbox name "a\.\.b": not a DNS name/);
      r = berth(['run', '--network', 'none', '--alias', 'x', '--', 'true']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /--alias names the sandbox on a bridge network's name service/);
      r = berth(['network', 'create', 'x', '--no-dns', '--dns-domain', 'x.internal']);
      expect(r.code).toBe(2);
      r = berth(['run', '--network', 'host', '--dns', '192.0.2.9', '--', 'true']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /--dns, --dns-search, --dns-option and --add-host give a sandbox of its own netns its files/);
      r = berth(['run', '--network', 'web', '--add-host', 'nohost', '--', 'true']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /--add-host "nohost" is not NAME:IP/);
      expect(berthJson(['sandbox', 'ls'])).toEqual([]);
      expect(links(host.name).filter((l) => l.startsWith('veth'))).toEqual([]);
    });
  });

  describe('inspect', () => {
    it('prints the topology as an outline, as Graphviz dot and as JSON', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      const app = unique('app');
      ok(['sandbox', 'create', app]);
      ok(['connect', 'web', app]);

      const tree = ok(['inspect']);
      expect(tree).toMatch(/^network web \(bridge, 10\.91\.0\.0\/24 via 10\.91\.0\.1\) on bridge bcli0$/m);
      expect(tree).toMatch(
        new RegExp(`^  endpoint ${app} \\(eth0, 10\\.91\\.0\\.2/24, .*\\) in sandbox ${app} via veth`, 'm'),
      );

      const dot = ok(['inspect', '--graph']);
      expect(dot.startsWith('graph berth {\n')).toBe(true);
      expect(dot).toContain('"network:web" -- "bridge:bcli0" [style=bold];');
      expect(dot).toContain(`"endpoint:web.${app}" -- "sandbox:${app}" [label="eth0"];`);
      expect(dot.trimEnd().endsWith('}')).toBe(true);

      const graph = berthJson<{ nodes: { id: string }[]; edges: unknown[] }>(['inspect']);
      expect(graph.nodes.map((n) => n.id)).toEqual([
        'network:web',
        'bridge:bcli0',
        `sandbox:${app}`,
        `endpoint:web.${app}`,
      ]);
      expect(graph.edges).toHaveLength(3);

      const svg = join(temp, 'berth.svg');
      const r = berth(['inspect', '--graph', '--svg', svg]);
      if (sh(['sh', '-c', 'command -v dot']).code === 0) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(dot);
        expect(readFileSync(svg, 'utf8')).toContain('<svg');
      } else {
        expect(r.code).toBe(1);
        expectErrorLine(r, /--svg needs Graphviz, and dot is not installed \(install graphviz/);
      }
    });
  });

  describe('doctor and gc', () => {
    it('finds a healthy state healthy', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      const app = unique('app');
      ok(['sandbox', 'create', app]);
      ok(['connect', 'web', app]);
      const r = berth(['doctor']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      for (const l of lines) expect(l).toMatch(/^(ok {3}|warn )(kernel|state): /);
      expect(lines).toEqual(
        expect.arrayContaining([
          'ok   kernel: network namespaces: created one',
          'ok   kernel: veth and bridge: created a veth pair and put one end on a bridge',
          expect.stringMatching(
            /^ok {3}kernel: (nftables|iptables): applied berth's forward, isolation and masquerade rules$/,
          ),
          'ok   kernel: conntrack: listed the connection table over ctnetlink',
          'ok   kernel: ip_forward is on in the host netns',
          'ok   state: records match the kernel: 1 network(s), 1 sandbox(es), 1 endpoint(s)',
        ]),
      );
      expect(berthJson(['doctor', '--no-kernel'])).toEqual({
        healthy: true,
        findings: [
          {
            area: 'state',
            severity: 'ok',
            message: 'records match the kernel: 1 network(s), 1 sandbox(es), 1 endpoint(s)',
          },
        ],
      });
      expect(ok(['gc'])).toBe('nothing stale\n');
    });

    it('finds what was removed behind its back, and gc removes what is stale', async () => {
      await setUp();
      ok(['network', 'create', 'web', '--subnet', '10.91.0.0/24', '--bridge', 'bcli0']);
      ok(['network', 'create', 'old', '--subnet', '10.92.0.0/24', '--bridge', 'bcli1']);
      const gone = unique('gone');
      const live = unique('live');
      ok(['sandbox', 'create', gone]);
      ok(['connect', 'web', gone]);
      ok(['sandbox', 'create', live]);
      ok(['connect', 'web', live]);

      // Behind berth's back: a sandbox's netns deleted, a reservation nobody holds,
      // a network record lost (its firewall rules stay), a sandbox's interface deleted.
      expect(sh(['ip', 'netns', 'del', gone]).code).toBe(0);
      writeFileSync(join(stateDir, 'ipam', 'web', '10.91.0.77'), 'ghost\r\neth0');
      unlinkSync(join(stateDir, 'networks', 'old.json'));
      expect(nftRuleset(host.name)).toContain('bcli1');
      expect(sh(['ip', '-n', live, 'link', 'del', 'eth0']).code).toBe(0);

      const r = berth(['doctor', '--no-kernel']);
      expect(r.code).toBe(1);
      expect(r.stdout.trimEnd().split('\n')).toEqual([
        `FAIL state: sandbox ${gone}: its netns /run/netns/${gone} is gone; fix: berth gc removes the sandbox and its endpoints (or: berth sandbox rm ${gone})`,
        expect.stringMatching(
          new RegExp(
            `^FAIL state: endpoint ${live} of network web: its veth veth\\w+ is gone from the host netns; fix: berth gc removes the endpoint \\(or: berth disconnect web ${live}\\)$`,
          ),
        ),
        'FAIL state: IPAM reservation 10.91.0.77 of network web is held by ghost/eth0, which is no endpoint; fix: berth gc releases it',
        expect.stringMatching(
          /^FAIL state: (nftables|iptables) rules of network old, which does not exist; fix: berth gc removes them$/,
        ),
        'FAIL state: names of network old, which has no names or does not exist; fix: berth gc removes them',
      ]);
      const unhealthy = berth(['doctor', '--no-kernel', '--json']);
      expect(unhealthy.code).toBe(1);
      const json = JSON.parse(unhealthy.stdout) as { healthy: boolean; findings: { stale?: unknown }[] };
      expect(json.healthy).toBe(false);
      expect(json.findings.map((f) => f.stale)).toEqual([
        { kind: 'sandbox', name: gone },
        { kind: 'endpoint', network: 'web', name: live },
        { kind: 'reservation', network: 'web', ip: '10.91.0.77' },
        {
          kind: 'firewall',
          owner: { kind: 'network', id: 'old' },
          backend: expect.stringMatching(/nftables|iptables/),
        },
        { kind: 'names-network', network: 'old' },
      ]);
      expect(berth(['doctor']).code).toBe(1);

      const gc = berth(['gc']);
      expect(gc.code, gc.stderr).toBe(0);
      expect(gc.stdout.trimEnd().split('\n')).toEqual([
        `removed: sandbox ${gone}: its netns /run/netns/${gone} is gone`,
        expect.stringMatching(new RegExp(`^removed: endpoint ${live} of network web: its veth`)),
        'removed: IPAM reservation 10.91.0.77 of network web is held by ghost/eth0, which is no endpoint',
        expect.stringMatching(/^removed: (nftables|iptables) rules of network old, which does not exist$/),
        'removed: names of network old, which has no names or does not exist',
      ]);
      expect(ok(['doctor', '--no-kernel'])).toBe(
        'ok   state: records match the kernel: 1 network(s), 1 sandbox(es), 0 endpoint(s)\n',
      );
      expect(existsSync(join(stateDir, 'ipam', 'web', '10.91.0.77'))).toBe(false);
      expect(nftRuleset(host.name)).not.toContain('bcli1');
      expect(berthJson<{ name: string }[]>(['sandbox', 'ls']).map((s) => s.name)).toEqual([live]);
      // The sandbox whose interface was lost connects again.
      expect(ok(['connect', 'web', live])).toMatch(new RegExp(`^${live} eth0 10\\.91\\.0\\.\\d+/24\n$`));
      expect(ok(['gc'])).toBe('nothing stale\n');
    });
  });

  describe('install-plugins', () => {
    it('installs plugins that run with no node on PATH, and an example conflist', async () => {
      await setUp();
      const dir = join(temp, 'bin');
      const conf = join(temp, 'net.d');
      const r = berth(['install-plugins', '--dir', dir, '--conf', conf]);
      expect(r.code, r.stderr).toBe(0);
      const files = readdirSync(dir).sort();
      expect(files).toEqual(
        expect.arrayContaining([
          'berth-bridge',
          'berth-bridge.js',
          'berth-daemon.js',
          'berth-ipam',
          'berth_netlink.node',
        ]),
      );
      expect(r.stdout).toContain(`installed ${dir}/berth-bridge\n`);
      expect(r.stdout).toContain(`wrote ${conf}/berth-bridge.conflist\n`);
      const shebang = readFileSync(join(dir, 'berth-bridge.js'), 'utf8').split('\n')[0]!;
      expect(shebang).toMatch(/^#!\//);
      for (const file of shebang
        .slice(2)
        .split(' ')
        .filter((w) => w.startsWith('/'))) {
        expect(existsSync(file), file).toBe(true);
      }
      expect(readFileSync(join(conf, 'berth-bridge.conflist'), 'utf8')).toBe(
        readFileSync(join(ROOT, 'conf', 'berth-bridge.conflist'), 'utf8'),
      );

      const env = { PATH: '/nonexistent' };
      const version = runPlugin(join(dir, 'berth-bridge'), { command: 'VERSION' }, { cniVersion: '1.1.0' }, { env });
      expect(version.code, version.stderr).toBe(0);
      expect(version.json).toMatchObject({ cniVersion: '1.1.0', supportedVersions: expect.arrayContaining(['1.1.0']) });

      // The installed bridge plugin with the example's config, its binding beside it, nothing else on PATH.
      const conflist = JSON.parse(readFileSync(join(conf, 'berth-bridge.conflist'), 'utf8'));
      const bridgeConf = {
        ...conflist.plugins[0],
        cniVersion: conflist.cniVersion,
        name: conflist.name,
        bridge: 'bcli9',
        stateDir: join(temp, 'state'),
        ipam: { ...conflist.plugins[0].ipam, dataDir: join(temp, 'ipam') },
      };
      const c = await netns.create('c');
      const invocation = { netns: c.path, path: [dir], containerId: `bt-${process.pid}-cli` };
      const add = runPlugin(join(dir, 'berth-bridge'), { command: 'ADD', ...invocation }, bridgeConf, {
        env,
        hostNetns: host.path,
      });
      expect(add.code, add.stderr + add.stdout).toBe(0);
      expect(add.json).toMatchObject({ ips: [{ address: '10.87.0.2/16', gateway: '10.87.0.1' }] });
      expect(addresses(c.name, 'eth0')).toEqual(['10.87.0.2/16']);
      const del = runPlugin(join(dir, 'berth-bridge'), { command: 'DEL', ...invocation }, bridgeConf, {
        env,
        hostNetns: host.path,
      });
      expect(del.code, del.stderr + del.stdout).toBe(0);

      const again = berth(['install-plugins', '--dir', dir, '--conf', conf]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`kept ${conf}/berth-bridge.conflist (it exists; --force overwrites it)\n`);

      const bad = berth(['install-plugins', '--dir', dir, '--from', join(temp, 'nothing')]);
      expect(bad.code).toBe(1);
      expectErrorLine(
        bad,
        /no built plugins in .*nothing \(looked for cni\/\* and berth_netlink\.node in cni\/ or native\/\) \(build them/,
      );
    });
  });

  describe('conventions', () => {
    it('runs the demo', async () => {
      await setUp();
      const r = berth(['demo'], { bare: true, timeoutMs: 60_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('demo passed');
    });

    it('answers bad usage with one line and status 2, and no root with status 1', async () => {
      await setUp();
      let r = berth(['bogus']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /Unknown argument: bogus/);
      r = berth(['netwrk', 'ls']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /Unknown arguments: netwrk, ls \(Did you mean network\?\)/);
      r = berth([]);
      expect(r.code).toBe(2);
      expectErrorLine(r, /name a command; see berth --help/);
      r = berth(['network']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /name a network command: create, ls, inspect or rm/);
      r = berth(['network', 'ls', '--colour']);
      expect(r.code).toBe(2);
      expectErrorLine(r, /Unknown argument: colour/);

      r = berth(['--host-netns', join(temp, 'nothing'), '--state-dir', stateDir, 'network', 'ls'], { bare: true });
      expect(r.code).toBe(2);
      expectErrorLine(r, /--host-netns .*nothing: .* is not a network namespace/);

      const nobody = 65534;
      const state = mkdtempSync(join(tmpdir(), 'berth-cli-nobody-'));
      try {
        for (const args of [['network', 'create', 'x'], ['network', 'ls'], ['run', '--', 'true'], ['doctor']]) {
          const n = berth(['--state-dir', state, ...args], { bare: true, uid: nobody });
          expect(n.code, args.join(' ')).toBe(1);
          expectErrorLine(n, new RegExp(`berth ${args[0]}.* needs root`));
        }
        expect(readdirSync(state)).toEqual([]);
      } finally {
        rmSync(state, { recursive: true, force: true });
      }
    });

    it('has --help with examples on every command, and completion', async () => {
      await setUp();
      const commands = [
        [],
        ['network'],
        ['network', 'create'],
        ['network', 'ls'],
        ['network', 'inspect'],
        ['network', 'rm'],
        ['sandbox'],
        ['sandbox', 'create'],
        ['sandbox', 'ls'],
        ['sandbox', 'inspect'],
        ['sandbox', 'rm'],
        ['connect'],
        ['disconnect'],
        ['run'],
        ['inspect'],
        ['doctor'],
        ['gc'],
        ['names'],
        ['names', 'serve'],
        ['install-plugins'],
        ['demo'],
        ['completion'],
      ];
      for (const c of commands) {
        const r = berth([...c, '--help'], { bare: true });
        expect(r.code, c.join(' ')).toBe(0);
        expect(r.stdout, c.join(' ')).toContain('Examples:');
      }
      const script = berth(['completion'], { bare: true });
      expect(script.code).toBe(0);
      expect(script.stdout).toContain('###-begin-berth-completions-###');
      const words = berth(['--get-yargs-completions', 'berth', 'network', ''], { bare: true });
      expect(words.stdout.split('\n')).toEqual(expect.arrayContaining(['create', 'ls', 'inspect', 'rm']));
    });
  });
});
