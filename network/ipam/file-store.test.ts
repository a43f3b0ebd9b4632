import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { binding } from '../../base/binding.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { Allocator } from './allocator.js';
import { FileStore, parseReservationFile, reservationFileContent } from './file-store.js';
import { parseRangeSet, type RangeSet } from './range.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = join(here, 'testdata', 'host-local', 'hostnet');
const BINDING = join(here, '..', '..', 'netlink', 'build', 'Release', 'berth_netlink.node');

const v4 = parseRangeSet([{ subnet: '10.0.0.0/24' }], 'v4');
const v6 = parseRangeSet([{ subnet: 'fd00::/64' }], 'v6');
const hostnetSets: RangeSet[] = [
  parseRangeSet([{ subnet: '10.77.0.0/28' }], 'ipam.ranges[0]'),
  parseRangeSet([{ subnet: 'fd00:77::/124' }], 'ipam.ranges[1]'),
];

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'berth-ipam-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;
const umasked = (m: number) => {
  const mask = process.umask();
  return m & ~mask;
};

async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected the promise to reject');
}

describe('reservation file format', () => {
  it('writes "<id>\\r\\n<ifname>" and reads it, the ID-only form and stray whitespace', () => {
    expect(reservationFileContent(' abc ', 'eth0')).toBe('abc\r\neth0');
    expect(parseReservationFile('abc\r\neth0')).toEqual({ containerID: 'abc', ifname: 'eth0' });
    expect(parseReservationFile('abc\r\neth0\n')).toEqual({ containerID: 'abc', ifname: 'eth0' });
    expect(parseReservationFile('abc\n')).toEqual({ containerID: 'abc', ifname: '' });
    expect(parseReservationFile('abc\neth1')).toEqual({ containerID: 'abc', ifname: 'eth1' });
  });
});

