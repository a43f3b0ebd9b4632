import { BerthError, ErrorCode } from '../../base/errors.js';
import { rtnl, type TbfSpec } from '../../netlink/index.js';
import { tbfParams } from '../../netlink/tc.js';
import { formatRate } from './units.js';

/**
 * Bandwidth limits of an attachment, in the CNI bandwidth plugin's terms: rates in bits per
 * second, bursts in bits, and directions as the container sees them: `ingress` is what goes
 * into the container (a TBF on the host end of its veth shapes it), `egress` what comes out
 * (redirected from the host end's ingress to an IFB link and shaped by a TBF there).
 * Pure: what is accepted, the bursts that apply, and the TBF that each limit becomes.
 */

export interface RateLimit {
  /** Bits per second. */
  readonly rate: number;
  /** Bits the bucket holds: what may pass at line speed after a pause. Absent: defaultBurst. */
  readonly burst?: number;
}

export interface Bandwidth {
  /** Into the container. */
  readonly ingress?: RateLimit;
  /** Out of the container. */
  readonly egress?: RateLimit;
}

export type Direction = keyof Bandwidth;

export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** The names a limit's numbers had where the user wrote them, for errors that name the key. */
export interface LimitKeys {
  readonly rate: string;
  readonly burst: string;
}

export type BandwidthKeys = Readonly<Record<Direction, LimitKeys>>;

/** The keys of the reference bandwidth plugin's config. */
export const CNI_KEYS: BandwidthKeys = {
  ingress: { rate: 'ingressRate', burst: 'ingressBurst' },
  egress: { rate: 'egressRate', burst: 'egressBurst' },
};

/** The same keys in the `bandwidth` capability, as a runtime (or Kubernetes' annotations) sends them. */
export const CAPABILITY_KEYS: BandwidthKeys = {
  ingress: { rate: 'runtimeConfig.bandwidth.ingressRate', burst: 'runtimeConfig.bandwidth.ingressBurst' },
  egress: { rate: 'runtimeConfig.bandwidth.egressRate', burst: 'runtimeConfig.bandwidth.egressBurst' },
};

/** The library's endpoint option. */
export const LIBRARY_KEYS: BandwidthKeys = {
  ingress: { rate: 'bandwidth.ingress.rate', burst: 'bandwidth.ingress.burst' },
  egress: { rate: 'bandwidth.egress.rate', burst: 'bandwidth.egress.burst' },
};

/** How long a packet may wait in a TBF's queue: the reference plugin's 25 ms, so the queue holds rate × 25 ms + burst. */
export const LATENCY_MS = 25;

/** The TBF's handle, the reference's. */
export const TBF_HANDLE = '1:';

/** Bits per second below which the kernel, which counts bytes, would see no rate at all. */
export const MIN_RATE = 8;

/** The reference's bound on a burst: it must be less than 4 GiB (the kernel's byte counts are 32 bits). */
export const MAX_BURST_BYTES = 0xffffffff;

/** Ethernet's header: the kernel counts a packet with it, so a full frame is the MTU plus this. */
export const ETHERNET_HEADER = 14;

/**
 * The smallest default bucket, in bits: 128 KiB, room for the largest packet the stack hands a
 * qdisc (a GSO packet of 64 KiB, which the kernel counts with the headers of each of its frames,
 * some 68 KB). A TBF splits a packet larger than its bucket into frames, which escape TCP's
 * small-queue accounting: the sender overfills the queue, loses packets and falls 10-15% short.
 */
const MIN_DEFAULT_BURST = 128 * 1024 * 8;

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

const wholeNumber = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * A rate as given: a whole number of bits per second, at least 8. Zero and negative rates are
 * refused: a limit of nothing is no limit one can shape to (leave the direction out instead).
 */
export function validateRate(rate: unknown, key: string): number {
  if (!wholeNumber(rate)) {
    throw invalid(
      `${key} must be a whole number of bits per second, not ${JSON.stringify(rate)}`,
      'e.g. 10000000 for 10 Mbit/s',
    );
  }
  if (rate <= 0) {
    throw invalid(`${key} ${rate} is no rate: a limit must be above 0 bits per second`, 'leave it out for no limit');
  }
  if (rate < MIN_RATE) {
    throw invalid(
      `${key} ${rate} is below ${MIN_RATE} bits per second, the least the kernel counts (it counts bytes)`,
      `give at least ${MIN_RATE}`,
    );
  }
  return rate;
}

/** A burst as given: a whole number of bits, a byte at least, less than 4 GiB (the reference's bound). */
export function validateBurst(burst: unknown, key: string): number {
  if (!wholeNumber(burst) || burst < 8) {
    throw invalid(
      `${key} must be a whole number of bits, at least 8, not ${JSON.stringify(burst)}`,
      'e.g. 200000 (25 KB)',
    );
  }
  if (Math.floor(burst / 8) >= MAX_BURST_BYTES) {
    throw invalid(
      `${key} ${burst} is 4 GiB or more, more than the kernel holds`,
      `give less than ${MAX_BURST_BYTES * 8}`,
    );
  }
  return burst;
}

