/**
 * The built berth-ipam executable as a runtime (or a main plugin) runs it, and
 * side by side with the reference host-local on one data dir. No root needed:
 * an IPAM plugin touches no netns, only its files and their flock.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { binding } from '../../base/binding.js';
import { type PluginInvocation, type ProcessRun, REFERENCE_CNI, runPlugin } from '../../test/helpers/cni.js';
import { stopDaemons } from '../../test/helpers/daemon.js';
import { type BuiltIpam, builtIpam } from './built.js';

const HOST_LOCAL = join(REFERENCE_CNI, 'host-local');
const haveHostLocal = existsSync(HOST_LOCAL);
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let built: BuiltIpam;
let dir: string;
let dataDir: string;

beforeAll(() => {
  built = builtIpam();
});
afterAll(() => {
  stopDaemons({ pluginDir: built.cniDir });
  rmSync(built.root, { recursive: true, force: true });
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-ipam-e2e-data-'));
  dataDir = join(dir, 'data');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;

function conf(version: string, ipam: Json = {}, extra: Json = {}): Json {
  return {
    cniVersion: version,
    name: 'e2enet',
    type: 'bridge',
    ipam: { type: 'berth-ipam', dataDir, ranges: [[{ subnet: '10.60.0.0/29' }]], ...ipam },
    ...extra,
  };
}

const berth = (inv: PluginInvocation, config: Json | string, env: Record<string, string> = {}): ProcessRun =>
  runPlugin(built.exe, { path: [built.cniDir, REFERENCE_CNI], ...inv }, config, { env });
const hostLocal = (inv: PluginInvocation, config: Json): ProcessRun => runPlugin(HOST_LOCAL, inv, config);
const netDir = () => join(dataDir, 'e2enet');
/** The reservation files: everything but the lock, last_reserved_ip.* and temp files. */
const reservations = () =>
  readdirSync(netDir())
    .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.') && !f.startsWith('.'))
    .sort();