describe('FileStore on disk', () => {
  it("lays out files exactly as host-local's backend does", async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4, v6]);
    await a.allocate('abc123', 'eth0');
    const dir = join(dataDir, 'mynet');
    expect(readdirSync(dir).sort()).toEqual([
      '10.0.0.2',
      'fd00::2',
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
    expect(readFileSync(join(dir, '10.0.0.2'))).toEqual(Buffer.from('abc123\r\neth0'));
    expect(readFileSync(join(dir, 'fd00::2'))).toEqual(Buffer.from('abc123\r\neth0'));
    expect(readFileSync(join(dir, 'last_reserved_ip.0'))).toEqual(Buffer.from('10.0.0.2'));
    expect(readFileSync(join(dir, 'last_reserved_ip.1'))).toEqual(Buffer.from('fd00::2'));
    expect(readFileSync(join(dir, 'lock'))).toEqual(Buffer.alloc(0));
    expect(mode(dir)).toBe(umasked(0o755));
    expect(mode(join(dir, '10.0.0.2'))).toBe(umasked(0o644));
    expect(mode(join(dir, 'last_reserved_ip.0'))).toBe(umasked(0o644));
    expect(mode(join(dir, 'lock'))).toBe(umasked(0o750));
  });

  it('writes IPv6 names in the canonical compressed form Go prints', async () => {
    const long = parseRangeSet([{ subnet: '2001:db8:0:0:1::/80', rangeStart: '2001:db8::1:0:0:9' }], 'v6');
    const a = new Allocator(new FileStore('n6', { dataDir }), [long]);
    expect((await a.allocate('c', 'eth0'))[0]!.ip).toBe('2001:db8::1:0:0:9');
    expect(existsSync(join(dataDir, 'n6', '2001:db8::1:0:0:9'))).toBe(true);
  });

  it('releases by ID on disk and is idempotent', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    await a.allocate('c2', 'eth0');
    expect(await a.release('c1', 'eth0')).toEqual(['10.0.0.2']);
    expect(await a.release('c1', 'eth0')).toEqual([]);
    expect(existsSync(join(dataDir, 'mynet', '10.0.0.2'))).toBe(false);
    expect(existsSync(join(dataDir, 'mynet', '10.0.0.3'))).toBe(true);
  });

  it('GC removes stale reservations and leftover temp files, and leaves lock and last_reserved_ip', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('keep', 'eth0');
    await a.allocate('drop', 'eth0');
    const dir = join(dataDir, 'mynet');
    writeFileSync(join(dir, '.berth-1-7.tmp'), 'drop\r\neth0');
    writeFileSync(join(dir, '.42.1765072800000.tmp'), '10.0.0.3'); // writeFileAtomic's, before and after it counted
    writeFileSync(join(dir, '.42.1765072800000.1z.tmp'), '10.0.0.3');
    writeFileSync(join(dir, 'notes.txt'), 'not a reservation');
    const released = await a.gc([{ containerID: 'keep', ifname: 'eth0' }]);
    expect(released).toEqual([{ ip: '10.0.0.3', containerID: 'drop', ifname: 'eth0' }]);
    expect(readdirSync(dir).sort()).toEqual(['10.0.0.2', 'last_reserved_ip.0', 'lock', 'notes.txt']);
  });

  it('takes a torn last_reserved_ip (a crash can leave one: it is not synced) as none', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    await a.allocate('c2', 'eth0');
    await a.release('c1', 'eth0');
    writeFileSync(join(dataDir, 'mynet', 'last_reserved_ip.0'), '10.0.');
    // With the hint (10.0.0.3) the search would go on at 10.0.0.4; without it, it starts over.
    expect((await a.allocate('c3', 'eth0'))[0]!.ip).toBe('10.0.0.2');
  });

  it('rejects a network name that is not one folder', () => {
    for (const name of ['', '..', 'a/b']) {
      expect(() => new FileStore(name, { dataDir }), name).toThrow(BerthError);
    }
  });

  it('fails with code 11 naming the lock when another holder keeps it, and goes on once it is free', async () => {
    const store = new FileStore('busy', { dataDir, lockTimeoutMs: 150 });
    const a = new Allocator(store, [v4]);
    await a.list(); // creates the folder and the lock file
    const fd = openSync(store.lockPath, 'r');
    try {
      binding().flock(fd, true, 0);
      const started = Date.now();
      const e = await rejection(a.allocate('c1', 'eth0'));
      expect(e.code).toBe(ErrorCode.TryAgainLater);
      expect(e.msg).toBe(`timed out after 150 ms waiting for the IPAM lock ${store.lockPath}`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      closeSync(fd);
    }
    expect((await a.allocate('c1', 'eth0'))[0]!.ip).toBe('10.0.0.2');
  });

  it('an error inside the transaction leaves as it is and frees the lock', async () => {
    const store = new FileStore('mynet', { dataDir, lockTimeoutMs: 200 });
    const boom = new BerthError(ErrorCode.TryAgainLater, 'from inside');
    await expect(
      store.transaction(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await store.transaction((tx) => tx.list())).toEqual([]);
  });
});