/**
 * The bucket of a limit given without one: what 10 ms pass at the rate (the timer resolution
 * of any kernel, so the rate holds), and at least 128 KiB and one full frame.
 */
export function defaultBurst(rate: number, frameBytes: number): number {
  return Math.max(Math.ceil(rate / 100), MIN_DEFAULT_BURST, frameBytes * 8);
}

/**
 * The longest burst the kernel holds at a rate, in bits: it keeps the bucket as the time it lasts
 * at the rate, in 32 bits of 64 ns ticks (about 275 s).
 */
export function maxBurst(rate: number): number {
  const rateBytes = BigInt(Math.floor(rate / 8));
  const bytes = (BigInt(0xffffffff) * BigInt(rtnl.PSCHED_TICK_NS) * rateBytes) / 1_000_000_000n;
  return Number(bytes) * 8;
}

/** What a limit becomes on a link whose frames are `frameBytes` long (MTU + Ethernet header). */
export interface Shaper {
  readonly rate: number;
  readonly burst: number;
  /** The burst was more than the kernel holds at the rate and was cut to that (see maxBurst). */
  readonly cut: boolean;
  readonly tbf: TbfSpec;
}

/**
 * The TBF of a limit on a link: the burst given or the default, cut to what the kernel holds at the
 * rate (Kubernetes sends 2^31 - 1 bits, "no limit", which at rates below 8 Mbit/s lasts longer than
 * that); a burst below one frame is refused, since the TBF would drop every full-size packet; a
 * rate whose queue of 25 ms would not fit the kernel's 32 bits of bytes is refused.
 */
export function shaperOf(limit: RateLimit, keys: LimitKeys, link: string, frameBytes: number): Shaper {
  const given = limit.burst ?? defaultBurst(limit.rate, frameBytes);
  if (given < frameBytes * 8) {
    throw invalid(
      `${keys.burst} ${given} is less than one full frame on ${link} (MTU ${frameBytes - ETHERNET_HEADER} + ${ETHERNET_HEADER} bytes = ${frameBytes * 8} bits): every full-size packet would be dropped`,
      `give at least ${frameBytes * 8}`,
    );
  }
  const ceiling = maxBurst(limit.rate);
  const burst = Math.min(given, ceiling);
  const tbf: TbfSpec = { kind: 'tbf', handle: TBF_HANDLE, rate: limit.rate, burst, latencyMs: LATENCY_MS };
  try {
    tbfParams(tbf);
  } catch (e) {
    throw invalid(
      `${keys.rate} ${limit.rate} is more than the kernel can hold with ${keys.burst} ${burst}: ${e instanceof Error ? e.message : String(e)}`,
      'give a lower rate or burst',
    );
  }
  return { rate: limit.rate, burst, cut: burst < given, tbf };
}

/** A full frame on a link of this MTU, in bytes. */
export const frameOf = (mtu: number) => mtu + ETHERNET_HEADER;

/** Whether there is anything to shape. */
export const shapes = (b: Bandwidth | undefined): b is Bandwidth => !!(b?.ingress || b?.egress);

/** A limit as `berth inspect` shows it: "20mbit" or "20mbit burst 200kbit". */
export function formatLimit(limit: RateLimit): string {
  return limit.burst === undefined
    ? formatRate(limit.rate)
    : `${formatRate(limit.rate)} burst ${formatRate(limit.burst)}`;
}

/**
 * The library's bandwidth option: each direction given has a rate and may have a burst (the
 * default applies without one). Refused with code 7, naming the key, before anything is made.
 */
export function validateBandwidth(input: unknown, keys: BandwidthKeys = LIBRARY_KEYS): Bandwidth {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(`bandwidth must be an object, not ${JSON.stringify(input)}`, 'e.g. { ingress: { rate: 10e6 } }');
  }
  const o = input as Record<string, unknown>;
  const out: { ingress?: RateLimit; egress?: RateLimit } = {};
  for (const d of DIRECTIONS) {
    const limit = o[d];
    if (limit === undefined) continue;
    if (typeof limit !== 'object' || limit === null) {
      throw invalid(`bandwidth.${d} must be an object, not ${JSON.stringify(limit)}`, `e.g. { rate: 10e6 }`);
    }
    const { rate, burst } = limit as Record<string, unknown>;
    out[d] = {
      rate: validateRate(rate, keys[d].rate),
      ...(burst !== undefined ? { burst: validateBurst(burst, keys[d].burst) } : {}),
    };
  }
  return out;
}
