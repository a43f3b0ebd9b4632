/**
 * berth as a user installs it: `npm pack` (its prepack builds dist/ and the binding's prebuild) in a
 * copy of this source tree, `npm install -g --ignore-scripts` of the tarball into a temp prefix, the
 * `berth` command from there; then ADD, traffic and DEL through libcni with plugins that
 * `berth install-plugins` installed, and with plain copies of dist/cni/* (this tree's build and the
 * package's), each alone on CNI_PATH. The plugins run in a netns that plays the host. The temp
 * folder (copy, tarball, prefix, plugin folders) goes at the end.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CniWorkspace, cnitool, DIST_CNI, ROOT, runCnitool } from '../helpers/cni.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const PACK_TIMEOUT_MS = 5 * 60_000;
const RUN_TIMEOUT_MS = 60_000;
const NET = 'bt-inst';
const SUBNET = '10.79.0.0/24';
const BINDING = 'berth_netlink.node';
const PREBUILD = `netlink/prebuilds/${process.platform}-${process.arch}/node.napi.glibc.node`;
/** Left out of the copy that is packed: what a clone does not have, and what its build makes. */
const NOT_COPIED = new Set(['.git', 'node_modules', 'dist', 'netlink/build', 'netlink/prebuilds']);

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(command, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? RUN_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runOk(command: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): string {
  const r = run(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** `npm pack` in a copy of this tree (with its node_modules linked in), as a clone would pack; the tarball's path. */
function pack(temp: string): string {
  const source = join(temp, 'source');
  cpSync(ROOT, source, {
    recursive: true,
    filter: (from) => {
      const rel = relative(ROOT, from);
      return !NOT_COPIED.has(rel) && !rel.startsWith('.dist-') && !rel.endsWith('.tgz');
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  runOk('npm', ['pack', '--pack-destination', temp], { cwd: source, timeoutMs: PACK_TIMEOUT_MS });
  const tarballs = readdirSync(temp).filter((f) => /^berth-.*\.tgz$/.test(f));
  expect(tarballs).toHaveLength(1);
  return join(temp, tarballs[0]!);
}

/** Every file of dir copied into a new folder, as `cp dir/* to/` does. */
function plainCopy(dir: string, to: string): string {
  mkdirSync(to);
  for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(to, f));
  return to;
}

describe.skipIf(notRoot)(kernelSuite('berth packed, installed with npm, and its plugins'), () => {
  const netns = new TestNetns();
  const workspaces: CniWorkspace[] = [];
  let temp: string;
  let tarball: string;
  /** The installed package's folder and the `berth` npm linked into the prefix's bin. */
  let pkg: string;
  let berth: string;

  beforeAll(() => {
    TestNetns.removeStale();
    cnitool();
    temp = mkdtempSync(join(tmpdir(), 'berth-install-'));
    tarball = pack(temp);
    const prefix = join(temp, 'prefix');
    runOk(
      'npm',
      [
        'install',
        '--global',
        '--ignore-scripts',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        tarball,
      ],
      { timeoutMs: PACK_TIMEOUT_MS },
    );
    pkg = join(prefix, 'lib', 'node_modules', 'berth');
    berth = join(prefix, 'bin', 'berth');
  }, 2 * PACK_TIMEOUT_MS);

  afterEach(() => {
    for (const ws of workspaces.splice(0)) ws.remove();
    netns.cleanup();
  });
  afterAll(() => {
    netns.cleanup();
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  it('packs the bundles, the binding beside the plugins and its prebuild, and no tests or build sources', () => {
    const files = runOk('tar', ['-tzf', tarball])
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/bin/berth',
        'dist/cni/berth',
        'dist/cni/berth-bridge',
        'dist/cni/berth-ipam',
        'dist/cni/berth-loopback',
        'dist/cni/berth-portmap',
        'dist/cni/berth-bridge.js',
        'dist/cni/berth-daemon.js',
        `dist/cni/${BINDING}`,
        'dist/lib/index.js',
        'dist/types/index.d.ts',
        'netlink/binding.gyp',
        'netlink/src/binding.cc',
        PREBUILD,
      ]),
    );
    const unwanted = files.filter(
      (f) =>
        /^(test|bench|scripts|docs|\.ci)\/|^dist\/(bench|native)\/|testdata|\.test\.|\.tgz$/.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    expect(unwanted).toEqual([]);
  });

  it('installs a `berth` that runs with the node on PATH, and its library', () => {
    const help = run(berth, ['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('install-plugins');
    const lib = run(process.execPath, [
      '--input-type=module',
      '-e',
      `const { Controller } = await import(${JSON.stringify(join(pkg, 'dist', 'lib', 'index.js'))}); console.log(typeof Controller.open);`,
    ]);
    expect([lib.code, lib.stdout.trim()], lib.stderr).toEqual([0, 'function']);
  });

  /** A netns playing the host, its state and IPAM folders, and a conflist of berth-bridge (berth-ipam) and berth-loopback. */
  async function network(): Promise<{ host: TestNs; ws: CniWorkspace }> {
    const host = await netns.create('host');
    const ws = new CniWorkspace('install');
    workspaces.push(ws);
    ws.writeConflist({
      cniVersion: '1.0.0',
      name: NET,
      plugins: [
        {
          type: 'berth-bridge',
          bridge: 'btinst0',
          isGateway: true,
          ipMasq: true,
          stateDir: join(ws.dir, 'state'),
          ipam: {
            type: 'berth-ipam',
            dataDir: join(ws.dir, 'ipam'),
            ranges: [[{ subnet: SUBNET }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'berth-loopback' },
      ],
    });
    return { host, ws };
  }

  const interfacesIn = (ns: TestNs) => netns.ipJson<{ ifname: string }[]>(ns, ['link', 'show']).map((l) => l.ifname);

  /** Two containers ADDed through cnitool with only `dir` on CNI_PATH, a ping each way, both DELeted. */
  async function addPingDel(dir: string): Promise<void> {
    const { host, ws } = await network();
    const containers = [await netns.create('c1'), await netns.create('c2')];
    const opts = (id: string) => ws.options({ containerId: id, hostNetns: host.path, cniPath: [dir] });
    const addresses: string[] = [];
    for (const [i, c] of containers.entries()) {
      const add = runCnitool('add', NET, c.path, opts(`ctr${i}`));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const ip = (add.json as { ips: { address: string }[] }).ips[0]!.address;
      addresses.push(ip.split('/')[0]!);
    }
    expect(addresses).toEqual(['10.79.0.2', '10.79.0.3']);
    netns.exec(containers[0]!, ['ping', '-c1', '-W2', addresses[1]!]);
    netns.exec(containers[1]!, ['ping', '-c1', '-W2', addresses[0]!]);
    for (const [i, c] of containers.entries()) {
      const del = runCnitool('del', NET, c.path, opts(`ctr${i}`));
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
      expect(interfacesIn(c)).toEqual(['lo']);
    }
    expect(interfacesIn(host).sort()).toEqual(['btinst0', 'lo']);
    expect(readdirSync(join(ws.dir, 'ipam', NET)).filter((f) => /^\d/.test(f))).toEqual([]);
  }

  it('ADD, traffic and DEL through cnitool with the plugins `berth install-plugins` installed', async () => {
    const dir = join(temp, 'installed');
    const r = run(berth, ['install-plugins', '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    // The binding this berth loads, the package's prebuild (the package has no dist/native).
    expect(readFileSync(join(dir, BINDING))).toEqual(readFileSync(join(pkg, PREBUILD)));
    // The client as it was built; the bundle it runs in-process (and the daemon's) with this node.
    expect(readFileSync(join(dir, 'berth-bridge'))).toEqual(readFileSync(join(pkg, 'dist', 'cni', 'berth-bridge')));
    for (const bundle of ['berth-bridge.js', 'berth-daemon.js']) {
      expect(readFileSync(join(dir, bundle), 'utf8').split('\n')[0]).toContain(process.execPath);
    }
    await addPingDel(dir);
  });

  it.each([
    ['this tree', () => DIST_CNI],
    ['the installed package', () => join(pkg, 'dist', 'cni')],
  ])('ADD, traffic and DEL through cnitool with a plain copy of dist/cni/* of %s', async (label, from) => {
    const source = from();
    expect(existsSync(join(source, BINDING)), `${source} has the binding`).toBe(true);
    const dir = plainCopy(source, join(temp, `copy-${label.replace(/\W+/g, '-')}`));
    // Nothing of the package or of this tree is on the way up from the copy.
    expect(existsSync(join(dirname(dir), 'node_modules'))).toBe(false);
    await addPingDel(dir);
  });
});
