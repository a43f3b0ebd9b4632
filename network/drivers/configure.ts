import { BerthError, ErrorCode } from '../../base/errors.js';
import { validateDnsName } from '../../base/names.js';
import type { DriverConfig, NetworkConfig, NetworkOptions, NetworkRequest } from './options.js';

/** The checks of a new network's options that more than one driver makes. */

export const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** The MTU and the rules' switches of a network whose sandboxes the host stands in front of, defaults filled. */
export function hostSideOf(opts: NetworkOptions) {
  const mtu = opts.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
    throw invalid(`invalid MTU ${JSON.stringify(opts.mtu)}`, 'give a whole number from 68 to 65535');
  return {
    mtu,
    masquerade: opts.masquerade ?? true,
    isolate: opts.isolate ?? true,
    hairpin: opts.hairpin ?? true,
    promiscuous: opts.promiscuous ?? false,
  };
}

/** A network of a driver that makes nothing (host, null): no subnet, no bridge, no names. */
export function linklessConfig(driver: string, { options: opts }: NetworkRequest): DriverConfig {
  const hostSide = hostSideOf(opts);
  if (opts.subnet || opts.subnet6 || opts.bridgeName) {
    throw invalid(`the ${driver} driver takes no subnet or bridge`, 'leave them out, or use the bridge driver');
  }
  if (opts.dns) {
    throw invalid(
      `the ${driver} driver has no names: its name service listens on a bridge's gateway`,
      'leave dns out, or use the bridge driver',
    );
  }
  return { ...hostSide, bridgeName: '', subnets: [] };
}

/** A network's names option, checked: undefined when off. */
export function resolveDns(dns: NetworkOptions['dns']): NetworkConfig['dns'] {
  if (dns === undefined || dns === false) return undefined;
  if (dns === true) return {};
  if (typeof dns !== 'object' || dns === null) {
    throw invalid(`invalid dns ${JSON.stringify(dns)}`, 'give true, false or { domain: "..." }');
  }
  return dns.domain === undefined ? {} : { domain: validateDnsName(dns.domain, 'DNS domain') };
}
