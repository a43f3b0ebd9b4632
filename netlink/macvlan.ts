import type { Attrs, NlWriter } from './codec.js';
import {
  IFLA_MACVLAN_MODE,
  MACVLAN_MODE_BRIDGE,
  MACVLAN_MODE_PASSTHRU,
  MACVLAN_MODE_PRIVATE,
  MACVLAN_MODE_SOURCE,
  MACVLAN_MODE_VEPA,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';

/** The IFLA_INFO_DATA of a macvlan link (IFLA_MACVLAN_*), as pure functions over the codec. */

/**
 * How macvlans on one parent reach each other: 'bridge' directly, 'vepa' only
 * through the switch outside, 'private' not at all, 'passthru' gives the one
 * macvlan the parent's place.
 */
export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru';

const MODES: Readonly<Record<MacvlanMode, number>> = {
  private: MACVLAN_MODE_PRIVATE,
  vepa: MACVLAN_MODE_VEPA,
  bridge: MACVLAN_MODE_BRIDGE,
  passthru: MACVLAN_MODE_PASSTHRU,
};

export const MACVLAN_MODES = Object.keys(MODES) as readonly MacvlanMode[];

/** What a macvlan reports of itself: its mode by name, or the number of one berth does not create ('source' is 16). */
export interface MacvlanInfo {
  readonly mode: MacvlanMode | 'source' | number;
}

export function checkMacvlanMode(mode: string): MacvlanMode {
  if (!Object.hasOwn(MODES, mode)) {
    throw new InvalidArgumentError(`invalid macvlan mode '${mode}': use ${MACVLAN_MODES.join(', ')}`);
  }
  return mode as MacvlanMode;
}

export function writeMacvlanData(w: NlWriter, mode: MacvlanMode): void {
  w.u32(IFLA_MACVLAN_MODE, MODES[checkMacvlanMode(mode)]);
}

export function parseMacvlanData(data: Attrs): MacvlanInfo {
  const mode = data.u32(IFLA_MACVLAN_MODE) ?? 0;
  const name = MACVLAN_MODES.find((m) => MODES[m] === mode) ?? (mode === MACVLAN_MODE_SOURCE ? 'source' : undefined);
  return { mode: name ?? mode };
}
