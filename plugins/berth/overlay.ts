import { join } from 'node:path';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { validateName } from '../../network/config.js';
import { networkSpecOf } from '../../network/drivers/index.js';
import { Allocator } from '../../network/ipam/allocator.js';
import { FileStore } from '../../network/ipam/file-store.js';
import { parseRangeSet } from '../../network/ipam/range.js';
import { allocatorSource } from '../../network/ipam/source.js';
import type { NetworkRecord } from '../../network/model.js';
import { ensureNameService } from '../../network/names/launch.js';
import type { NamesNetwork } from '../../network/names/model.js';
import { NamesStore } from '../../network/names/store.js';
import type { AddressSource } from '../../network/pipeline/addressing.js';
import { cniEndpointId } from '../../network/pipeline/cni-names.js';
import type { CollectRequest } from '../../network/pipeline/collect.js';
import type { AttachRequest, CheckRequest, DetachRequest } from '../../network/pipeline/request.js';
import { DEFAULT_STATE_DIR, StateStore } from '../../network/state.js';
import {
  attachRequestFor,
  checkRequestFor,
  collectRequestFor,
  detachRequestFor,
  type PluginAttachment,
} from '../attachment.js';
import { cniNames, containerAddresses } from '../dns/config.js';
import type {
  AddRequest,
  CheckRequest as CniCheckRequest,
  CniResult,
  DelRequest,
  GcRequest,
  NetConf,
  PluginContext,
} from '../types.js';

/**
 * The all-in-one plugin on a network of berth's own instead of a bridge the config describes:
 *
 *   { "type": "berth", "network": { "driver": "overlay", "name": "web" }, "stateDir": "/var/lib/berth" }
 *
 * The overlay network is the one `berth network create web --driver overlay` made in the cluster;
 * this host's agent keeps its record in stateDir (its block, bridge, MTU, firewall rules), and
 * the plugin attaches as the library's endpoints do: the same driver, the same address
 * reservations (in <stateDir>/ipam/<network>), no etcd in the plugin.
 */

/** The "network" key, checked. */
export interface NetworkRef {
  readonly driver: 'overlay';
  readonly name: string;
  readonly stateDir: string;
  readonly loopback: boolean;
}

/** Keys that describe a bridge of the config's own: with "network" they come from the network, and two sources would disagree. */
const FROM_THE_NETWORK = [
  'bridge',
  'ipam',
  'ipMasq',
  'ipMasqBackend',
  'isGateway',
  'isDefaultGateway',
  'forceAddress',
  'mtu',
  'hairpinMode',
  'promiscMode',
  'isolate',
];

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** The config's "network", or undefined when it has none (a bridge config). */
export function parseNetworkRef(config: NetConf): NetworkRef | undefined {
  const raw = config.raw;
  const value = raw.network;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(
      `"network" must be an object, not ${JSON.stringify(value)}`,
      'e.g. "network": {"driver": "overlay", "name": "web"}',
    );
  }
  const { driver, name } = value as Record<string, unknown>;
  if (driver !== 'overlay') {
    throw invalid(
      `"network.driver" ${JSON.stringify(driver)} is not one the plugin attaches to`,
      'use "overlay", or describe a bridge with the bridge keys instead of "network"',
    );
  }
  if (typeof name !== 'string') {
    throw invalid(
      `"network.name" must name the overlay network, not ${JSON.stringify(name)}`,
      'e.g. "name": "web", as made by berth network create web --driver overlay',
    );
  }
  validateName(name, 'network');
  const clash = FROM_THE_NETWORK.filter((k) => raw[k] !== undefined);
  if (clash.length > 0) {
    throw invalid(
      `with "network", the config may not give ${clash.map((k) => JSON.stringify(k)).join(', ')}`,
      'remove them: the bridge, addresses, MTU and masquerade come from the overlay network',
    );
  }
  const stateDir = raw.stateDir ?? DEFAULT_STATE_DIR;
  if (typeof stateDir !== 'string' || stateDir === '') {
    throw invalid(
      `"stateDir" must be a path, not ${JSON.stringify(stateDir)}`,
      'e.g. /var/lib/berth, where berth agent keeps the network',
    );
  }
  return { driver, name, stateDir, loopback: raw.loopback === true };
}

