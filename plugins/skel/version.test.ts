import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import type { CniCommand, CniVersion } from '../types.js';
import {
  CURRENT_VERSION,
  compareVersions,
  isSupportedVersion,
  looksLikeVersion,
  negotiateVersion,
  requireVerbInVersion,
  SUPPORTED_VERSIONS,
  versionInfo,
} from './version.js';

describe('versions', () => {
  it('supports 0.3.0 to 1.1.0 and prefers 1.1.0', () => {
    expect(SUPPORTED_VERSIONS).toEqual(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    expect(CURRENT_VERSION).toBe('1.1.0');
    expect(isSupportedVersion('0.4.0')).toBe(true);
    expect(isSupportedVersion('0.2.0')).toBe(false);
    expect(isSupportedVersion('1.1')).toBe(false);
    expect(isSupportedVersion(1.1)).toBe(false);
  });

  it('compares numerically, not as text', () => {
    expect(compareVersions('0.10.0', '0.9.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareVersions('0.3.1', '0.4.0')).toBeLessThan(0);
    expect(compareVersions('1.1.0', '1.1.0')).toBe(0);
    expect(() => compareVersions('1.1', '1.0.0')).toThrow('"1.1" is not an x.y.z version');
  });

  it('tells version-shaped strings apart', () => {
    expect(looksLikeVersion('2.0.0')).toBe(true);
    expect(looksLikeVersion('1.0')).toBe(false);
    expect(looksLikeVersion('v1.0.0')).toBe(false);
    expect(looksLikeVersion(undefined)).toBe(false);
  });
});

describe('negotiateVersion', () => {
  it('takes each supported version as is', () => {
    for (const v of SUPPORTED_VERSIONS) expect(negotiateVersion(v)).toBe(v);
  });

  it('refuses an unsupported one with code 1, naming it and the supported list', () => {
    for (const v of ['0.1.0', '0.2.0', '1.2.0', '2.0.0', 'latest']) {
      expect(failure(() => negotiateVersion(v))).toEqual({
        code: 1,
        msg: `incompatible CNI version "${v}"`,
        details: 'berth supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0',
      });
    }
  });

  it('refuses a missing one with code 1: the reference reads it as 0.1.0', () => {
    const f = failure(() => negotiateVersion(undefined));
    expect(f).toMatchObject({ code: 1, msg: 'the network configuration has no cniVersion' });
    expect(f.details).toContain('0.1.0');
    expect(f.details).toContain('0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  });

  it('refuses a non-string one as an invalid config', () => {
    expect(failure(() => negotiateVersion(1))).toMatchObject({ code: 7, msg: 'cniVersion 1 is not a string' });
  });
});

describe('requireVerbInVersion', () => {
  const allowed = (command: CniCommand, version: CniVersion) => {
    try {
      requireVerbInVersion(command, version);
      return true;
    } catch {
      return false;
    }
  };

  it('allows ADD, DEL and VERSION in every version', () => {
    for (const v of SUPPORTED_VERSIONS) {
      for (const c of ['ADD', 'DEL', 'VERSION'] as const) expect(allowed(c, v)).toBe(true);
    }
  });

  it('allows CHECK from 0.4.0 on', () => {
    expect(SUPPORTED_VERSIONS.filter((v) => allowed('CHECK', v))).toEqual(['0.4.0', '1.0.0', '1.1.0']);
    expect(failure(() => requireVerbInVersion('CHECK', '0.3.1'))).toEqual({
      code: 1,
      msg: 'config version "0.3.1" does not allow CHECK',
      details: "CHECK exists from CNI spec 0.4.0 on; raise the config's cniVersion to 0.4.0 or later",
    });
  });

  it('allows STATUS and GC from 1.1.0 on', () => {
    for (const c of ['STATUS', 'GC'] as const) {
      expect(SUPPORTED_VERSIONS.filter((v) => allowed(c, v))).toEqual(['1.1.0']);
      expect(failure(() => requireVerbInVersion(c, '1.0.0'))).toMatchObject({
        code: 1,
        msg: `config version "1.0.0" does not allow ${c}`,
      });
    }
  });
});

describe('versionInfo', () => {
  it('answers in the given version with the full list', () => {
    expect(versionInfo('0.4.0')).toEqual({
      cniVersion: '0.4.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });
});
