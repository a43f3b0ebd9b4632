/**
 * berth's CNI chain under a real runtime: rootful podman 4.3 with its CNI
 * backend runs berth-bridge + berth-ipam + berth-loopback + berth-dns for its
 * containers, which find each other by name.
 *
 * Podman's host is the machine's own netns, so unlike every other kernel test
 * this one puts a bridge, an nftables table and the IPv4 forwarding switch in
 * the root netns (that is what podman does with any bridge plugin). It sends
 * traffic only to the containers' addresses, and afterAll removes the
 * containers, the network, the bridge and the rules, restores forwarding, and
 * fails when anything of the test is still there: also the name records and
 * the berth daemon of the test's plugin copy, which hosts the name service
 * (stopped by PID).
 *
 * scripts/podman-setup.sh installs podman when missing and writes a
 * containers.conf into the test's temp dir, which podman reads instead of the
 * machine's (CONTAINERS_CONF); its CNI config dir is a temp dir too, so the
 * machine's podman settings and networks are not touched. The image it imports
 * (localhost/berth-busybox) stays for the next run.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningService, serviceFiles } from '../../network/names/instance.js';
import { NamesStore } from '../../network/names/store.js';
import { DIST_CNI, REFERENCE_CNI, ROOT } from '../helpers/cni.js';
import { runningDaemons, stopDaemons } from '../helpers/daemon.js';
import { kernelSuite, notRoot } from '../helpers/netns.js';

const SETUP_SCRIPT = join(ROOT, 'scripts', 'podman-setup.sh');
const IMAGE = 'localhost/berth-busybox';
// The page podman-setup.sh puts in the image's /www.
const PAGE = 'served by berth-busybox\n';
// A fresh machine installs podman from apt first.
const SETUP_TIMEOUT_MS = 15 * 60_000;
const PODMAN_TIMEOUT_MS = 120_000;
const FORWARDING = '/proc/sys/net/ipv4/ip_forward';

const tag = `${process.pid}`;
const NETWORK = `berth-e2e-${tag}`;
const BRIDGE = `bpod${tag}`.slice(0, 15);
const SUBNET = '10.99.0.0/24';
const GATEWAY = '10.99.0.1';
// `web` is the name the client asks for; the machine must have no container of that name.
const WEB = 'web';
const CLIENT = `${NETWORK}-client`;
const PAIR = [`${NETWORK}-a`, `${NETWORK}-b`] as const;
const CONTAINERS = [...PAIR, WEB, CLIENT] as const;
const DOMAIN = 'dns.berth';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeout = 30_000): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout, killSignal: 'SIGKILL' });
  const stderr = r.error ? `${r.stderr ?? ''}${r.error.message}` : (r.stderr ?? '');
  return { code: r.status, stdout: r.stdout ?? '', stderr };
}

function must(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv, timeout?: number): string {
  const r = run(cmd, args, env, timeout);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs podman-setup.sh; returns why podman cannot be used here, or undefined when it can. */
function preparePodman(containersConf: string, confDir: string, pluginDir: string): string | undefined {
  const args = [
    '--conf',
    containersConf,
    '--net-dir',
    confDir,
    '--plugin-dir',
    pluginDir,
    '--plugin-dir',
    REFERENCE_CNI,
  ];
  const r = run(SETUP_SCRIPT, args, process.env, SETUP_TIMEOUT_MS);
  if (r.code !== 0) {
    const tail = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-5).join(' | ');
    return `${SETUP_SCRIPT} failed (exit ${r.code}): ${tail}`;
  }
  return undefined;
}

/** GET http://ip:port/ from this process (the root netns), bounded by timeoutMs. */
function httpGet(ip: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path: '/', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${ip}:${port}/ timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Retries fn until it succeeds, at most `tries` times `pauseMs` apart: httpd may still be starting. */
async function eventually<T>(tries: number, pauseMs: number, fn: () => Promise<T> | T): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
  throw last;
}

/** Stops the name service of stateDir by its PID (SIGTERM, then SIGKILL), waiting at most 5 s for each. */
function stopNameService(stateDir: string): void {
  const pid = runningService(serviceFiles(stateDir));
  if (pid === undefined) return;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    process.kill(pid, signal);
    const deadline = Date.now() + 5000;
    while (runningService(serviceFiles(stateDir)) !== undefined && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
    if (runningService(serviceFiles(stateDir)) === undefined) return;
  }
}

const linkExists = (name: string) => run('ip', ['link', 'show', 'dev', name]).code === 0;
const berthTableExists = () => run('nft', ['list', 'table', 'inet', 'berth']).code === 0;
// podman's libcni keeps each ADD result here until DEL.
const CNI_RESULTS = '/var/lib/cni/results';
const cachedResults = () =>
  existsSync(CNI_RESULTS) ? readdirSync(CNI_RESULTS).filter((f) => f.startsWith(`${NETWORK}-`)) : [];