describe('berth-ipam executable', () => {
  it('answers VERSION in the config version with every version it speaks', () => {
    for (const v of ['1.1.0', '1.0.0', '0.4.0']) {
      const r = berth({ command: 'VERSION', containerId: '', ifname: '' }, { cniVersion: v });
      expect(r.code).toBe(0);
      expect(r.json).toEqual({ cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    }
  });

  it('says what it is when run by hand', () => {
    const r = berth({ command: '', containerId: '', ifname: '' }, '');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('berth-ipam');
    expect(r.stderr).toContain('CNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
    expect(r.json).toMatchObject({ code: 4, msg: 'CNI_COMMAND is not set' });
  });

  describe.each([
    ['1.1.0', { address: '10.60.0.2/29', gateway: '10.60.0.1' }, [{ dst: '0.0.0.0/0', gw: '10.60.0.1', table: 7 }]],
    ['1.0.0', { address: '10.60.0.2/29', gateway: '10.60.0.1' }, [{ dst: '0.0.0.0/0', gw: '10.60.0.1' }]],
    ['0.4.0', { version: '4', address: '10.60.0.2/29', gateway: '10.60.0.1' }, [{ dst: '0.0.0.0/0', gw: '10.60.0.1' }]],
  ])('cniVersion %s', (version, ip, routes) => {
    const c = (extra: Json = {}) => conf(version, { routes: [{ dst: '0.0.0.0/0', gw: '10.60.0.1', table: 7 }] }, extra);

    it('ADD, CHECK, DEL, DEL again; CHECK after DEL fails naming the attachment', () => {
      const add = berth({ command: 'ADD', containerId: 'c1', netns: '/var/run/netns/c1' }, c());
      expect(add.stderr).toBe('');
      expect(add.code).toBe(0);
      expect(add.json).toEqual({ cniVersion: version, ips: [ip], routes });
      expect(readFileSync(join(netDir(), '10.60.0.2'), 'utf8')).toBe('c1\r\neth0');

      const check = berth(
        { command: 'CHECK', containerId: 'c1', netns: '/var/run/netns/c1' },
        c({ prevResult: add.json }),
      );
      expect([check.code, check.stdout]).toEqual([0, '']);

      // DEL without CNI_NETNS: the runtime may have lost the netns already.
      const del = berth({ command: 'DEL', containerId: 'c1' }, c());
      expect([del.code, del.stdout]).toEqual([0, '']);
      expect(reservations()).toEqual([]);
      expect(berth({ command: 'DEL', containerId: 'c1' }, c()).code).toBe(0);

      const stale = berth(
        { command: 'CHECK', containerId: 'c1', netns: '/var/run/netns/c1' },
        c({ prevResult: add.json }),
      );
      expect(stale.code).toBe(1);
      expect(stale.json).toMatchObject({
        cniVersion: version,
        code: 3,
        msg: expect.stringContaining('container c1 (eth0) holds no address'),
      });
    });
  });

  it('GC (1.1.0) releases what is not a valid attachment', () => {
    for (const id of ['keep', 'drop'])
      expect(berth({ command: 'ADD', containerId: id, netns: '/x' }, conf('1.1.0')).code).toBe(0);
    const gc = berth(
      { command: 'GC', containerId: '', ifname: '' },
      conf('1.1.0', {}, { 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }),
    );
    expect(gc.code).toBe(0);
    expect(gc.stdout).toBe('');
    expect(gc.stderr).toBe('released 10.60.0.3 of container drop (eth0): not a valid attachment\n');
    expect(reservations()).toEqual(['10.60.0.2']);
  });

  it('refuses GC and STATUS in a 1.0.0 config, which has neither', () => {
    for (const command of ['GC', 'STATUS']) {
      const r = berth({ command, containerId: '', ifname: '' }, conf('1.0.0', {}, { 'cni.dev/valid-attachments': [] }));
      expect(r.json).toMatchObject({
        cniVersion: '1.0.0',
        code: 1,
        msg: `config version "1.0.0" does not allow ${command}`,
      });
    }
  });

  it('DEL and GC without a data dir succeed and create none', () => {
    expect(berth({ command: 'DEL', containerId: 'c1' }, conf('1.1.0')).code).toBe(0);
    expect(
      berth({ command: 'GC', containerId: '', ifname: '' }, conf('1.1.0', {}, { 'cni.dev/valid-attachments': [] }))
        .code,
    ).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('errors from the executable', () => {
  it('exhausted range: ADD fails with code 100 and STATUS with code 50, both saying how many are taken', () => {
    const small = conf('1.1.0', { ranges: [[{ subnet: '10.60.0.0/30' }]] }); // .2 only: .1 is the gateway
    expect(berth({ command: 'STATUS', containerId: '', ifname: '' }, small).code).toBe(0);
    expect(berth({ command: 'ADD', containerId: 'c1', netns: '/x' }, small).code).toBe(0);
    const add = berth({ command: 'ADD', containerId: 'c2', netns: '/x' }, small);
    expect(add.code).toBe(1);
    expect(add.json).toMatchObject({
      code: 100,
      msg: 'no free address in range set 0 (10.60.0.0/30 (10.60.0.1-10.60.0.2)): all 1 address is taken',
    });
    const status = berth({ command: 'STATUS', containerId: '', ifname: '' }, small);
    expect(status.json).toMatchObject({
      code: 50,
      msg: 'network e2enet has no free address: range set 0 (10.60.0.0/30 (10.60.0.1-10.60.0.2)) has all 1 taken',
    });
    expect(berth({ command: 'DEL', containerId: 'c1' }, small).code).toBe(0);
    expect(berth({ command: 'STATUS', containerId: '', ifname: '' }, small).code).toBe(0);
  });

  it('invalid range: code 7 naming it', () => {
    const r = berth(
      { command: 'ADD', containerId: 'c1', netns: '/x' },
      conf('1.0.0', { ranges: [[{ subnet: '10.60.0.0/24', rangeStart: '10.61.0.5' }]] }),
    );
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      code: 7,
      msg: 'ipam.ranges[0][0].rangeStart 10.61.0.5 is outside the subnet 10.60.0.0/24',
      details: expect.stringContaining('10.60.0.1'),
    });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('lock held by another process: code 11 after ipam.lockTimeoutMs, and nothing reserved', () => {
    mkdirSync(netDir(), { recursive: true });
    const fd = openSync(join(netDir(), 'lock'), 'a');
    try {
      binding().flock(fd, true, 1000);
      const r = berth({ command: 'ADD', containerId: 'c1', netns: '/x' }, conf('1.1.0', { lockTimeoutMs: 300 }));
      expect(r.json).toMatchObject({
        code: 11,
        msg: `timed out after 300 ms waiting for the IPAM lock ${join(netDir(), 'lock')}`,
      });
    } finally {
      closeSync(fd);
    }
    expect(reservations()).toEqual([]);
  });

  it('STATUS: code 50 when the plugin cannot write in the data dir', () => {
    mkdirSync(netDir(), { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    chmodSync(dataDir, 0o755);
    // The lock is open to all, so only the folder refuses; the plugin must notice before an ADD does.
    writeFileSync(join(netDir(), 'lock'), '', { mode: 0o666 });
    chmodSync(join(netDir(), 'lock'), 0o666);
    if (!isRoot) chmodSync(netDir(), 0o555);
    const r = statusAs(isRoot ? NOBODY : undefined, conf('1.1.0'));
    expect(r.json).toMatchObject({
      code: 50,
      msg: expect.stringMatching(new RegExp(`^the IPAM data dir ${netDir()} cannot be written: EACCES`)),
    });
    chmodSync(netDir(), 0o755);
  });
});

/** STATUS of berth-ipam as another user (root runs it as nobody), so file permissions apply to it. */
function statusAs(uid: number | undefined, config: Json): ProcessRun {
  if (uid === undefined) return berth({ command: 'STATUS', containerId: '', ifname: '' }, config);
  const r = spawnSync(built.exe, [], {
    env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'STATUS' },
    input: JSON.stringify(config),
    encoding: 'utf8',
    uid,
    gid: uid,
    timeout: 30_000,
  });
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json: r.stdout ? JSON.parse(r.stdout) : undefined,
  };
}

describe.skipIf(!haveHostLocal)(
  `berth-ipam and host-local on one data dir${haveHostLocal ? '' : ` [skipped: no ${HOST_LOCAL}]`}`,
  () => {
    // host-local 1.1.x speaks up to 1.0.0; both get the same config, dual stack to share both last_reserved_ip files.
    const shared = () =>
      conf('1.0.0', { type: 'host-local', ranges: [[{ subnet: '10.61.0.0/29' }], [{ subnet: 'fd00:61::/125' }]] });
    const add = (who: 'berth' | 'host-local', id: string): string[] => {
      const run = who === 'berth' ? berth : hostLocal;
      const r = run({ command: 'ADD', containerId: id, netns: `/var/run/netns/${id}` }, shared());
      expect(r.code, `${who} ADD ${id}: ${r.stdout}${r.stderr}`).toBe(0);
      return (r.json as { ips: { address: string }[] }).ips.map((i) => i.address);
    };
    const del = (who: 'berth' | 'host-local', id: string) => {
      const run = who === 'berth' ? berth : hostLocal;
      const r = run({ command: 'DEL', containerId: id, netns: `/var/run/netns/${id}` }, shared());
      expect(r.code, `${who} DEL ${id}: ${r.stdout}${r.stderr}`).toBe(0);
    };

    it('host-local first, then berth: round robin continues, no address twice, DEL by either frees the other', () => {
      expect(add('host-local', 'h1')).toEqual(['10.61.0.2/29', 'fd00:61::2/125']);
      expect(add('berth', 'b1')).toEqual(['10.61.0.3/29', 'fd00:61::3/125']);
      expect(add('host-local', 'h2')).toEqual(['10.61.0.4/29', 'fd00:61::4/125']);
      expect(readFileSync(join(netDir(), '10.61.0.3'), 'utf8')).toBe(
        readFileSync(join(netDir(), '10.61.0.2'), 'utf8').replace('h1', 'b1'),
      );

      // Each one's CHECK sees the other's reservation.
      const hlCheck = hostLocal(
        { command: 'CHECK', containerId: 'b1', netns: '/x' },
        { ...shared(), prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.61.0.3/29' }] } },
      );
      expect(hlCheck.code, hlCheck.stdout).toBe(0);
      const bCheck = berth(
        { command: 'CHECK', containerId: 'h2', netns: '/x' },
        {
          ...shared(),
          prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.61.0.4/29' }, { address: 'fd00:61::4/125' }] },
        },
      );
      expect(bCheck.code, bCheck.stdout).toBe(0);

      del('berth', 'h1');
      del('host-local', 'b1');
      expect(reservations()).toEqual(['10.61.0.4', 'fd00:61::4']);
      // Freed addresses come back only after the range has been walked, whoever walks it.
      expect(add('berth', 'b2')).toEqual(['10.61.0.5/29', 'fd00:61::5/125']);
      expect(add('host-local', 'h3')).toEqual(['10.61.0.6/29', 'fd00:61::6/125']);
      expect(add('berth', 'b3')).toEqual(['10.61.0.2/29', 'fd00:61::7/125']);
      expect(add('host-local', 'h4')).toEqual(['10.61.0.3/29', 'fd00:61::2/125']);
      // 10.61.0.0/29 is full now: both refuse, neither hands out a taken address.
      expect(berth({ command: 'ADD', containerId: 'b4', netns: '/x' }, shared()).json).toMatchObject({ code: 100 });
      const hlFull = hostLocal({ command: 'ADD', containerId: 'h5', netns: '/x' }, shared());
      expect(hlFull.code).toBe(1);
      expect(hlFull.stdout).toContain('no IP addresses available in range set');
      expect(reservations()).toEqual([
        '10.61.0.2',
        '10.61.0.3',
        '10.61.0.4',
        '10.61.0.5',
        '10.61.0.6',
        'fd00:61::2',
        'fd00:61::4',
        'fd00:61::5',
        'fd00:61::6',
        'fd00:61::7',
      ]);
    });

    it('berth first, then host-local: host-local honours berth files and last_reserved_ip', () => {
      expect(add('berth', 'b1')).toEqual(['10.61.0.2/29', 'fd00:61::2/125']);
      expect(add('berth', 'b2')).toEqual(['10.61.0.3/29', 'fd00:61::3/125']);
      del('berth', 'b1');
      expect(add('host-local', 'h1')).toEqual(['10.61.0.4/29', 'fd00:61::4/125']);
      del('host-local', 'b2');
      expect(add('host-local', 'h2')).toEqual(['10.61.0.5/29', 'fd00:61::5/125']);
      expect(add('berth', 'b3')).toEqual(['10.61.0.6/29', 'fd00:61::6/125']);
      expect(reservations()).toEqual(['10.61.0.4', '10.61.0.5', '10.61.0.6', 'fd00:61::4', 'fd00:61::5', 'fd00:61::6']);
      // berth's GC collects host-local's reservations like its own.
      const gc = berth(
        { command: 'GC', containerId: '', ifname: '' },
        { ...shared(), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'h2', ifname: 'eth0' }] },
      );
      expect(gc.code).toBe(0);
      expect(reservations()).toEqual(['10.61.0.5', 'fd00:61::5']);
    });

    it('host-local waits while berth holds the lock: the two share one flock', async () => {
      mkdirSync(netDir(), { recursive: true });
      const fd = openSync(join(netDir(), 'lock'), 'a');
      let closed = false;
      try {
        binding().flock(fd, true, 1000);
        const child = spawn(HOST_LOCAL, [], {
          env: {
            PATH: '/usr/bin:/bin',
            CNI_COMMAND: 'ADD',
            CNI_CONTAINERID: 'h1',
            CNI_NETNS: '/x',
            CNI_IFNAME: 'eth0',
            CNI_PATH: REFERENCE_CNI,
          },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
        });
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        child.stdin.end(JSON.stringify(shared()));
        const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r('waiting'), 500))]);
        expect(early).toBe('waiting');
        expect(existsSync(join(netDir(), '10.61.0.2'))).toBe(false);
        closeSync(fd);
        closed = true;
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        expect(await exited).toBe(0);
        clearTimeout(timer);
        expect(JSON.parse(out).ips[0].address).toBe('10.61.0.2/29');
      } finally {
        if (!closed) closeSync(fd);
      }
    });
  },
);
