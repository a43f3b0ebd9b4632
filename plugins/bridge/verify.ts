import { BerthError, ErrorCode } from '../../base/errors.js';
import { NetlinkHandle } from '../../netlink/index.js';
import type { CheckRequest } from '../types.js';
import type { BridgeConf } from './config.js';
import { hostVethName } from './plan.js';

const failed = (msg: string, fix = 'DEL and ADD the container again') => new BerthError(ErrorCode.Internal, msg, fix);

/**
 * CHECK: the kernel still holds what ADD made, as the previous result says: the
 * bridge, the host end on it, the container end peered with it, its addresses and routes.
 */
export async function checkAttachment(conf: BridgeConf, req: CheckRequest): Promise<void> {
  const prev = req.config.prevResult;
  const container = prev.interfaces?.find((i) => i.name === req.ifName && i.sandbox === req.netns);
  if (!container) {
    throw failed(
      `prevResult has no interface ${req.ifName} in sandbox ${req.netns}`,
      "CHECK needs the result of this attachment's ADD",
    );
  }
  const host = NetlinkHandle.open();
  try {
    const bridge = await host.getLink(conf.bridge);
    if (bridge?.type !== 'bridge')
      throw failed(`bridge ${conf.bridge} is ${bridge ? `a ${bridge.type} link` : 'missing'} in the host netns`);
    if (bridge.promisc !== conf.promiscMode)
      throw failed(
        `bridge ${conf.bridge} has promiscuous mode ${bridge.promisc ? 'on' : 'off'}, the config says ${conf.promiscMode ? 'on' : 'off'}`,
      );
    const vethName = hostVethName(req.config.name, req.containerId, req.ifName);
    const veth = await host.getLink(vethName);
    if (!veth) throw failed(`host veth ${vethName} of ${req.containerId}/${req.ifName} is missing`);
    if (veth.masterIndex !== bridge.index)
      throw failed(`host veth ${vethName} is not attached to bridge ${conf.bridge}`);

    const inside = NetlinkHandle.open(req.netns);
    try {
      const link = await inside.getLink(req.ifName);
      if (!link) throw failed(`interface ${req.ifName} is missing in ${req.netns}`);
      if (link.type !== 'veth')
        throw failed(`interface ${req.ifName} in ${req.netns} is a ${link.type} link, not a veth`);
      if (container.mac && link.mac !== container.mac)
        throw failed(`interface ${req.ifName} has MAC ${link.mac}, prevResult says ${container.mac}`);
      if (link.peerIndex !== veth.index || veth.peerIndex !== link.index) {
        throw failed(`interface ${req.ifName} in ${req.netns} is not the peer of host veth ${vethName}`);
      }
      const addresses = new Set((await inside.listAddresses(link.index)).map((a) => a.cidr));
      for (const ip of prev.ips ?? []) {
        if (!addresses.has(ip.address))
          throw failed(`address ${ip.address} is missing on ${req.ifName} in ${req.netns}`);
      }
      const routes = [...(await inside.listRoutes({ family: 4 })), ...(await inside.listRoutes({ family: 6 }))];
      for (const r of prev.routes ?? []) {
        const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
        const found = routes.some((k) => k.dst === dst && (!r.gw || k.gateway === r.gw));
        if (!found) throw failed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${req.netns}`);
      }
    } finally {
      inside.close();
    }
  } finally {
    host.close();
  }
}
