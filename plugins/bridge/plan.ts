import { familyOf, firstHostOf } from '../../base/address.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { sha256Hex } from '../../base/sha256.js';
import type { CniIPConfig, CniResult, CniRoute } from '../types.js';
import type { BridgeConf } from './config.js';

/** What an ADD puts in the kernel, worked out from the config and the IPAM result alone. */
export interface AttachmentPlan {
  /** The result's ips, each with its gateway and interface index 2 (the container interface). */
  readonly ips: readonly CniIPConfig[];
  /** Routes inside the container, each gateway resolved (a route without one goes via its family's gateway). */
  readonly routes: readonly CniRoute[];
  /** Gateway addresses with prefix, for the bridge when it is the gateway. */
  readonly bridgeAddresses: readonly string[];
}

const DEFAULT_DST = { 4: '0.0.0.0/0', 6: '::/0' } as const;

export function planAttachment(conf: BridgeConf, ipam: CniResult | undefined): AttachmentPlan {
  if (!ipam) return { ips: [], routes: [], bridgeAddresses: [] };
  if (!ipam.ips || ipam.ips.length === 0) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `IPAM plugin ${conf.ipamType} returned no IP config`,
      'check its ranges',
    );
  }
  const ips = ipam.ips.map((ip) => ({
    address: ip.address,
    ...(ip.gateway ? { gateway: ip.gateway } : conf.isGateway ? { gateway: firstHostOf(ip.address) } : {}),
    interface: 2,
  }));
  const gateways = new Map<4 | 6, string>();
  for (const ip of ips) {
    const f = familyOf(ip.address);
    if (ip.gateway && !gateways.has(f)) gateways.set(f, ip.gateway);
  }
  const routes: CniRoute[] = (ipam.routes ?? []).map((r) => {
    const gw = r.gw ?? gateways.get(familyOf(r.dst));
    return gw ? { ...r, gw } : r;
  });
  if (conf.isDefaultGateway) {
    for (const [family, gw] of gateways) {
      if (!routes.some((r) => r.dst === DEFAULT_DST[family] && r.gw)) routes.push({ dst: DEFAULT_DST[family], gw });
    }
  }
  const bridgeAddresses = conf.isGateway
    ? ips.filter((ip) => ip.gateway).map((ip) => `${ip.gateway}/${ip.address.split('/')[1]}`)
    : [];
  return { ips, routes, bridgeAddresses };
}

/**
 * The host end's name, derived from the attachment so a DEL without the
 * container's netns still finds it (the reference names it at random, and then cannot).
 */
export function hostVethName(network: string, containerId: string, ifName: string): string {
  return `veth${sha256Hex(`${network}\0${containerId}\0${ifName}`).slice(0, 11)}`;
}

/** The firewall owner of an attachment's rules: removable by these three values alone. */
export function attachmentOwnerId(network: string, containerId: string, ifName: string): string {
  return `${network}/${containerId}/${ifName}`;
}
