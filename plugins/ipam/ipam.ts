/**
 * berth-ipam: host-local's IPAM as a CNI plugin. The same config keys, the same
 * files under `dataDir` (so a host can switch between the two, or run both, on
 * one directory), the same result; STATUS and GC, which host-local lacks, added.
 *
 * Every verb reads the whole network config, as an IPAM plugin is handed it by
 * its main plugin (bridge, ptp, ...) or by a runtime that runs it directly.
 */
import { closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isSystemError, type SystemError } from '../../base/binding.js';
import { BerthError, ErrorCode, invalidConfig } from '../../base/errors.js';
import {
  Allocator,
  DEFAULT_DATA_DIR,
  type Dns,
  FileStore,
  type IpamConfig,
  openAllocator,
  parseIp,
  parseIpamConfig,
  type RangeSet,
  type Reservation,
  readResolvConf,
  type Store,
} from '../../network/ipam/index.js';
import { isExcluded, rangeIndexFor, rangeSetSize, rangeSetText } from '../../network/ipam/range.js';
import type {
  AddRequest,
  CheckRequest,
  CniArgs,
  CniDns,
  CniPlugin,
  CniResult,
  DelRequest,
  GcRequest,
  NetConf,
  PluginContext,
  StatusRequest,
} from '../types.js';

/** Where a network's reservations live: `<dataDir>/<name>`, host-local's layout. */
export interface StoreLocation {
  readonly network: string;
  readonly dataDir: string;
  /** How long to wait for the lock; undefined means FileStore's default. */
  readonly lockTimeoutMs?: number;
}

export interface IpamPluginOptions {
  /**
   * The store of a network. By default host-local's files at the location; a
   * test passes a MemoryStore. A store given here is never probed for a missing
   * or unwritable folder, since it has none.
   */
  readonly openStore?: (location: StoreLocation) => Store;
}

// A lock held longer than this is a stuck process, not a busy one; waiting on is worse than failing.
const MAX_LOCK_TIMEOUT_MS = 600_000;

