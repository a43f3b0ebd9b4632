import type { Argv } from 'yargs';
import { BerthError } from '../base/errors.js';
import { type DnsSettings, type HostEntry, validateDnsSettings } from '../network/names/sandbox-files.js';
import { UsageError } from './usage.js';

/** A sandbox's resolver options, as Docker's run has them. */
export interface DnsArgs {
  readonly dns?: readonly string[];
  readonly 'dns-search'?: readonly string[];
  readonly 'dns-option'?: readonly string[];
  readonly 'add-host'?: readonly string[];
}

export function withDnsOptions<T>(y: Argv<T>): Argv<T & DnsArgs> {
  return y
    .option('dns', {
      type: 'string',
      array: true,
      describe: "a nameserver for the sandbox's resolv.conf, instead of its networks' name services or the host's",
    })
    .option('dns-search', { type: 'string', array: true, describe: 'a search domain for its resolv.conf' })
    .option('dns-option', { type: 'string', array: true, describe: 'a resolv.conf option, e.g. ndots:2' })
    .option('add-host', { type: 'string', array: true, describe: 'NAME:IP, a line of its hosts file' }) as Argv<
    T & DnsArgs
  >;
}

/** The options as createSandbox takes them; a malformed one is bad usage (status 2), naming it. */
export function sandboxDnsOf(argv: DnsArgs): { dns?: DnsSettings; hosts?: HostEntry[] } {
  const strings = (v: readonly unknown[] | undefined) => (v ?? []).map(String);
  const dns: DnsSettings = {
    ...(argv.dns?.length ? { nameservers: strings(argv.dns) } : {}),
    ...(argv['dns-search']?.length ? { search: strings(argv['dns-search']) } : {}),
    ...(argv['dns-option']?.length ? { options: strings(argv['dns-option']) } : {}),
  };
  const hosts = strings(argv['add-host']).map(hostEntry);
  try {
    validateDnsSettings(dns, hosts);
  } catch (e) {
    if (e instanceof BerthError) throw new UsageError(e.msg, e.details);
    throw e;
  }
  return { ...(Object.keys(dns).length > 0 ? { dns } : {}), ...(hosts.length > 0 ? { hosts } : {}) };
}

/** NAME:IP, the address possibly IPv6 (the first ':' ends the name). */
function hostEntry(text: string): HostEntry {
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1) {
    throw new UsageError(`--add-host ${JSON.stringify(text)} is not NAME:IP`, 'e.g. --add-host db:10.89.0.9');
  }
  return { address: text.slice(at + 1).replace(/^\[(.*)\]$/, '$1'), names: [text.slice(0, at)] };
}
