import type { SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode } from '../base/errors.js';
import { spawnSyncInNetns } from '../base/exec.js';
import { decodeResult } from './skel/result.js';
import { compareVersions, looksLikeVersion } from './skel/version.js';
import type { CniArgs, CniResult } from './types.js';

/** What the CNI delegation contract passes on: the caller's environment, with the verb of the call. */
export interface DelegateCall {
  readonly command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifName?: string;
  readonly args?: CniArgs;
  readonly path: readonly string[];
  /** The network config as the caller received it; the delegate gets it unchanged on stdin. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The caller's environment, passed on with the call's CNI_* variables; default this process's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const DELEGATE_TIMEOUT_MS = 60_000;

/** The executable of a plugin type, from the directories of CNI_PATH in order. */
export function findPlugin(type: string, path: readonly string[]): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type)) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `invalid plugin type ${JSON.stringify(type)}`,
      'a type is the file name of a plugin in CNI_PATH',
    );
  }
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new BerthError(
    ErrorCode.InvalidConfig,
    `no plugin ${JSON.stringify(type)} in CNI_PATH (${path.join(':') || 'empty'})`,
    `install ${type} in one of those directories, or name another type`,
  );
}

/** GC and STATUS came with 1.1.0, which otherwise only added optional result fields to 1.0.0. */
const GC_STATUS_VERSION = '1.1.0';
const SAME_SHAPE_AS_1_1_0 = '1.0.0';

/**
 * Runs the plugin of `type` as the spec's delegation: same CNI_* variables, the
 * given verb, the config on stdin. Its error is ours, with its code; its result
 * comes back in the current shape (ADD), or nothing.
 *
 * A delegate older than the config still serves it where that is sound: one that
 * refuses a 1.1.0 config but speaks 1.0.0 (host-local up to plugins v1.4, say) gets
 * ADD, DEL and CHECK as 1.0.0, whose config and result have the same shape; GC and
 * STATUS, which it does not have, are not asked of it at all.
 */
export function delegate(type: string, call: DelegateCall): CniResult | undefined {
  const exe = findPlugin(type, call.path);
  if (call.command === 'GC' || call.command === 'STATUS') {
    if (!supportedVersions(exe, call.env).some((v) => compareVersions(v, GC_STATUS_VERSION) >= 0)) return undefined;
    return execute(exe, type, call);
  }
  try {
    return execute(exe, type, call);
  } catch (e) {
    const older =
      e instanceof BerthError &&
      e.code === ErrorCode.IncompatibleVersion &&
      call.config.cniVersion === GC_STATUS_VERSION &&
      supportedVersions(exe, call.env).includes(SAME_SHAPE_AS_1_1_0);
    if (!older) throw e;
    return execute(exe, type, { ...call, config: { ...call.config, cniVersion: SAME_SHAPE_AS_1_1_0 } });
  }
}

/** The spec versions a plugin says it speaks; none when its VERSION answer cannot be read. */
export function supportedVersions(exe: string, env: DelegateCall['env'] = process.env): string[] {
  const r = runPlugin(
    exe,
    { ...definedOnly(env), CNI_COMMAND: 'VERSION' },
    JSON.stringify({ cniVersion: GC_STATUS_VERSION }),
  );
  if (r.error || r.status !== 0) return [];
  try {
    const versions = (JSON.parse(r.stdout) as { supportedVersions?: unknown }).supportedVersions;
    return Array.isArray(versions) ? versions.filter(looksLikeVersion) : [];
  } catch {
    return [];
  }
}

function execute(exe: string, type: string, call: DelegateCall): CniResult | undefined {
  const env: Record<string, string> = {
    ...definedOnly(call.env ?? process.env),
    CNI_COMMAND: call.command,
    CNI_PATH: call.path.join(':'),
  };
  const set = (key: string, value: string | undefined) => {
    if (value === undefined) delete env[key];
    else env[key] = value;
  };
  set('CNI_CONTAINERID', call.containerId);
  set('CNI_NETNS', call.netns);
  set('CNI_IFNAME', call.ifName);
  set('CNI_ARGS', call.args && call.args.size > 0 ? [...call.args].map(([k, v]) => `${k}=${v}`).join(';') : undefined);
  const r = runPlugin(exe, env, JSON.stringify(call.config));
  if (r.error) {
    throw new BerthError(
      ErrorCode.IOFailure,
      `could not run ${exe}: ${r.error.message}`,
      'check that the plugin is executable',
    );
  }
  const out = r.stdout.trim();
  if (r.status !== 0) {
    const err = parseError(out);
    if (err) throw new BerthError(err.code, `${type}: ${err.msg}`, err.details ?? '');
    throw new BerthError(
      ErrorCode.Internal,
      `${type} failed with exit status ${r.status}`,
      (r.stderr || out).trim().slice(0, 2000),
    );
  }
  if (call.command !== 'ADD') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    throw new BerthError(
      ErrorCode.DecodeFailure,
      `${type} printed no JSON result on ADD`,
      `it printed: ${out.slice(0, 500)}`,
    );
  }
  return decodeResult(json, `the result of ${type}`);
}

/** One run of a plugin, in this netns (the Go skel may exit without reading stdin: see spawnSyncInNetns). */
function runPlugin(exe: string, env: Record<string, string>, input: string): SpawnSyncReturns<string> {
  return spawnSyncInNetns('', exe, [], { input, env, timeout: DELEGATE_TIMEOUT_MS });
}

function definedOnly(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function parseError(text: string): { code: number; msg: string; details?: string } | undefined {
  try {
    const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === 'number' && typeof e.msg === 'string') {
      return { code: e.code, msg: e.msg, ...(typeof e.details === 'string' ? { details: e.details } : {}) };
    }
  } catch {}
  return undefined;
}
