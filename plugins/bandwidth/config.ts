import { BerthError, ErrorCode } from '../../base/errors.js';
import type { ShapingRequest } from '../../network/pipeline/request.js';
import {
  type Bandwidth,
  CAPABILITY_KEYS,
  CNI_KEYS,
  DIRECTIONS,
  type LimitKeys,
  type RateLimit,
  validateBurst,
  validateRate,
} from '../../network/shaping/limits.js';
import type { NetConf } from '../types.js';

/**
 * The reference bandwidth plugin's config, which berth-bandwidth and the all-in-one `berth`
 * plugin both take: the keys ingressRate, ingressBurst, egressRate and egressBurst (bits per
 * second, bits), and the `bandwidth` capability in runtimeConfig with the same keys. Where the
 * reference lets the keys win, the capability wins here: it is the runtime's word for this
 * container (Kubernetes' annotations), the keys the network's default. The reference's rules
 * hold: a direction is limited when both its rate and burst are given; both 0 (or absent) is no
 * limit; one without the other is refused.
 */

/** The subnet keys of the reference's newer versions, which shape through HTB classes berth does not build. */
const SUBNET_KEYS = ['shapedSubnets', 'unshapedSubnets'] as const;

const absent = (v: unknown) => v === undefined || v === null || v === 0;

/** One direction's limit; `raw` are the entry's key names (CNI_KEYS), `keys` how errors name them. */
function limitOf(entry: Readonly<Record<string, unknown>>, raw: LimitKeys, keys: LimitKeys): RateLimit | undefined {
  const rate = entry[raw.rate];
  const burst = entry[raw.burst];
  if (absent(rate) && absent(burst)) return undefined;
  if (absent(burst)) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${keys.rate} is set, so ${keys.burst} must be too`,
      `give ${keys.burst} in bits (the reference bandwidth plugin's rule), e.g. ${keys.burst}: 1000000`,
    );
  }
  if (absent(rate)) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${keys.burst} is set, so ${keys.rate} must be too`,
      `give ${keys.rate} in bits per second, or leave both out for no limit`,
    );
  }
  return { rate: validateRate(rate, keys.rate), burst: validateBurst(burst, keys.burst) };
}

/** Parses the limits of a config; bad values are code 7 naming the key, subnets code 2. Undefined: nothing to shape. */
export function parseBandwidthConf(config: NetConf): ShapingRequest | undefined {
  const capability = config.runtimeConfig.bandwidth;
  const fromCapability = capability !== undefined && capability !== null;
  if (fromCapability && (typeof capability !== 'object' || Array.isArray(capability))) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `runtimeConfig.bandwidth must be an object, not ${JSON.stringify(capability)}`,
      'e.g. {"ingressRate": 10000000, "ingressBurst": 1000000}',
    );
  }
  const entry = (fromCapability ? capability : config.raw) as Readonly<Record<string, unknown>>;
  const keys = fromCapability ? CAPABILITY_KEYS : CNI_KEYS;
  const prefix = fromCapability ? 'runtimeConfig.bandwidth.' : '';
  for (const key of SUBNET_KEYS) {
    const v = entry[key];
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
    throw new BerthError(
      ErrorCode.UnsupportedField,
      `berth does not support "${prefix}${key}" (${JSON.stringify(v)})`,
      "leave it out: berth shapes all of a container's traffic, as the reference did before it had subnets",
    );
  }
  const bandwidth: { ingress?: RateLimit; egress?: RateLimit } = {};
  for (const d of DIRECTIONS) {
    const limit = limitOf(entry, CNI_KEYS[d], keys[d]);
    if (limit) bandwidth[d] = limit;
  }
  return bandwidth.ingress || bandwidth.egress ? { bandwidth: bandwidth as Bandwidth, keys } : undefined;
}