/** DEL's reading: a "network" that made ADD fail must not make DEL fail; one without a usable name is none. */
export function parseNetworkRefForDel(config: NetConf): NetworkRef | undefined {
  try {
    return parseNetworkRef(config);
  } catch {
    const value = config.raw.network as { name?: unknown } | null | undefined;
    if (typeof value?.name !== 'string') return undefined;
    try {
      validateName(value.name, 'network');
    } catch {
      return undefined;
    }
    const stateDir =
      typeof config.raw.stateDir === 'string' && config.raw.stateDir ? config.raw.stateDir : DEFAULT_STATE_DIR;
    return { driver: 'overlay', name: value.name, stateDir, loopback: config.raw.loopback === true };
  }
}

/** The network as this host's agent recorded it, with a block here; code 11 while it has none (the agent may be starting). */
export function overlayRecord(ref: NetworkRef): NetworkRecord {
  const rec = new StateStore(ref.stateDir).read<NetworkRecord>('networks', ref.name);
  if (rec && rec.driver !== 'overlay') {
    throw invalid(
      `network ${ref.name} in ${ref.stateDir} is a ${rec.driver} network, not an overlay one`,
      'name an overlay network in "network.name"',
    );
  }
  if (!rec?.overlay?.host || rec.subnets.length === 0) {
    throw new BerthError(
      ErrorCode.TryAgainLater,
      `overlay network ${ref.name} has no block on this host yet (no record in ${ref.stateDir})`,
      'start `berth agent --node NAME --address IP` on this host with the same state dir, and check that the network exists (berth network ls)',
    );
  }
  return rec;
}

const ipamOf = (ref: NetworkRef, rec?: NetworkRecord) =>
  new Allocator(
    new FileStore(ref.name, { dataDir: join(ref.stateDir, 'ipam') }),
    (rec?.subnets ?? []).map((s) => parseRangeSet([{ subnet: s.subnet, gateway: s.gateway }], `network ${ref.name}`)),
  );

function addressesOf(
  ref: NetworkRef,
  rec: NetworkRecord | undefined,
  owner: string,
  requested: readonly string[],
): AddressSource {
  return allocatorSource(ipamOf(ref, rec), owner, requested, `addresses of overlay network ${ref.name}`);
}

/** Addresses asked for through the "ips" capability, without their prefix. */
function requestedIps(config: NetConf): string[] {
  const ips = config.runtimeConfig.ips;
  return Array.isArray(ips)
    ? ips.filter((ip): ip is string => typeof ip === 'string').map((ip) => ip.split('/')[0]!)
    : [];
}

/** The attachment as the plugins' shared request builders take it: the network's driver, rules and bridge, no IPAM plugin. */
function attachmentOf(ref: NetworkRef, rec: NetworkRecord): PluginAttachment {
  return {
    network: networkSpecOf(rec),
    stateDir: ref.stateDir,
    loopback: ref.loopback,
    // The network's own rules (bridge, masquerade leaving the overlay) are in since the agent took the block.
    rules: { kind: 'network' },
    bridge: rec.bridgeName,
  };
}

export function overlayAttachRequest(ref: NetworkRef, req: AddRequest, ctx: PluginContext): AttachRequest {
  const rec = overlayRecord(ref);
  const base = attachRequestFor(attachmentOf(ref, rec), req, ctx);
  const record = base.record!;
  return {
    ...base,
    addresses: addressesOf(ref, rec, base.identity.owner, requestedIps(req.config)),
    // Its addresses are the overlay network's reservations: doctor and network rm look for it there.
    record: { ...record, endpoint: { ...record.endpoint, cni: { ...record.endpoint.cni!, overlay: rec.name } } },
  };
}

export function overlayDetachRequest(ref: NetworkRef, req: DelRequest, ctx: PluginContext): DetachRequest {
  const rec = new StateStore(ref.stateDir).read<NetworkRecord>('networks', ref.name) ?? undefined;
  const base = detachRequestFor('overlay', { stateDir: ref.stateDir, loopback: ref.loopback }, req, ctx);
  return { ...base, addresses: addressesOf(ref, rec, base.identity.owner, []) };
}

export function overlayCheckRequest(ref: NetworkRef, req: CniCheckRequest, ctx: PluginContext): CheckRequest {
  const rec = overlayRecord(ref);
  const base = checkRequestFor(attachmentOf(ref, rec), req, ctx);
  return { ...base, addresses: addressesOf(ref, rec, base.identity.owner, []) };
}

/** GC: the shared collection, the addresses being this CNI network's reservations in the overlay network's. */
export function overlayCollectRequest(ref: NetworkRef, req: GcRequest, ctx: PluginContext): CollectRequest {
  const base = collectRequestFor({ stateDir: ref.stateDir }, req, ctx);
  return { ...base, addresses: overlayCollectAddresses(ref, base.network, base.valid) };
}

