import { BerthError, ErrorCode, invalidConfig } from '../../base/errors.js';
import { isCniName } from '../../base/names.js';
import type { CniAttachment, CniCommand, NetConf } from '../types.js';
import { locateJsonError } from './json.js';
import { decodeResult } from './result.js';
import { looksLikeVersion, negotiateVersion, requireVerbInVersion } from './version.js';

/** The stdin text as JSON; a syntax error is code 6 with its line, column and offset. */
export function decodeJson(text: string): unknown {
  // A byte order mark is not JSON but editors write one; it is not worth failing over.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') {
    throw new BerthError(
      ErrorCode.DecodeFailure,
      'no network configuration on stdin',
      'the runtime passes the plugin configuration as a JSON object on stdin',
    );
  }
  try {
    return JSON.parse(body);
  } catch (e) {
    const where = locateJsonError(body);
    const msg = where
      ? `network configuration on stdin is not valid JSON: expected ${where.expected} at line ${where.line} column ${where.column} (offset ${where.offset})`
      : `network configuration on stdin is not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
    throw new BerthError(
      ErrorCode.DecodeFailure,
      msg,
      where ? `near ${JSON.stringify(excerpt(body, where.offset))}` : '',
      {
        cause: e,
      },
    );
  }
}

function excerpt(text: string, offset: number): string {
  return text.slice(Math.max(0, offset - 20), offset + 20);
}

/** The config's cniVersion if stdin is JSON with a version-shaped one: errors answer in it, as the spec asks. */
export function sniffVersion(text: string): string | undefined {
  try {
    const v = (JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as { cniVersion?: unknown })
      ?.cniVersion;
    return looksLikeVersion(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The decoded stdin as a validated config for `command`: the version is one
 * berth speaks and has the verb, `name` and `type` follow the spec's rules,
 * `args` and `runtimeConfig` are objects, `prevResult` is read into the current
 * shape. `capabilities` is the runtime's business and is left in `raw` only.
 */
export function parseNetConf(raw: unknown, command: CniCommand): NetConf {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BerthError(
      ErrorCode.DecodeFailure,
      `network configuration on stdin is ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}, not an object`,
      'the runtime passes one plugin configuration object; a conflist is for the runtime, not for a plugin',
    );
  }
  const o = raw as Record<string, unknown>;
  const cniVersion = negotiateVersion(o.cniVersion);
  requireVerbInVersion(command, cniVersion);

  if (o.name === undefined || o.name === '') throw invalidConfig('the network configuration has no name');
  if (!isCniName(o.name)) {
    throw invalidConfig(
      `invalid network name ${JSON.stringify(o.name)}`,
      'a network name starts with a letter or digit, followed by letters, digits, "_", "." or "-"',
    );
  }
  if (o.type === undefined || o.type === '') throw invalidConfig('the network configuration has no type');
  if (typeof o.type !== 'string' || /[/\\]/.test(o.type)) {
    throw invalidConfig(
      `invalid plugin type ${JSON.stringify(o.type)}`,
      'type is the file name of the plugin executable, without "/" or "\\"',
    );
  }
  const config: NetConf = {
    cniVersion,
    name: o.name,
    type: o.type,
    args: optObject(o.args, 'args'),
    runtimeConfig: optObject(o.runtimeConfig, 'runtimeConfig'),
    raw: o,
  };
  if (o.prevResult === undefined || o.prevResult === null) return config;
  return { ...config, prevResult: decodeResult(o.prevResult, 'prevResult') };
}

function optObject(x: unknown, key: string): Readonly<Record<string, unknown>> {
  if (x === undefined || x === null) return {};
  if (typeof x !== 'object' || Array.isArray(x)) {
    throw invalidConfig(`${key} must be an object, not ${Array.isArray(x) ? 'an array' : JSON.stringify(x)}`);
  }
  return x as Record<string, unknown>;
}

/**
 * The attachments GC must keep. The spec's key is `cni.dev/valid-attachments`;
 * an earlier text named it `cni.dev/attachments` and libcni sends both. With
 * neither, GC refuses: an absent list read as empty would collect everything.
 */
export function parseValidAttachments(raw: Readonly<Record<string, unknown>>): CniAttachment[] {
  const key = raw['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = raw[key];
  if (list === undefined) {
    throw invalidConfig(
      'GC without cni.dev/valid-attachments',
      'the runtime lists the attachments still in use in cni.dev/valid-attachments; without it nothing can be told stale',
    );
  }
  if (!Array.isArray(list)) throw invalidConfig(`${key} must be an array, not ${JSON.stringify(list)}`);
  return list.map((entry: unknown, n) => {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    if (typeof e.containerID !== 'string' || e.containerID === '' || typeof e.ifname !== 'string' || e.ifname === '') {
      throw invalidConfig(
        `${key}[${n}] is ${JSON.stringify(entry)}`,
        'each attachment is {"containerID": "<id>", "ifname": "<name>"} with both non-empty',
      );
    }
    return { containerId: e.containerID, ifName: e.ifname };
  });
}