const berthRuleLines = () =>
  must('nft', ['list', 'ruleset'])
    .split('\n')
    .filter((l) => l.includes('berth'));

describe.skipIf(notRoot)(kernelSuite('podman 4.3 runs berth-bridge + berth-ipam + berth-loopback + berth-dns'), () => {
  let skipReason: string | undefined;
  let dir = '';
  let env: NodeJS.ProcessEnv = process.env;
  let stateDir = '';
  let dataDir = '';
  let forwardingBefore = '';
  let hadBerthTable = false;
  const sandboxes: string[] = [];
  const podman = (args: readonly string[]) => must('podman', args, env, PODMAN_TIMEOUT_MS);
  const pluginDir = () => join(dir, 'dist', 'cni');

  beforeAll(() => {
    for (const exe of ['berth-bridge', 'berth-ipam', 'berth-loopback', 'berth-dns']) {
      if (!existsSync(join(DIST_CNI, exe)))
        throw new Error(`${join(DIST_CNI, exe)} is missing: run \`node scripts/build.mjs\``);
    }
    const routes = must('ip', ['-4', 'route', 'show', 'match', SUBNET]).trim();
    const overlapping = routes.split('\n').filter((l) => l !== '' && !l.startsWith('default'));
    if (overlapping.length > 0) {
      throw new Error(`the root netns already routes ${SUBNET} (${overlapping.join('; ')}); the test needs it free`);
    }
    if (linkExists(BRIDGE)) throw new Error(`a link named ${BRIDGE} already exists in the root netns`);
    forwardingBefore = readFileSync(FORWARDING, 'utf8').trim();
    hadBerthTable = berthTableExists();

    dir = mkdtempSync(join(tmpdir(), 'berth-podman-'));
    const confDir = join(dir, 'netd');
    stateDir = join(dir, 'state');
    dataDir = join(dir, 'ipam');
    mkdirSync(confDir);
    // A copy of the build (same layout as dist/, so the plugins find their binding): another
    // `node scripts/build.mjs` in this tree empties dist/ for a moment, which podman must not see.
    for (const part of ['cni', 'native', 'package.json']) {
      cpSync(join(DIST_CNI, '..', part), join(dir, 'dist', part), { recursive: true });
    }
    const containersConf = join(dir, 'containers.conf');
    skipReason = preparePodman(containersConf, confDir, pluginDir());
    if (skipReason) {
      console.warn(`podman end-to-end test skipped: ${skipReason}`);
      return;
    }
    if (run('podman', ['container', 'exists', WEB], { ...process.env, CONTAINERS_CONF: containersConf }).code === 0) {
      skipReason = `a podman container named ${WEB} already exists on this machine`;
      return;
    }
    // The host's resolvers for what the name service forwards: none, so nothing leaves the machine.
    writeFileSync(join(dir, 'resolv.conf'), '');
    env = { ...process.env, CONTAINERS_CONF: containersConf, BERTH_RESOLV_CONF: join(dir, 'resolv.conf') };
    // podman 4.3 accepts results up to 1.0.0, so the conflist says 1.0.0 and berth answers in it.
    const conflist = {
      cniVersion: '1.0.0',
      name: NETWORK,
      plugins: [
        {
          type: 'berth-bridge',
          bridge: BRIDGE,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          stateDir,
          ipam: {
            type: 'berth-ipam',
            dataDir,
            ranges: [[{ subnet: SUBNET, gateway: GATEWAY }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'berth-loopback' },
        { type: 'berth-dns', domainName: DOMAIN, stateDir, capabilities: { aliases: true } },
      ],
    };
    writeFileSync(join(confDir, `${NETWORK}.conflist`), `${JSON.stringify(conflist, null, 2)}\n`);
  }, SETUP_TIMEOUT_MS + 60_000);

  afterAll(() => {
    if (dir === '') return;
    if (skipReason) {
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const errors: string[] = [];
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    };
    // Each step tolerates "already gone": the tests normally removed these themselves.
    attempt('podman rm', () => {
      const r = run('podman', ['rm', '--force', '--ignore', '--time', '0', ...CONTAINERS], env, PODMAN_TIMEOUT_MS);
      if (r.code !== 0) throw new Error(r.stderr.trim());
    });
    attempt('podman network rm', () => {
      const r = run('podman', ['network', 'rm', '--force', NETWORK], env, PODMAN_TIMEOUT_MS);
      if (r.code !== 0 && !/network not found|unable to find network/i.test(r.stderr)) throw new Error(r.stderr.trim());
    });
    // Like the reference bridge, berth-bridge leaves the bridge and its (emptied) table for the next container.
    attempt('bridge', () => {
      if (linkExists(BRIDGE)) must('ip', ['link', 'del', 'dev', BRIDGE]);
    });
    attempt('nft table', () => {
      if (!hadBerthTable && berthTableExists()) must('nft', ['delete', 'table', 'inet', 'berth']);
    });
    // The daemon of the test's plugin copy hosts the name service and is not idle while it serves.
    attempt('name service', () => stopNameService(stateDir));
    attempt('berth daemon', () => {
      stopDaemons({ pluginDir: pluginDir() });
      // Checked here: the filter needs the folder, which goes next.
      const daemons = runningDaemons({ pluginDir: pluginDir() });
      if (daemons.length > 0) throw new Error(`left behind: berth daemon ${daemons.map((d) => d.pid).join(', ')}`);
    });
    attempt('forwarding', () => {
      if (readFileSync(FORWARDING, 'utf8').trim() !== forwardingBefore) writeFileSync(FORWARDING, forwardingBefore);
    });
    attempt('temp dir', () => rmSync(dir, { recursive: true, force: true }));

    const left: string[] = [];
    for (const c of CONTAINERS)
      if (run('podman', ['container', 'exists', c], env).code === 0) left.push(`container ${c}`);
    if (linkExists(BRIDGE)) left.push(`link ${BRIDGE}`);
    const vethsOnBridge = must('ip', ['-o', 'link', 'show'])
      .split('\n')
      .filter((l) => l.includes(`master ${BRIDGE} `));
    left.push(...vethsOnBridge.map((l) => `link on the bridge: ${l.trim()}`));
    if (!hadBerthTable) left.push(...berthRuleLines().map((l) => `nft: ${l.trim()}`));
    else if (must('nft', ['list', 'ruleset']).includes('10.99.0.')) left.push(`nft: addresses of ${SUBNET} remain`);
    left.push(...cachedResults().map((f) => `libcni cache: ${f}`));
    if (readFileSync(FORWARDING, 'utf8').trim() !== forwardingBefore) left.push(`${FORWARDING} not restored`);
    for (const ns of sandboxes) if (existsSync(ns)) left.push(`netns ${ns}`);
    if (existsSync(dir)) left.push(`dir ${dir}`);
    const service = runningService(serviceFiles(stateDir));
    if (service !== undefined) left.push(`name service ${service}`);
    if (errors.length > 0 || left.length > 0) {
      throw new Error(`podman test cleanup: ${[...errors, ...left.map((l) => `left behind: ${l}`)].join('; ')}`);
    }
  }, 5 * PODMAN_TIMEOUT_MS);

  interface Started {
    readonly name: string;
    readonly ip: string;
    readonly sandbox: string;
  }
  const started: Started[] = [];

  it('two containers get addresses on the berth network and reach each other', (ctx) => {
    ctx.skip(skipReason !== undefined, skipReason);
    const nets = JSON.parse(podman(['network', 'ls', '--format', 'json'])) as { name: string; driver: string }[];
    expect(nets.find((n) => n.name === NETWORK)).toMatchObject({ driver: 'berth-bridge' });

    for (const name of PAIR) {
      podman([
        'run',
        '--detach',
        '--name',
        name,
        '--network',
        NETWORK,
        IMAGE,
        'httpd',
        '-f',
        '-p',
        '8080',
        '-h',
        '/www',
      ]);
      const ip = podman(['inspect', name, '--format', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`]);
      const sandbox = podman(['inspect', name, '--format', '{{.NetworkSettings.SandboxKey}}']).trim();
      started.push({ name, ip: ip.trim(), sandbox });
      sandboxes.push(sandbox);
    }
    const [a, b] = started as [Started, Started];
    expect([a.ip, b.ip]).toEqual([
      expect.stringMatching(/^10\.99\.0\.\d+$/),
      expect.stringMatching(/^10\.99\.0\.\d+$/),
    ]);
    expect(a.ip).not.toBe(b.ip);
    expect(a.sandbox).toMatch(/^\/run\/netns\/netns-/);

    // What berth-bridge and berth-loopback did inside the container.
    const inA = podman(['exec', a.name, 'ip', '-o', 'addr', 'show']);
    expect(inA).toMatch(new RegExp(`eth0\\s+inet ${a.ip.replaceAll('.', '\\.')}/24`));
    expect(inA).toMatch(/lo\s+inet 127\.0\.0\.1\/8/);
    expect(podman(['exec', a.name, 'ip', 'route', 'show', 'default'])).toContain(`default via ${GATEWAY} dev eth0`);
    // In the root netns: the bridge with the gateway, both host veths on it, the masquerade entries.
    expect(must('ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE])).toContain(`inet ${GATEWAY}/24`);
    const onBridge = must('ip', ['-o', 'link', 'show', 'master', BRIDGE]).trim().split('\n');
    expect(onBridge).toHaveLength(2);
    const table = must('nft', ['list', 'table', 'inet', 'berth']);
    expect(table).toContain(a.ip);
    expect(table).toContain(b.ip);
    // IPAM kept host-local's layout in the test's dataDir.
    expect(
      readdirSync(join(dataDir, NETWORK))
        .filter((f) => f.startsWith('10.'))
        .sort(),
    ).toEqual([a.ip, b.ip].sort());

    // Container to container, both ways, ICMP and TCP.
    podman(['exec', a.name, 'ping', '-c', '1', '-W', '2', b.ip]);
    podman(['exec', b.name, 'ping', '-c', '1', '-W', '2', a.ip]);
    expect(podman(['exec', a.name, 'wget', '-q', '-O', '-', `http://${b.ip}:8080/`])).toBe(PAGE);
  });

  it('the host reaches a container by its address', async (ctx) => {
    ctx.skip(skipReason !== undefined, skipReason);
    expect(started).toHaveLength(2);
    const b = started[1]!;
    must('ping', ['-c', '1', '-W', '2', b.ip]);
    const body = await eventually(20, 250, () => httpGet(b.ip, 8080, 3000));
    expect(body).toBe(PAGE);
  });

  it('a container reaches another by its name: podman passes K8S_POD_NAME, berth-dns answers it', async (ctx) => {
    ctx.skip(skipReason !== undefined, skipReason);
    podman(['run', '--detach', '--name', WEB, '--network', NETWORK, IMAGE, 'httpd', '-f', '-p', '8080', '-h', '/www']);
    const ip = podman([
      'inspect',
      WEB,
      '--format',
      `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`,
    ]).trim();
    sandboxes.push(podman(['inspect', WEB, '--format', '{{.NetworkSettings.SandboxKey}}']).trim());
    // podman writes the container's resolv.conf from the CNI result's dns.
    const resolv = podman(['exec', WEB, 'cat', '/etc/resolv.conf']);
    expect(resolv).toContain(`nameserver ${GATEWAY}\n`);
    expect(resolv).toMatch(new RegExp(`^search .*\\b${DOMAIN.replace('.', '\\.')}\\b`, 'm'));
    expect(new NamesStore(join(stateDir, 'names')).networks()).toEqual([NETWORK]);

    // httpd may still be starting. Debian 12's busybox 1.35 wget dies of SIGSEGV with -T (even on
    // loopback, outside any container), so busybox's timeout bounds each try instead.
    const body = await eventually(5, 500, () =>
      podman([
        'run',
        '--rm',
        '--name',
        CLIENT,
        '--network',
        NETWORK,
        IMAGE,
        'timeout',
        '5',
        'wget',
        '-q',
        '-O',
        '-',
        `http://${WEB}:8080/`,
      ]),
    );
    expect(body).toBe(PAGE);
    expect(podman(['exec', `${NETWORK}-a`, 'nslookup', WEB, GATEWAY])).toContain(ip);
  });

  it('podman rm runs DEL: the veths, the addresses and the rules of the containers are gone', (ctx) => {
    ctx.skip(skipReason !== undefined, skipReason);
    expect(started).toHaveLength(2);
    // The client ran with --rm and is gone already.
    podman(['rm', '--force', '--ignore', '--time', '0', ...CONTAINERS]);
    for (const c of started) expect(existsSync(c.sandbox), c.sandbox).toBe(false);
    expect(must('ip', ['-o', 'link', 'show', 'master', BRIDGE]).trim()).toBe('');
    expect(readdirSync(join(dataDir, NETWORK)).filter((f) => f.startsWith('10.'))).toEqual([]);
    expect(readdirSync(join(stateDir, 'firewall')).filter((f) => f.endsWith('.json'))).toEqual([]);
    const table = berthTableExists() ? must('nft', ['list', 'table', 'inet', 'berth']) : '';
    for (const c of started) expect(table).not.toContain(c.ip);
    // DEL removed the names with the endpoints.
    expect(new NamesStore(join(stateDir, 'names')).networks()).toEqual([]);

    podman(['network', 'rm', NETWORK]);
    const nets = JSON.parse(podman(['network', 'ls', '--format', 'json'])) as { name: string }[];
    expect(nets.map((n) => n.name)).not.toContain(NETWORK);
  });
});
