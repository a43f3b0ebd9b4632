/**
 * Throwaway network namespaces for kernel tests. Everything a kernel test does
 * happens inside these; the machine's own netns is never touched.
 *
 *   import { kernelSuite, notRoot, TestNetns } from '../helpers/netns.js';
 *
 *   describe.skipIf(notRoot)(kernelSuite('my feature'), () => {
 *     const netns = new TestNetns();
 *     afterEach(() => netns.cleanup());
 *
 *     it('...', async () => {
 *       const a = await netns.create('a');      // { name: 'bt-<pid>-<n>-a', path: '/run/netns/bt-<pid>-<n>-a' }, lo up
 *       const h = netns.handle(a);               // a NetlinkHandle inside it, closed by cleanup()
 *       netns.exec(a, ['ping', '-c1', '-W1', '10.0.0.2']);   // a command inside (ip netns exec), its stdout
 *       const links = netns.ipJson(a, ['link', 'show']);     // `ip -j` inside, parsed
 *       const h = await netns.host('host');      // a netns playing the host, h.stateDir and h.dataDir in a temp dir
 *     });
 *   });
 *
 * cleanup() closes the handles, stops the berth daemons that plugins started in
 * the namespaces, and deletes every namespace the instance made, and then the hosts' temp dirs,
 * even after a failed test; TestNetns.removeStale() deletes those a killed run left.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetlinkHandle } from '../../netlink/handle.js';
import { createNamedNetns, deleteNamedNetns, NETNS_DIR } from '../../netlink/netns.js';
import { stopDaemons } from './daemon.js';

export const notRoot = process.getuid?.() !== 0;

/** A describe() title that says why the suite was skipped. */
export function kernelSuite(title: string): string {
  return notRoot ? `${title} [skipped: kernel tests need root]` : title;
}

export interface TestNs {
  readonly name: string;
  readonly path: string;
}

/** A netns playing the host, and a temp dir for what berth keeps there: state in dir/state, IPAM in dir/ipam. */
export interface TestHost {
  readonly ns: TestNs;
  readonly dir: string;
  readonly stateDir: string;
  readonly dataDir: string;
}

const PREFIX = 'bt-';
const EXEC_TIMEOUT_MS = 15_000;
let counter = 0;

export class TestNetns {
  private readonly made: TestNs[] = [];
  private readonly handles: NetlinkHandle[] = [];
  private readonly dirs: string[] = [];

  /** A new namespace with lo up. label (short, [a-z0-9-]) makes failures readable. */
  async create(label = 'ns'): Promise<TestNs> {
    counter += 1;
    const name = `${PREFIX}${process.pid}-${counter}-${label}`;
    const path = createNamedNetns(name);
    const ns = { name, path };
    this.made.push(ns);
    await this.handle(ns).setLinkUp('lo');
    return ns;
  }

  /** A new namespace playing the host, with a temp dir for berth's state and IPAM; cleanup() removes both. */
  async host(label = 'host'): Promise<TestHost> {
    const ns = await this.create(label);
    const dir = mkdtempSync(join(tmpdir(), `berth-${label}-`));
    this.dirs.push(dir);
    return { ns, dir, stateDir: join(dir, 'state'), dataDir: join(dir, 'ipam') };
  }

  /** A NetlinkHandle inside ns; cleanup() closes it. */
  handle(ns: TestNs): NetlinkHandle {
    const h = NetlinkHandle.open(ns.path);
    this.handles.push(h);
    return h;
  }

  /** Runs argv inside ns and returns its stdout; throws with its stderr when it fails. */
  exec(ns: TestNs, argv: readonly string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns.name, ...argv], {
      encoding: 'utf8',
      timeout: EXEC_TIMEOUT_MS,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** `ip -j <args>` inside ns, parsed. */
  ipJson<T = unknown>(ns: TestNs, args: readonly string[]): T {
    const out = execFileSync('ip', ['-n', ns.name, '-j', ...args], { encoding: 'utf8', timeout: EXEC_TIMEOUT_MS });
    return JSON.parse(out) as T;
  }

  /** Closes every handle, deletes every namespace made so far, then the hosts' temp dirs; throws after trying them all. */
  cleanup(): void {
    const errors: unknown[] = [];
    for (const h of this.handles.splice(0)) {
      try {
        h.close();
      } catch (e) {
        errors.push(e);
      }
    }
    for (const ns of this.made.splice(0)) {
      try {
        // A berth daemon that plugins started in the netns keeps it, and what is in it, alive.
        stopDaemons({ netns: ns.path });
        deleteNamedNetns(ns.path);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    if (errors.length > 0)
      throw new AggregateError(errors, `cleaning up test namespaces met ${errors.length} error(s)`);
  }

  /** Deletes bt-<pid>-* namespaces whose process is gone (a run that was killed before its cleanup). */
  static removeStale(): void {
    for (const name of staleNames(NETNS_DIR)) deleteNamedNetns(name);
    // The resolv.conf and hosts berth wrote for sandboxes of such runs, under the netns's name.
    for (const name of staleNames(ETC_NETNS_DIR)) rmSync(join(ETC_NETNS_DIR, name), { recursive: true, force: true });
  }
}

/** Where berth writes a sandbox's resolv.conf and hosts, by default. */
const ETC_NETNS_DIR = '/etc/netns';

/** The bt-<pid>-* entries of dir whose process is gone. */
function staleNames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((name) => {
    const pid = /^bt-(\d+)-/.exec(name)?.[1];
    return pid !== undefined && Number(pid) !== process.pid && !isAlive(Number(pid));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
