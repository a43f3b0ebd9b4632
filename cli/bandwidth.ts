import { BerthError } from '../base/errors.js';
import { type Bandwidth, type RateLimit, validateRate } from '../network/shaping/limits.js';
import { parseRate } from '../network/shaping/units.js';
import { UsageError } from './usage.js';

/** The options of `run` and `connect` that limit a sandbox's bandwidth. */
export interface BandwidthArgs {
  readonly 'ingress-rate'?: string;
  readonly 'egress-rate'?: string;
}

function limit(text: string | undefined, option: string): RateLimit | undefined {
  if (text === undefined) return undefined;
  try {
    return { rate: validateRate(parseRate(String(text), option), option) };
  } catch (e) {
    if (e instanceof BerthError) throw new UsageError(e.msg, e.details);
    throw e;
  }
}

/**
 * `--ingress-rate` (into the sandbox) and `--egress-rate` (out of it), with tc's units (10mbit,
 * 1gbit): bad usage (status 2) when malformed, zero or below 8 bit/s; undefined when neither is given.
 */
export function parseBandwidthArgs(args: BandwidthArgs): Bandwidth | undefined {
  const ingress = limit(args['ingress-rate'], '--ingress-rate');
  const egress = limit(args['egress-rate'], '--egress-rate');
  if (!ingress && !egress) return undefined;
  return { ...(ingress ? { ingress } : {}), ...(egress ? { egress } : {}) };
}

/** The yargs options, the same for run and connect. */
export const BANDWIDTH_OPTIONS = {
  'ingress-rate': {
    type: 'string',
    describe: 'limit what goes into the sandbox, in tc units: 10mbit, 1gbit, 500kbit (bridge and overlay networks)',
  },
  'egress-rate': {
    type: 'string',
    describe: 'limit what comes out of the sandbox, in tc units (bridge and overlay networks)',
  },
} as const;

/** Limits shape the host end of a veth, which the sandboxes of bridge and overlay networks have: refused before anything is made elsewhere. */
export function requireBridgeForLimits(driver: string, network: string): void {
  if (driver === 'bridge' || driver === 'overlay') return;
  throw new UsageError(
    `--ingress-rate and --egress-rate limit a sandbox on a bridge or overlay network, and ${network} is not one`,
    'give a bridge or overlay network, or leave the rates out',
  );
}
