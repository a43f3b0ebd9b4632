import { ipText, ipToBigint, subnetBounds, tryParseCidr } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { sha256Hex } from '../../base/sha256.js';

/**
 * An overlay network's addresses: its subnet cut into equal blocks, one per host,
 * as flannel and Calico cut theirs. Pure functions; the cluster's store decides
 * who holds which block.
 */

/** A host's share of an overlay subnet unless the network says otherwise. */
export const DEFAULT_BLOCK_PREFIX = 24;
/** A block holds its VTEP address (the network address), the gateway and at least one container. */
const MAX_BLOCK_PREFIX = 29;
/** Blocks an overlay may be cut into: enough for any cluster, few enough to scan. */
const MAX_BLOCKS = 1 << 16;

/** What VXLAN over IPv4 adds to a frame: outer IPv4 (20), UDP (8), VXLAN (8) and the inner Ethernet header (14). */
export const VXLAN_OVERHEAD = 50;

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

export interface OverlayLayout {
  /** Canonical IPv4 CIDR. */
  readonly subnet: string;
  readonly blockPrefix: number;
  /** How many blocks the subnet holds: the most hosts the network can have. */
  readonly blocks: number;
}

/** The subnet and block size of an overlay network, checked: IPv4, host bits clear, room for at least one block. */
export function parseLayout(subnet: string, blockPrefix = DEFAULT_BLOCK_PREFIX): OverlayLayout {
  const prefix = typeof subnet === 'string' ? tryParseCidr(subnet) : undefined;
  if (!prefix)
    throw invalid(`invalid overlay subnet ${JSON.stringify(subnet)}`, 'write it as address/prefix, e.g. 10.240.0.0/16');
  if (prefix.family !== 4)
    throw invalid(`overlay subnet ${subnet} is not IPv4`, 'overlay networks are IPv4: give e.g. 10.240.0.0/16');
  if (!Number.isInteger(blockPrefix) || blockPrefix < 8 || blockPrefix > MAX_BLOCK_PREFIX) {
    throw invalid(`invalid block size /${blockPrefix}`, `give a prefix length from 8 to ${MAX_BLOCK_PREFIX}, e.g. 24`);
  }
  const { first } = subnetBounds(prefix);
  const canonical = `${ipText(4, first)}/${prefix.prefixLen}`;
  if (ipToBigint(prefix) !== first) {
    throw invalid(`overlay subnet ${subnet} has host bits set`, `did you mean ${canonical}?`);
  }
  if (prefix.prefixLen > blockPrefix) {
    throw invalid(
      `overlay subnet ${canonical} is too small for a block of /${blockPrefix}`,
      `give a subnet of /${blockPrefix} or larger (e.g. /16 for 256 hosts), or a smaller block`,
    );
  }
  const blocks = 2 ** (blockPrefix - prefix.prefixLen);
  if (blocks > MAX_BLOCKS) {
    throw invalid(
      `overlay subnet ${canonical} holds ${blocks} blocks of /${blockPrefix}, more than ${MAX_BLOCKS}`,
      'give a larger block (a smaller prefix length) or a smaller subnet',
    );
  }
  return { subnet: canonical, blockPrefix, blocks };
}

/** The i-th block of the layout. */
export function blockAt(layout: OverlayLayout, i: number): string {
  const first = subnetBounds(tryParseCidr(layout.subnet)!).first;
  return `${ipText(4, first + BigInt(i) * (1n << BigInt(32 - layout.blockPrefix)))}/${layout.blockPrefix}`;
}

/** Whether `block` is one of the layout's blocks (aligned, of its size, inside its subnet). */
export function isBlockOf(layout: OverlayLayout, block: string): boolean {
  const prefix = tryParseCidr(block);
  if (prefix?.family !== 4 || prefix.prefixLen !== layout.blockPrefix) return false;
  const { first } = subnetBounds(prefix);
  if (`${ipText(4, first)}/${prefix.prefixLen}` !== block) return false;
  const outer = subnetBounds(tryParseCidr(layout.subnet)!);
  return first >= outer.first && first <= outer.last;
}

/**
 * The block a host should claim: the one it asks for (the block it held before a restart)
 * when that one is free, else the first free one; undefined when every block is taken.
 */
export function pickBlock(layout: OverlayLayout, taken: ReadonlySet<string>, preferred?: string): string | undefined {
  if (preferred && isBlockOf(layout, preferred) && !taken.has(preferred)) return preferred;
  for (let i = 0; i < layout.blocks; i++) {
    const block = blockAt(layout, i);
    if (!taken.has(block)) return block;
  }
  return undefined;
}

/** The VTEP's address in a block, which the host's VXLAN device holds: the block's network address, as flannel has it. */
export function vtepAddressOf(block: string): string {
  return block.split('/')[0]!;
}

/** The block's gateway, on the host's bridge: its first host address. */
export function gatewayOf(block: string): string {
  return ipText(4, subnetBounds(tryParseCidr(block)!).first + 1n);
}

/** A host's VTEP MAC on a network: the same after a restart, so the other hosts' entries stay right. Locally administered, unicast. */
export function vtepMacOf(network: string, node: string): string {
  const hash = sha256Hex(`berth-vtep/${network}/${node}`);
  return ['02', ...[0, 2, 4, 6, 8].map((i) => hash.slice(i, i + 2))].join(':');
}

/** The VXLAN device's MTU over an underlay of this MTU. */
export function overlayMtu(underlayMtu: number): number {
  return underlayMtu - VXLAN_OVERHEAD;
}