/** GC's addresses: the reservations of this CNI network's attachments that the runtime no longer has (the library's stay). */
function overlayCollectAddresses(ref: NetworkRef, network: string, valid: ReadonlySet<string>) {
  return {
    name: `addresses of overlay network ${ref.name}`,
    async collect() {
      const ipam = ipamOf(ref);
      for (const r of await ipam.list()) {
        if (r.containerID.startsWith(`${network}/`) && !valid.has(r.containerID))
          await ipam.release(r.containerID, r.ifname);
      }
    },
  };
}

/**
 * Names on an overlay network ("dns" beside "network"): the network's own, as every host's
 * agent keeps them (its name service on this host's block gateway, its domain), so the config
 * turns them on for the attachment and may not name another domain. Code 7 when the network
 * has no names.
 */
export function overlayNames(
  ref: NetworkRef,
  rec: NetworkRecord,
  raw: Readonly<Record<string, unknown>>,
): NamesNetwork {
  const settings = NamesStore.in(ref.stateDir).network(ref.name);
  if (!rec.dns || !settings) {
    throw invalid(
      `overlay network ${ref.name} has no names`,
      'leave "dns" out, or make the network with names (berth network create --driver overlay, without --no-dns)',
    );
  }
  const dns = raw.dns;
  const domain = typeof dns === 'object' && dns !== null ? (dns as Record<string, unknown>).domainName : undefined;
  if (domain !== undefined && domain !== settings.domain) {
    throw invalid(
      `"dns.domainName" ${JSON.stringify(domain)} is not the domain of overlay network ${ref.name} (${settings.domain ?? 'none'})`,
      "leave domainName out: the overlay network's names have the domain it was made with",
    );
  }
  return settings;
}

/** The owner of an overlay attachment's names: its endpoint record's id, as a library endpoint's names are. */
const namesOwner = (req: { config: NetConf; containerId: string; ifName: string }) =>
  cniEndpointId(req.config.name, req.containerId, req.ifName);

const namesOf = (ref: NetworkRef) => NamesStore.in(ref.stateDir);

/**
 * Serves the attachment's names (the container's name and aliases) on the overlay network, and
 * waits until served. A container with neither (no K8S_POD_NAME, no aliases: cnitool, nerdctl)
 * has no record, as with the reference DNS plugins; the service still runs, as its resolver.
 */
export async function addOverlayNames(ref: NetworkRef, req: AddRequest, result: CniResult): Promise<void> {
  const names = cniNames(req.args, req.config.runtimeConfig, req.config.name);
  if (names.length > 0) {
    namesOf(ref).put(ref.name, {
      owner: namesOwner(req),
      names,
      addresses: containerAddresses(result),
      netns: req.netns,
    });
  }
  // The plugin runs in the host's netns: the service is started there.
  await ensureNameService(ref.stateDir, { hostNetnsPath: '', network: ref.name });
}

/** Stops serving the attachment's names; gone is success. */
export function removeOverlayNames(
  ref: NetworkRef,
  req: { config: NetConf; containerId: string; ifName: string },
): void {
  namesOf(ref).remove(ref.name, namesOwner(req));
}

/** CHECK: the attachment's names (if it has any) are there, and served. */
export async function checkOverlayNames(ref: NetworkRef, req: CniCheckRequest): Promise<void> {
  const named = cniNames(req.args, req.config.runtimeConfig, req.config.name).length > 0;
  if (
    named &&
    !namesOf(ref)
      .records(ref.name)
      .some((r) => r.owner === namesOwner(req))
  ) {
    throw new BerthError(
      ErrorCode.Internal,
      `berth holds no names for container ${req.containerId} (${req.ifName}) on overlay network ${ref.name}`,
      'DEL and ADD it again',
    );
  }
  await ensureNameService(ref.stateDir, { hostNetnsPath: '', network: ref.name });
}

/** GC: the names of this CNI network's attachments that the runtime no longer has. */
export function collectOverlayNames(ref: NetworkRef, req: GcRequest): void {
  const valid = new Set(req.validAttachments.map((a) => cniEndpointId(req.config.name, a.containerId, a.ifName)));
  const ours = new Set(
    new StateStore(ref.stateDir)
      .list<{ id: string; network: string; cni?: { overlay?: string } }>('endpoints')
      .filter((e) => e.network === req.config.name && e.cni?.overlay === ref.name)
      .map((e) => e.id),
  );
  const store = namesOf(ref);
  for (const r of store.records(ref.name))
    if (ours.has(r.owner) && !valid.has(r.owner)) store.remove(ref.name, r.owner);
}
