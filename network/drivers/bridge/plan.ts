import { familyOf, firstHostOf } from '../../../base/address.js';
import type { Addressing, AssignedAddress, Route } from '../../pipeline/addressing.js';

/** What a bridge attachment puts in the kernel, worked out from its settings and the addresses alone. */
export interface BridgePlan {
  /** The sandbox's addresses, each with its gateway (the bridge's, when the bridge is the gateway). */
  readonly ips: readonly AssignedAddress[];
  /** Routes inside the sandbox, each gateway resolved (a route without one goes via its family's gateway). */
  readonly routes: readonly Route[];
  /** Gateway addresses with prefix, for the bridge when it is the gateway. */
  readonly bridgeAddresses: readonly string[];
}

const DEFAULT_DST = { 4: '0.0.0.0/0', 6: '::/0' } as const;

export function planBridge(
  settings: { readonly isGateway: boolean; readonly isDefaultGateway: boolean },
  addressing: Addressing | null,
): BridgePlan {
  if (!addressing) return { ips: [], routes: [], bridgeAddresses: [] };
  const ips = addressing.ips.map((ip) => ({
    address: ip.address,
    ...(ip.gateway ? { gateway: ip.gateway } : settings.isGateway ? { gateway: firstHostOf(ip.address) } : {}),
  }));
  const gateways = new Map<4 | 6, string>();
  for (const ip of ips) {
    const f = familyOf(ip.address);
    if (ip.gateway && !gateways.has(f)) gateways.set(f, ip.gateway);
  }
  const routes: Route[] = addressing.routes.map((r) => {
    const gw = r.gw ?? gateways.get(familyOf(r.dst));
    return gw ? { ...r, gw } : r;
  });
  if (settings.isDefaultGateway) {
    for (const [family, gw] of gateways) {
      if (!routes.some((r) => r.dst === DEFAULT_DST[family] && r.gw)) routes.push({ dst: DEFAULT_DST[family], gw });
    }
  }
  const bridgeAddresses = settings.isGateway
    ? ips.filter((ip) => ip.gateway).map((ip) => `${ip.gateway}/${ip.address.split('/')[1]}`)
    : [];
  return { ips, routes, bridgeAddresses };
}