/** The CNI plugin; `main.ts` hands it to the skel, tests call its verbs in-process. */
export function ipamPlugin(options: IpamPluginOptions = {}): CniPlugin {
  const injected = options.openStore;
  const open = (location: StoreLocation): Store =>
    injected ? injected(location) : new FileStore(location.network, fileStoreOptions(location));

  return {
    async add(request: AddRequest): Promise<CniResult> {
      const config = parseIpamConfig(request.config.raw, cniArgsText(request.args));
      const location = locationOf(config, request.config);
      // Read before anything is reserved, so a bad resolvConf leaves nothing behind.
      const dns = config.resolvConf ? readResolvConf(config.resolvConf) : undefined;
      const allocator = openAllocator(config, { store: open(location) });
      const allocations = await storeCall(location, () =>
        allocator.allocate(request.containerId, request.ifName, config.requestedIPs),
      );
      return {
        ips: allocations.map((a) => ({ address: a.address, gateway: a.gateway })),
        routes: config.routes,
        ...(dns ? { dns: toCniDns(dns) } : {}),
      };
    },

    async del(request: DelRequest, context: PluginContext): Promise<void> {
      // DEL reads only where the reservations are: a config that no longer parses (a
      // range edited since the ADD, an ADD that failed over that very config) must
      // not keep the container's addresses from being released.
      const location = lenientLocation(request.config, context);
      if (!injected && !networkDirExists(location)) return;
      await storeCall(location, () =>
        open(location).transaction((tx) => tx.releaseByID(request.containerId, request.ifName)),
      );
    },

    async check(request: CheckRequest): Promise<void> {
      const config = parseIpamConfig(request.config.raw, cniArgsText(request.args));
      const location = locationOf(config, request.config);
      const who = `container ${request.containerId} (${request.ifName})`;
      if (!injected && !networkDirExists(location)) {
        throw unknownAttachment(
          `${who} holds no address on network ${config.name}: ${networkDir(location)} does not exist`,
        );
      }
      const allocator = openAllocator(config, { store: open(location) });
      const held = await storeCall(location, () => allocator.lookup(request.containerId, request.ifName));
      const missing = config.rangeSets
        .map((set, index) => ({ set, index }))
        .filter(({ index }) => !held.some((a) => a.rangeSetIndex === index));
      if (missing.length > 0) {
        throw unknownAttachment(
          `${who} holds no address in ${missing.map(({ index, set }) => `range set ${index} (${rangeSetText(set)})`).join(', ')} of network ${config.name}`,
        );
      }
      // The ADD's result must still be what the store says: an address in one of this
      // network's sets that the container no longer holds means it was handed to another.
      for (const ip of request.config.prevResult.ips ?? []) {
        const addr = parseIp(ip.address.split('/')[0]!);
        if (!addr) continue;
        const index = config.rangeSets.findIndex((set) => rangeIndexFor(set, addr) >= 0);
        const mine = held.find((a) => a.rangeSetIndex === index);
        if (index >= 0 && mine && mine.address !== ip.address) {
          throw unknownAttachment(
            `prevResult gives ${who} the address ${ip.address}, but its reservation in range set ${index} is ${mine.address}`,
          );
        }
      }
    },

    async status(request: StatusRequest): Promise<void> {
      const config = parseIpamConfig(request.config.raw);
      const location = locationOf(config, request.config);
      const store = open(location);
      let reservations: Reservation[];
      try {
        reservations = await store.transaction((tx) => {
          if (store instanceof FileStore) probeWritable(store.dir);
          return tx.list();
        });
      } catch (e) {
        if (!isFsError(e)) throw e;
        throw new BerthError(
          ErrorCode.PluginNotAvailable,
          `the IPAM data dir ${networkDir(location)} cannot be written: ${e.message}`,
          'ADD keeps one file per address there; make ipam.dataDir a writable folder on a writable file system',
          { cause: e },
        );
      }
      const full = config.rangeSets
        .map((set, index) => ({ index, set, ...usage(set, reservations) }))
        .filter((u) => u.taken >= u.size);
      if (full.length > 0) {
        // One full set is enough to stop every ADD: an attachment takes an address from each.
        throw new BerthError(
          ErrorCode.PluginNotAvailable,
          `network ${config.name} has no free address: ${full
            .map((u) => `range set ${u.index} (${rangeSetText(u.set)}) has all ${u.size} taken`)
            .join('; ')}`,
          'give the network a larger range, or free leaked reservations with a CNI GC or `berth gc`',
        );
      }
    },

    async gc(request: GcRequest, context: PluginContext): Promise<void> {
      const location = lenientLocation(request.config, context);
      if (!injected && !networkDirExists(location)) return;
      const valid = request.validAttachments.map((a) => ({ containerID: a.containerId, ifname: a.ifName }));
      // Collecting reads no range: the attachments alone say what stays.
      const released = await storeCall(location, () => new Allocator(open(location), []).gc(valid));
      for (const r of released) {
        context.log(
          `released ${r.ip} of container ${r.containerID}${r.ifname ? ` (${r.ifname})` : ''}: not a valid attachment`,
        );
      }
    },
  };
}

/** How many addresses of the set can be handed out, and how many of those are reserved. */
export function usage(set: RangeSet, reservations: readonly Reservation[]): { size: bigint; taken: bigint } {
  let taken = 0n;
  for (const r of reservations) {
    const addr = parseIp(r.ip);
    if (!addr) continue;
    const i = rangeIndexFor(set, addr);
    // host-local may have reserved a network or broadcast address berth never hands out; it frees nothing.
    if (i >= 0 && !isExcluded(set[i]!, addr.value)) taken++;
  }
  return { size: rangeSetSize(set), taken };
}

/** CNI_ARGS back in its K=V;K=V form, which parseIpamConfig reads for `IP=`. */
function cniArgsText(args: CniArgs): string {
  return [...args].map(([k, v]) => `${k}=${v}`).join(';');
}

function locationOf(config: IpamConfig, netconf: NetConf): StoreLocation {
  const timeout = lockTimeout(ipamSection(netconf));
  return {
    network: config.name,
    dataDir: config.dataDir,
    ...(timeout === undefined ? {} : { lockTimeoutMs: timeout }),
  };
}

function ipamSection(netconf: NetConf): Record<string, unknown> {
  const ipam = netconf.raw.ipam;
  return typeof ipam === 'object' && ipam !== null && !Array.isArray(ipam) ? (ipam as Record<string, unknown>) : {};
}

/**
 * `ipam.lockTimeoutMs`: berth's own key (host-local ignores it), a deadline for the
 * wait for the data dir's lock. Without it berth waits as host-local does, as long
 * as the lock changes hands, and fails only on a stuck holder.
 */
