import { subnetOf } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { validateDnsName } from '../../base/names.js';
import type { NamesNetwork } from '../../network/names/model.js';
import { DEFAULT_STATE_DIR } from '../../network/state.js';
import type { CniArgs, CniResult } from '../types.js';

/** The domain a CNI network's names are also answered under, as podman's dnsname has dns.podman. */
export const DEFAULT_DOMAIN = 'dns.berth';

export interface DnsConf {
  readonly domainName: string;
  readonly stateDir: string;
}

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** berth-dns's keys: `domainName` (default dns.berth) and `stateDir`, as podman's dnsname plugin has them. */
export function parseDnsConf(raw: Readonly<Record<string, unknown>>, where = ''): DnsConf {
  const domain = raw.domainName ?? DEFAULT_DOMAIN;
  if (typeof domain !== 'string') {
    throw invalid(`"${where}domainName" must be a string, not ${JSON.stringify(domain)}`, `e.g. "${DEFAULT_DOMAIN}"`);
  }
  return { domainName: validateDnsName(domain, `${where}domainName`), stateDir: stateDirOf(raw) };
}

/**
 * The all-in-one plugin's names: `"dns": true`, or a `"dns"` object with berth-dns's
 * `domainName`. A `"dns"` object without it is CNI's own DNS settings (nameservers, search, ...),
 * which the result carries as the reference bridge's does, and names stay off: undefined.
 */
export function allInOneDnsConf(raw: Readonly<Record<string, unknown>>): DnsConf | undefined {
  const dns = raw.dns;
  if (dns === true) return { domainName: DEFAULT_DOMAIN, stateDir: stateDirOf(raw) };
  if (dns === undefined || dns === false || dns === null) return undefined;
  if (typeof dns !== 'object' || Array.isArray(dns)) {
    throw invalid(
      `"dns" must be true, false or an object, not ${JSON.stringify(dns)}`,
      'e.g. "dns": { "domainName": "dns.berth" } for names',
    );
  }
  if (!('domainName' in dns)) return undefined;
  return { ...parseDnsConf(dns as Record<string, unknown>, 'dns.'), stateDir: stateDirOf(raw) };
}

function stateDirOf(raw: Readonly<Record<string, unknown>>): string {
  const stateDir = raw.stateDir ?? DEFAULT_STATE_DIR;
  if (typeof stateDir !== 'string' || stateDir === '') {
    throw invalid(`invalid "stateDir" ${JSON.stringify(stateDir)}`, `leave it out for ${DEFAULT_STATE_DIR}`);
  }
  return stateDir;
}

/**
 * The container's names on the network: its name from CNI_ARGS K8S_POD_NAME (podman passes the
 * container's name there), then its aliases from runtimeConfig.aliases, as podman sends that
 * capability: { "<network>": ["alias", ...] }. Each must be a DNS name (code 7 otherwise).
 */
export function cniNames(args: CniArgs, runtimeConfig: Readonly<Record<string, unknown>>, network: string): string[] {
  const names: string[] = [];
  const pod = args.get('K8S_POD_NAME');
  if (pod) names.push(validateDnsName(pod, 'K8S_POD_NAME'));
  const aliases = runtimeConfig.aliases;
  if (aliases !== undefined) {
    const list =
      typeof aliases === 'object' && aliases !== null && !Array.isArray(aliases)
        ? (aliases as Record<string, unknown>)[network]
        : aliases;
    if (list !== undefined && !(Array.isArray(list) && list.every((a) => typeof a === 'string'))) {
      throw invalid(
        `runtimeConfig.aliases for network ${network} is not a list of names: ${JSON.stringify(list)}`,
        'the aliases capability is { "<network>": ["name", ...] }',
      );
    }
    for (const a of list ?? []) names.push(validateDnsName(a, 'alias'));
  }
  return [...new Set(names)];
}

/** The network's name service settings from an ADD's result: it listens on the gateways of the IPs. */
export function cniNamesNetwork(network: string, result: CniResult, domain: string): NamesNetwork {
  const withGateway = (result.ips ?? []).filter((ip) => ip.gateway);
  if (withGateway.length === 0) {
    throw invalid(
      `the result before berth-dns on network ${network} has no gateway for its name service to listen on`,
      'chain berth-dns after a bridge plugin that is the gateway ("isGateway": true)',
    );
  }
  return {
    network,
    listen: [...new Set(withGateway.map((ip) => ip.gateway!))],
    subnets: [...new Set(withGateway.map((ip) => subnetOf(ip.address)))],
    domain,
  };
}

/** The container's addresses in the result, without prefix: those on its own interfaces. */
export function containerAddresses(result: CniResult): string[] {
  const interfaces = result.interfaces ?? [];
  return (result.ips ?? [])
    .filter((ip) => ip.interface === undefined || interfaces[ip.interface]?.sandbox !== undefined)
    .map((ip) => ip.address.split('/')[0]!);
}

/** The result with the name service first among its nameservers, and the domain searched first. */
export function withNameServer(result: CniResult, settings: NamesNetwork): CniResult {
  const prev = result.dns ?? {};
  const domain = settings.domain;
  return {
    ...result,
    dns: {
      ...prev,
      nameservers: [...new Set([...settings.listen, ...(prev.nameservers ?? [])])],
      ...(domain ? { domain, search: [...new Set([domain, ...(prev.search ?? [])])] } : {}),
    },
  };
}

/** The owner of a CNI attachment's names record. */
export const cniOwner = (containerId: string, ifName: string): string => `${containerId}/${ifName}`;
