import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode } from '../network/errors.js';
import { decodeResult } from './skel/result.js';
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

/**
 * Runs the plugin of `type` as the spec's delegation: same CNI_* variables, the
 * given verb, the config on stdin. Its error is ours, with its code; its result
 * comes back in the current shape (ADD), or nothing.
 */
export function delegate(type: string, call: DelegateCall): CniResult | undefined {
  const exe = findPlugin(type, call.path);
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
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
  const r = spawnSync(exe, [], {
    input: JSON.stringify(call.config),
    env,
    encoding: 'utf8',
    timeout: DELEGATE_TIMEOUT_MS,
  });
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

function parseError(text: string): { code: number; msg: string; details?: string } | undefined {
  try {
    const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === 'number' && typeof e.msg === 'string') {
      return { code: e.code, msg: e.msg, ...(typeof e.details === 'string' ? { details: e.details } : {}) };
    }
  } catch {}
  return undefined;
}
