import { BerthError, ErrorCode } from '../../base/errors.js';

/**
 * Rates as tc writes them (tc(8), RATES): a number and a unit, in any case. A bare number and
 * `bit` are bits per second; `kbit`, `mbit`, `gbit`, `tbit` are powers of 1000 of them and
 * `kibit` ... `tibit` powers of 1024; `bps` is bytes per second, with the same prefixes
 * (`kbps` is kilobytes per second, as in tc). A percentage of the link's speed is not taken.
 */

const PREFIXES: readonly [string, number][] = [
  ['', 1],
  ['k', 1e3],
  ['ki', 1024],
  ['m', 1e6],
  ['mi', 1024 ** 2],
  ['g', 1e9],
  ['gi', 1024 ** 3],
  ['t', 1e12],
  ['ti', 1024 ** 4],
];

/** Each unit in bits per second; none is bits. */
const UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ...PREFIXES.flatMap(([p, m]): [string, number][] => [
    [`${p}bit`, m],
    [`${p}bps`, m * 8],
  ]),
]);

const RATE = /^(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?([a-z%]*)$/i;

const UNIT_LIST = 'bit, kbit, mbit, gbit, tbit, kibit ... tibit, or bps, kbps ... (bytes)';

/**
 * A rate in bits per second, rounded to a whole one. Refused with code 7, naming `what` (a key or an
 * option): no number, an unknown unit, a percentage. Whether the value is a usable limit is the
 * caller's question (validateRate).
 */
export function parseRate(text: string, what: string): number {
  const m = RATE.exec(text.trim());
  if (!m) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${what} ${JSON.stringify(text)} is not a rate`,
      'write a number and a unit as tc does, e.g. 10mbit or 1gbit',
    );
  }
  const unit = m[3]!.toLowerCase();
  if (unit === '%') {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${what} ${JSON.stringify(text)} is a share of the link's speed, which a veth does not have`,
      'give the rate itself, e.g. 10mbit',
    );
  }
  const multiplier = UNITS.get(unit);
  if (multiplier === undefined) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${what} ${JSON.stringify(text)} has an unknown unit ${JSON.stringify(m[3])}`,
      `use ${UNIT_LIST}`,
    );
  }
  const value = Number(`${m[1]}${m[2] !== undefined ? `e${m[2]}` : ''}`) * multiplier;
  return Math.round(value);
}

const LARGEST_FIRST: readonly [number, string][] = [
  [1e12, 'tbit'],
  [1e9, 'gbit'],
  [1e6, 'mbit'],
  [1e3, 'kbit'],
];

/** A rate (or a burst, in bits) as tc writes it, in the largest decimal unit: 10mbit, 1.5gbit, 800bit. */
export function formatRate(bits: number): string {
  for (const [size, unit] of LARGEST_FIRST) {
    if (bits >= size) return `${Number((bits / size).toFixed(3))}${unit}`;
  }
  return `${bits}bit`;
}