describe('a data directory written by host-local', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(dataDir, 'hostnet');
    cpSync(FIXTURE, dir, { recursive: true });
  });
  const allocator = () => new Allocator(new FileStore('hostnet', { dataDir }), hostnetSets);

  it('lists its reservations, the ID-only one included', async () => {
    expect(await allocator().list()).toEqual([
      { ip: '10.77.0.2', containerID: 'ctr-one', ifname: 'eth0' },
      { ip: '10.77.0.3', containerID: 'ctr-legacy', ifname: '' },
      { ip: '10.77.0.4', containerID: 'ctr-two', ifname: 'eth0' },
      { ip: 'fd00:77::2', containerID: 'ctr-one', ifname: 'eth0' },
    ]);
  });

  it('continues its round robin and never hands out its addresses again', async () => {
    const a = allocator();
    const first = await a.allocate('new-0', 'eth0');
    expect(first.map((x) => x.ip)).toEqual(['10.77.0.5', 'fd00:77::3']);
    const seen = first.map((x) => x.ip);
    // 13 IPv4 addresses in 10.77.0.0/28 besides the gateway; the fixture holds 3.
    for (let i = 1; i < 10; i++) seen.push(...(await a.allocate(`new-${i}`, 'eth0')).map((x) => x.ip));
    for (const held of ['10.77.0.2', '10.77.0.3', '10.77.0.4', 'fd00:77::2']) expect(seen).not.toContain(held);
    expect(new Set(seen).size).toBe(20);
    const e = await rejection(a.allocate('new-10', 'eth0'));
    expect(e.code).toBe(ErrorCode.RangeExhausted);
    expect(e.msg).toContain('all 13 addresses are taken');
  });

  it('names the host-local holder of a requested address', async () => {
    const e = await rejection(allocator().allocate('c', 'eth0', ['10.77.0.3']));
    expect(e.msg).toBe('requested IP 10.77.0.3 is already reserved by container ctr-legacy');
  });

  it('finds and releases its reservations by container ID and interface', async () => {
    const a = allocator();
    expect((await a.lookup('ctr-one', 'eth0')).map((x) => x.address)).toEqual(['10.77.0.2/28', 'fd00:77::2/124']);
    expect((await a.lookup('ctr-legacy', 'eth0')).map((x) => x.ip)).toEqual(['10.77.0.3']);
    expect(await a.release('ctr-one', 'eth0')).toEqual(['10.77.0.2', 'fd00:77::2']);
    expect(await a.release('ctr-legacy', 'eth0')).toEqual(['10.77.0.3']);
    expect(readdirSync(dir).sort()).toEqual(['10.77.0.4', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
  });
});

describe('concurrent allocation', () => {
  it('20 FileStore instances over one folder, allocating at once, get 20 distinct addresses', async () => {
    const got = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new Allocator(new FileStore('shared', { dataDir }), [v4]).allocate(`c${i}`, 'eth0'),
      ),
    );
    const ips = got.map((g) => g[0]!.ip);
    expect(new Set(ips).size).toBe(20);
    const files = readdirSync(join(dataDir, 'shared')).filter((f) => f.startsWith('10.'));
    expect(files.sort()).toEqual([...ips].sort());
  });

  describe('across processes', () => {
    let bundleDir: string;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      bundleDir = mkdtempSync(join(tmpdir(), 'berth-ipam-bundle-'));
      await build({
        entryPoints: [join(here, 'index.ts')],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile: join(bundleDir, 'ipam.mjs'),
        logLevel: 'silent',
      });
      // Each child signals it is loaded, waits for the go file so all start together, then allocates.
      writeFileSync(
        join(bundleDir, 'child.mjs'),
        `import { existsSync } from 'node:fs';
import { Allocator, FileStore, parseRangeSet } from './ipam.mjs';
const [dataDir, network, prefix, count, goFile] = process.argv.slice(2);
const set = parseRangeSet([{ subnet: '10.0.0.0/24' }], 'child');
process.stdout.write('ready\\n');
const until = Date.now() + 20000;
while (!existsSync(goFile)) {
  if (Date.now() > until) process.exit(3);
  await new Promise((r) => setTimeout(r, 2));
}
const got = await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    new Allocator(new FileStore(network, { dataDir }), [set]).allocate(prefix + '-' + i, 'eth0'),
  ),
);
process.stdout.write(JSON.stringify(got.map((g) => g[0].ip)) + '\\n');
`,
      );
    });

    afterAll(() => {
      for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
      rmSync(bundleDir, { recursive: true, force: true });
    });

    it('child processes and this one allocating at once get distinct addresses', async () => {
      const goFile = join(dataDir, 'go');
      mkdirSync(join(dataDir, 'shared'), { recursive: true });
      const runs = Array.from({ length: 4 }, (_, i) => {
        const child = spawn(process.execPath, [join(bundleDir, 'child.mjs'), dataDir, 'shared', `p${i}`, '5', goFile], {
          env: { ...process.env, BERTH_BINDING: BINDING },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        let out = '';
        let err = '';
        let onReady: () => void = () => undefined;
        const ready = new Promise<void>((resolve) => {
          onReady = resolve;
        });
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready\n')) onReady();
        });
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
        });
        const done = new Promise<string[]>((resolve, reject) => {
          const timer = setTimeout(() => {
            if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
            reject(new Error(`child ${i} timed out; stderr: ${err}`));
          }, 30_000);
          child.on('exit', (code) => {
            clearTimeout(timer);
            if (code !== 0) reject(new Error(`child ${i} exited ${code}; stderr: ${err}`));
            else resolve(JSON.parse(out.split('\n')[1]!) as string[]);
          });
        });
        return { ready, done };
      });
      await Promise.all(runs.map((r) => r.ready));
      writeFileSync(goFile, '');
      const local = Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          new Allocator(new FileStore('shared', { dataDir }), [v4]).allocate(`local-${i}`, 'eth0'),
        ),
      );
      const fromChildren = (await Promise.all(runs.map((r) => r.done))).flat();
      const fromHere = (await local).map((g) => g[0]!.ip);
      const all = [...fromChildren, ...fromHere];
      expect(all).toHaveLength(30);
      expect(new Set(all).size).toBe(30);
      const files = readdirSync(join(dataDir, 'shared')).filter((f) => f.startsWith('10.'));
      expect(files.sort()).toEqual([...all].sort());
    });
  });
});

