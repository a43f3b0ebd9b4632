import { readFileSync } from 'node:fs';
import { BerthError, ErrorCode } from '../../base/errors.js';

/** The `dns` of a CNI result. */
export interface Dns {
  readonly nameservers: readonly string[];
  readonly domain?: string;
  readonly search: readonly string[];
  readonly options: readonly string[];
}

/** Reads resolv.conf text as host-local's `resolvConf` option does: nameserver, domain, search, options. */
export function parseResolvConf(text: string): Dns {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  let domain: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const [key, ...values] = line.split(/\s+/);
    if (values.length === 0) continue;
    if (key === 'nameserver') nameservers.push(values[0]!);
    else if (key === 'domain') domain = values[0];
    else if (key === 'search') search.push(...values);
    else if (key === 'options') options.push(...values);
  }
  return { nameservers, ...(domain === undefined ? {} : { domain }), search, options };
}

export function readResolvConf(path: string): Dns {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `ipam.resolvConf ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`,
      'point resolvConf at a readable resolv.conf, or leave it out',
    );
  }
  return parseResolvConf(text);
}