function lockTimeout(ipam: Record<string, unknown>): number | undefined {
  const v = ipam.lockTimeoutMs;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LOCK_TIMEOUT_MS) {
    throw invalidConfig(
      `ipam.lockTimeoutMs ${JSON.stringify(v)} is not a whole number of milliseconds from 0 to ${MAX_LOCK_TIMEOUT_MS}`,
      'e.g. "lockTimeoutMs": 10000, or leave it out to wait as long as the holder makes progress',
    );
  }
  return v;
}

/** The store location for DEL and GC: only `name` and `ipam.dataDir` count, and a bad value is passed over. */
function lenientLocation(netconf: NetConf, context: PluginContext): StoreLocation {
  const ipam = ipamSection(netconf);
  let dataDir = DEFAULT_DATA_DIR;
  if (typeof ipam.dataDir === 'string' && ipam.dataDir !== '') dataDir = ipam.dataDir;
  else if (ipam.dataDir !== undefined && ipam.dataDir !== null && ipam.dataDir !== '') {
    context.log(`ipam.dataDir ${JSON.stringify(ipam.dataDir)} is not a path; looking in ${DEFAULT_DATA_DIR}`);
  }
  let timeout: number | undefined;
  try {
    timeout = lockTimeout(ipam);
  } catch (e) {
    context.log((e as BerthError).message);
  }
  return { network: netconf.name, dataDir, ...(timeout === undefined ? {} : { lockTimeoutMs: timeout }) };
}

function fileStoreOptions(location: StoreLocation): { dataDir: string; lockTimeoutMs?: number } {
  return {
    dataDir: location.dataDir,
    ...(location.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: location.lockTimeoutMs }),
  };
}

const networkDir = (location: StoreLocation) => join(location.dataDir, location.network);

/**
 * Whether the network's folder is there. Without it nothing was ever reserved
 * (or the host was wiped), so DEL and GC have nothing to do, and must not create it.
 */
function networkDirExists(location: StoreLocation): boolean {
  try {
    // stat follows a link: a dataDir moved elsewhere and linked back is still the folder.
    return statSync(networkDir(location)).isDirectory();
  } catch (e) {
    if (isSystemError(e, 'ENOENT') || isSystemError(e, 'ENOTDIR')) return false;
    if (isFsError(e)) throw ioFailure(location, e);
    throw e;
  }
}

/**
 * Writes and removes a file where ADD writes its reservations, so STATUS reports a
 * read-only or full file system before an ADD meets it. The name is one of
 * FileStore's temp names, so a crash in between leaves a file its next listing sweeps.
 */
function probeWritable(dir: string): void {
  const probe = join(dir, `.berth-${process.pid}-${Date.now()}.tmp`);
  const fd = openSync(probe, 'wx', 0o644);
  try {
    writeSync(fd, 'status');
  } finally {
    closeSync(fd);
    unlinkSync(probe);
  }
}

/** The store's file system errors as code 5, naming the folder; typed errors (lock timeout, exhaustion) pass. */
async function storeCall<T>(location: StoreLocation, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isFsError(e)) throw ioFailure(location, e);
    throw e;
  }
}

/** A failed system call; a Node TypeError also has a string `code` but is a bug, which must stay 999. */
function isFsError(e: unknown): e is SystemError {
  return isSystemError(e) && typeof e.syscall === 'string';
}

function ioFailure(location: StoreLocation, e: unknown): BerthError {
  return new BerthError(
    ErrorCode.IOFailure,
    `IPAM data dir ${networkDir(location)}: ${e instanceof Error ? e.message : String(e)}`,
    'ipam.dataDir must be a folder berth can read and write (default /var/lib/cni/networks)',
    { cause: e },
  );
}

const unknownAttachment = (msg: string) =>
  new BerthError(
    ErrorCode.UnknownContainer,
    msg,
    'the reservation was released (a DEL or GC) or never made; DEL the attachment and ADD it again',
  );

/** The resolv.conf reading as a result's `dns`, leaving out what the file did not set. */
function toCniDns(dns: Dns): CniDns {
  return {
    ...(dns.nameservers.length ? { nameservers: dns.nameservers } : {}),
    ...(dns.domain ? { domain: dns.domain } : {}),
    ...(dns.search.length ? { search: dns.search } : {}),
    ...(dns.options.length ? { options: dns.options } : {}),
  };
}
