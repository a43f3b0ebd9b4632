import { BerthError, ErrorCode } from '../../base/errors.js';
import { MAX_VNI } from '../../netlink/vxlan.js';
import { overlaps, validateName } from '../config.js';
import { DEFAULT_BLOCK_PREFIX, parseLayout } from './blocks.js';
import type { OverlayNetwork } from './model.js';

/** What a caller asks for when creating an overlay network. */
export interface OverlayOptions {
  readonly name: string;
  readonly subnet: string;
  /** Default: the lowest VNI no other overlay network has. */
  readonly vni?: number;
  /** Default 0: each host's underlay MTU less 50. */
  readonly mtu?: number;
  /** The size of each host's block; default /24. */
  readonly blockPrefix?: number;
  /** Names across hosts, checked (resolveDns); none when absent. */
  readonly dns?: { readonly domain?: string };
  /** Refuses the network (throws) for reasons of the caller's, e.g. a network of its own host in the way. */
  readonly check?: (candidate: OverlayNetwork) => void;
}

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** Validates options against the cluster's overlay networks; the result is what goes into the store. */
export function resolveOverlay(
  opts: OverlayOptions,
  existing: readonly OverlayNetwork[],
  createdAt: string,
): OverlayNetwork {
  const name = validateName(opts.name, 'network');
  if (existing.some((n) => n.name === name)) {
    throw invalid(
      `an overlay network named ${JSON.stringify(name)} already exists`,
      'choose another name, or remove it first',
    );
  }
  if (opts.subnet === undefined) {
    throw invalid(
      `overlay network ${name} needs a subnet`,
      'give one that every host shares, e.g. --subnet 10.240.0.0/16',
    );
  }
  const layout = parseLayout(opts.subnet, opts.blockPrefix ?? DEFAULT_BLOCK_PREFIX);
  const clash = existing.find((n) => overlaps(n.subnet, layout.subnet));
  if (clash) {
    throw invalid(
      `overlay subnet ${layout.subnet} overlaps overlay network ${JSON.stringify(clash.name)} (${clash.subnet})`,
      'choose a subnet that no other overlay network uses',
    );
  }
  const vni = opts.vni ?? lowestFreeVni(existing);
  if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI) {
    throw invalid(`invalid VNI ${JSON.stringify(opts.vni)}`, `give a whole number from 1 to ${MAX_VNI}`);
  }
  const sameVni = existing.find((n) => n.vni === vni);
  if (sameVni) {
    throw invalid(
      `VNI ${vni} is in use by overlay network ${JSON.stringify(sameVni.name)}`,
      `give another --vni, or leave it out to take the lowest free one (${lowestFreeVni(existing)})`,
    );
  }
  const mtu = opts.mtu ?? 0;
  if (!Number.isInteger(mtu) || (mtu !== 0 && (mtu < 68 || mtu > 65485))) {
    throw invalid(
      `invalid MTU ${JSON.stringify(opts.mtu)}`,
      'give a whole number from 68 to 65485, or leave it out to take the underlay less 50',
    );
  }
  const net: OverlayNetwork = {
    name,
    subnet: layout.subnet,
    blockPrefix: layout.blockPrefix,
    vni,
    mtu,
    ...(opts.dns ? { dns: opts.dns } : {}),
    createdAt,
  };
  opts.check?.(net);
  return net;
}

function lowestFreeVni(existing: readonly OverlayNetwork[]): number {
  const used = new Set(existing.map((n) => n.vni));
  let vni = 1;
  while (used.has(vni)) vni++;
  return vni;
}
