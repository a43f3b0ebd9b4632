import { BerthError, ErrorCode } from '../../base/errors.js';
import type { CniCommand, CniVersion } from '../types.js';

export const SUPPORTED_VERSIONS: readonly CniVersion[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
export const CURRENT_VERSION: CniVersion = '1.1.0';

/** The oldest config version in which each verb exists (VERSION exists in all). */
const VERB_SINCE: Readonly<Record<CniCommand, CniVersion>> = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  VERSION: '0.3.0',
  CHECK: '0.4.0',
  STATUS: '1.1.0',
  GC: '1.1.0',
};

const VERSION_SHAPE = /^(\d+)\.(\d+)\.(\d+)$/;

export function isSupportedVersion(value: unknown): value is CniVersion {
  return typeof value === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(value);
}

/** Whether a string has the x.y.z shape of a spec version, supported or not. */
export function looksLikeVersion(value: unknown): value is string {
  return typeof value === 'string' && VERSION_SHAPE.test(value);
}

/** Orders two x.y.z versions numerically (so 0.10.0 > 0.9.0); negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = VERSION_SHAPE.exec(a);
  const pb = VERSION_SHAPE.exec(b);
  if (!pa || !pb) throw new Error(`compareVersions: "${!pa ? a : b}" is not an x.y.z version`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  return 0;
}

const supportedList = () => SUPPORTED_VERSIONS.join(', ');

/**
 * The config's `cniVersion` as a version berth speaks, or code 1 naming it.
 * A config without one means 0.1.0 to the reference implementation, which
 * berth does not speak, so that is refused too rather than guessed.
 */
export function negotiateVersion(configVersion: unknown): CniVersion {
  if (configVersion === undefined) {
    throw new BerthError(
      ErrorCode.IncompatibleVersion,
      'the network configuration has no cniVersion',
      `a configuration without cniVersion means spec 0.1.0, which berth does not support; set cniVersion to one of ${supportedList()}`,
    );
  }
  if (typeof configVersion !== 'string') {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `cniVersion ${JSON.stringify(configVersion)} is not a string`,
      `write it as a string, one of ${supportedList()}`,
    );
  }
  if (!isSupportedVersion(configVersion)) {
    throw new BerthError(
      ErrorCode.IncompatibleVersion,
      `incompatible CNI version "${configVersion}"`,
      `berth supports ${supportedList()}`,
    );
  }
  return configVersion;
}

/** Refuses a verb that the config's version does not have (CHECK before 0.4.0, STATUS and GC before 1.1.0). */
export function requireVerbInVersion(command: CniCommand, version: CniVersion): void {
  const since = VERB_SINCE[command];
  if (compareVersions(version, since) < 0) {
    throw new BerthError(
      ErrorCode.IncompatibleVersion,
      `config version "${version}" does not allow ${command}`,
      `${command} exists from CNI spec ${since} on; raise the config's cniVersion to ${since} or later`,
    );
  }
}

/** The answer to VERSION. */
export function versionInfo(cniVersion: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}