describe('FileStore holders cache', () => {
  const dir = () => join(dataDir, 'mynet');
  const pause = () => new Promise((r) => setTimeout(r, 20)); // past a coarse timestamp tick

  it('lives beside the folder, which keeps exactly the files host-local has', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    expect(readdirSync(dataDir).sort()).toEqual(['.mynet.berth-index', 'mynet']);
    expect(readdirSync(dir()).sort()).toEqual(['10.0.0.2', 'last_reserved_ip.0', 'lock']);
  });

  it('does not read the reservation files while the folder is as it left it', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    await a.allocate('c2', 'eth0');
    // A change of content in place does not change the folder: only a cache that was used misses it.
    writeFileSync(join(dir(), '10.0.0.2'), 'other\r\neth0');
    expect(await a.release('c1', 'eth0')).toEqual(['10.0.0.2']);
  });

  it('sees a reservation host-local made, and one it freed', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    await pause();
    writeFileSync(join(dir(), '10.0.0.9'), 'hl\r\neth0', { flag: 'wx' });
    expect((await rejection(a.allocate('hl', 'eth0'))).msg).toMatch(/already holds 10\.0\.0\.9/);
    await pause();
    unlinkSync(join(dir(), '10.0.0.2'));
    expect(await a.release('c1', 'eth0')).toEqual([]);
  });

  it('sees an address host-local freed and gave to another container', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    await pause();
    unlinkSync(join(dir(), '10.0.0.2'));
    writeFileSync(join(dir(), '10.0.0.2'), 'hl\r\neth0', { flag: 'wx' });
    expect((await rejection(a.allocate('hl', 'eth0'))).msg).toMatch(/already holds 10\.0\.0\.2/);
    expect((await a.allocate('c1', 'eth0'))[0]!.ip).toBe('10.0.0.3');
  });

  it('reads the files again when the cache is torn or from another folder', async () => {
    const a = new Allocator(new FileStore('mynet', { dataDir }), [v4]);
    await a.allocate('c1', 'eth0');
    const index = join(dataDir, '.mynet.berth-index');
    writeFileSync(index, readFileSync(index, 'utf8').slice(0, 20));
    expect((await rejection(a.allocate('c1', 'eth0'))).msg).toMatch(/already holds 10\.0\.0\.2/);
    rmSync(dir(), { recursive: true });
    expect((await a.allocate('c1', 'eth0'))[0]!.ip).toBe('10.0.0.2');
  });
});
