import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tryParseIp } from '../../base/address.js';
import { invalidConfig } from '../../base/errors.js';
import type { BindMount } from '../../base/exec.js';
import { writeFileAtomic } from '../../base/files.js';
import { validateDnsName } from '../../base/names.js';
import { type Dns, parseResolvConf } from '../ipam/dns.js';
import { upstreamsFrom } from './upstreams.js';

/** A sandbox's resolver settings, as resolv.conf has them. */
export interface DnsSettings {
  readonly nameservers?: readonly string[];
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

/** A line of a sandbox's hosts file. */
export interface HostEntry {
  readonly address: string;
  readonly names: readonly string[];
}

/** Where `ip netns exec NAME` finds the files it binds over /etc's: /etc/netns/NAME/. */
export const DEFAULT_ETC_NETNS_DIR = '/etc/netns';

export const SANDBOX_FILES = ['resolv.conf', 'hosts'] as const;

/** resolv.conf takes at most 3 nameservers and 6 search domains (glibc's MAXNS and MAXDNSRCH). */
const MAX_NAMESERVERS = 3;
const MAX_SEARCH = 6;
const OPTION = /^[a-z][a-z0-9_-]*(?::[0-9]+)?$/i;

/** The settings given to createSandbox, checked: addresses, DNS names, option words. Code 7 names the bad one. */
export function validateDnsSettings(dns: DnsSettings | undefined, hosts: readonly HostEntry[] | undefined) {
  const checkAddress = (a: string, what: string) => {
    if (!tryParseIp(a)) throw invalidConfig(`invalid ${what} ${JSON.stringify(a)}`, 'give an IPv4 or IPv6 address');
  };
  for (const ns of dns?.nameservers ?? []) checkAddress(ns, 'nameserver');
  if ((dns?.nameservers?.length ?? 0) > MAX_NAMESERVERS) {
    throw invalidConfig(
      `${dns?.nameservers?.length} nameservers given`,
      `resolv.conf takes at most ${MAX_NAMESERVERS}; the resolver ignores the rest`,
    );
  }
  for (const d of dns?.search ?? []) validateDnsName(d, 'search domain');
  if ((dns?.search?.length ?? 0) > MAX_SEARCH) {
    throw invalidConfig(`${dns?.search?.length} search domains given`, `resolv.conf takes at most ${MAX_SEARCH}`);
  }
  for (const o of dns?.options ?? []) {
    if (!OPTION.test(o)) {
      throw invalidConfig(
        `invalid resolver option ${JSON.stringify(o)}`,
        'give words as resolv.conf has them, e.g. ndots:2, edns0',
      );
    }
  }
  for (const h of hosts ?? []) {
    checkAddress(h.address, 'hosts address');
    if (!Array.isArray(h.names) || h.names.length === 0) {
      throw invalidConfig(`hosts entry ${h.address} has no name`, 'give it names: ["db", ...]');
    }
    for (const n of h.names) validateDnsName(n, 'host name');
  }
}

/** A network the sandbox is on whose name service it asks. */
export interface SandboxNameServer {
  readonly listen: readonly string[];
  readonly domain?: string;
}

/**
 * The sandbox's resolv.conf: what was given, else the name services of its networks (with their
 * domains searched first), else the host's resolvers that a sandbox can reach (not the host's
 * loopback; systemd-resolved's stub becomes its upstreams).
 */
export function sandboxResolvConf(
  given: DnsSettings | undefined,
  nameServers: readonly SandboxNameServer[],
  host: { readonly text: string; readonly systemdText?: string },
): string {
  const hostDns: Dns = parseResolvConf(host.text);
  const reachable = upstreamsFrom(host.text, host.systemdText).filter((a) => !isLoopback(a));
  const ours = nameServers.flatMap((n) => n.listen);
  const nameservers = given?.nameservers?.length ? given.nameservers : ours.length > 0 ? ours : reachable;
  const domains = nameServers.flatMap((n) => (n.domain ? [n.domain] : []));
  const search = given?.search ?? [...new Set([...domains, ...hostDns.search])];
  const options = given?.options ?? hostDns.options;
  return [
    '# written by berth for this sandbox',
    ...nameservers.slice(0, MAX_NAMESERVERS).map((n) => `nameserver ${n}`),
    ...(search.length > 0 ? [`search ${search.slice(0, MAX_SEARCH).join(' ')}`] : []),
    ...(options.length > 0 ? [`options ${options.join(' ')}`] : []),
    '',
  ].join('\n');
}

/** The sandbox's hosts file: localhost, its own addresses under its name, then the entries given. */
export function sandboxHosts(
  self: { readonly name: string; readonly addresses: readonly string[] },
  given: readonly HostEntry[] | undefined,
): string {
  const own = self.addresses.map((a) => `${a}\t${self.name}`);
  return [
    '# written by berth for this sandbox',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...own,
    ...(given ?? []).map((h) => `${h.address}\t${h.names.join(' ')}`),
    '',
  ].join('\n');
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** The folder of a netns's files, by the netns's name. */
export const sandboxFilesDir = (etcNetnsDir: string, netnsName: string): string => join(etcNetnsDir, netnsName);

/**
 * Writes the files, each atomically (a process reading one sees it whole). Not synced to disk: they
 * belong to a netns, which a reboot ends, and a join should not wait for the disk.
 */
export function writeSandboxFiles(dir: string, files: { readonly resolvConf: string; readonly hosts: string }): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileAtomic(join(dir, 'resolv.conf'), files.resolvConf, 0o644, { durable: false });
  writeFileAtomic(join(dir, 'hosts'), files.hosts, 0o644, { durable: false });
}

/** Gone is success. */
export function removeSandboxFiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The binds that put the files over /etc's, for a process started in the sandbox. */
export function sandboxBinds(dir: string): BindMount[] {
  return SANDBOX_FILES.map((f) => ({ source: join(dir, f), target: join('/etc', f) }));
}
