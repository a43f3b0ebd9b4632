import { BerthError, ErrorCode } from '../../base/errors.js';
import type { NamesNetwork } from '../../network/names/model.js';
import { attach } from '../../network/pipeline/attach.js';
import { check } from '../../network/pipeline/check.js';
import { collect } from '../../network/pipeline/collect.js';
import { detach } from '../../network/pipeline/detach.js';
import type { AttachRequest } from '../../network/pipeline/request.js';
import type { Bandwidth } from '../../network/shaping/limits.js';
import { parseBandwidthConf } from '../bandwidth/config.js';
import { bridgePlugin, collectRequestOf } from '../bridge/bridge.js';
import { parseBridgeConf, parseBridgeConfForDel } from '../bridge/config.js';
import { attachRequestOf, checkRequestOf, detachRequestOf, resultOf } from '../bridge/request.js';
import { allInOneDnsConf, cniNames, cniNamesNetwork, withNameServer } from '../dns/config.js';
import { addNames, checkNames, collectNames, removeNames } from '../dns/dns.js';
import { hasMacvlanSection, parseMacvlanSection } from '../macvlan/config.js';
import { macvlanVerbs } from '../macvlan/macvlan.js';
import { requireNetns } from '../netns.js';
import { parsePortmapConf, parsePortmapConfForDel } from '../portmap/config.js';
import { mapperOf, portmapPlugin, targetOf } from '../portmap/portmap.js';
import type { AddRequest, CniPlugin, CniResult } from '../types.js';
import {
  addOverlayNames,
  checkOverlayNames,
  collectOverlayNames,
  overlayAttachRequest,
  overlayCheckRequest,
  overlayCollectRequest,
  overlayDetachRequest,
  overlayNames,
  overlayRecord,
  parseNetworkRef,
  parseNetworkRefForDel,
  removeOverlayNames,
} from './overlay.js';

/** The attachment's record with its limits, for berth inspect. */
function withBandwidth(record: AttachRequest['record'], bandwidth: Bandwidth): AttachRequest['record'] {
  return record && { ...record, endpoint: { ...record.endpoint, bandwidth } };
}

/** What the attachment's names need: where they go, and the result's dns that names the service. */
interface AllInOneNames {
  readonly publish: (result: CniResult) => Promise<void>;
  readonly withdraw: () => Promise<void> | void;
  readonly settings: (result: CniResult) => NamesNetwork;
}

/**
 * The attachment through the pipeline with the config's ports, limits and names; the result with
 * the IFB after the container's interface (as the reference bandwidth plugin lists it) and the
 * name service first among its nameservers.
 */
async function attachAllInOne(
  request: AttachRequest,
  conf: Parameters<typeof resultOf>[1],
  req: AddRequest,
  ports: ReturnType<typeof parsePortmapConf>,
  shaping: ReturnType<typeof parseBandwidthConf>,
  names: AllInOneNames | undefined,
): Promise<CniResult> {
  const attachment = await attach({
    ...request,
    ...(shaping ? { shaping, record: withBandwidth(request.record, shaping.bandwidth) } : {}),
    ports: {
      mapper: mapperOf(ports),
      backend: ports.backend,
      specs: ports.specs,
      target: (linked) => targetOf(req.config.name, req.containerId, req.ifName, resultOf(linked, conf), ports.snat),
    },
    ...(names
      ? { names: { publish: ({ linked }) => names.publish(resultOf(linked, conf)), withdraw: names.withdraw } }
      : {}),
  });
  const linked = resultOf(attachment, conf);
  const result = attachment.ifb ? { ...linked, interfaces: [...(linked.interfaces ?? []), attachment.ifb] } : linked;
  return names ? withNameServer(result, names.settings(result)) : result;
}

/**
 * berth's fast path: bridge, IPAM, masquerade, published ports, bandwidth limits and (with "dns")
 * names in one process, with the keys and meaning of the chain berth-bridge + berth-ipam +
 * berth-portmap + berth-bandwidth + berth-dns (a runtime pays one process per call instead of
 * five). The attachment's masquerade
 * and isolation go in the ports' firewall batch: one nft transaction. With "macvlan": {...} its
 * network is a macvlan one instead (berth-macvlan's keys inside it; no ports, no names); with
 * "network": {"driver": "overlay", "name": ...} it attaches to that overlay network instead of a
 * bridge of the config's own (overlay.ts).
 */
export const berthPlugin: CniPlugin = {
  async add(req, ctx): Promise<CniResult> {
    const shaping = parseBandwidthConf(req.config); // bad limits fail before anything is made
    const macvlan = parseMacvlanSection(req.config, req.args);
    if (macvlan && shaping) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        'bandwidth limits shape the host end of a veth, and a "macvlan" network has none',
        'leave the bandwidth keys and capability out of a macvlan network',
      );
    }
    if (macvlan) return macvlanVerbs.add(macvlan, req, ctx);
    const ports = parsePortmapConf(req.config); // bad port mappings fail before anything is made
    const overlay = parseNetworkRef(req.config);
    const dns = allInOneDnsConf(req.config.raw);
    if (dns) cniNames(req.args, req.config.runtimeConfig, req.config.name); // bad names too
    if (overlay) {
      // Names on an overlay network are the network's (overlayNames): its service on this host, its domain.
      const settings = dns ? overlayNames(overlay, overlayRecord(overlay), req.config.raw) : undefined;
      requireNetns(req.netns);
      // An overlay attachment's result has no DNS of the config's: the bridge keys are the network's.
      return attachAllInOne(
        overlayAttachRequest(overlay, req, ctx),
        {},
        req,
        ports,
        shaping,
        settings && {
          publish: (result) => addOverlayNames(overlay, req, result),
          withdraw: () => removeOverlayNames(overlay, req),
          settings: () => settings,
        },
      );
    }
    const bridge = parseBridgeConf(req.config, req.args);
    requireNetns(req.netns);
    return attachAllInOne(
      attachRequestOf(bridge, req, ctx),
      bridge,
      req,
      ports,
      shaping,
      dns && {
        publish: async (result) => void (await addNames(req, result, dns)),
        withdraw: () => removeNames({ ...req, command: 'DEL' }, dns),
        settings: (result) => cniNamesNetwork(req.config.name, result, dns.domainName),
      },
    );
  },

  async del(req, ctx) {
    if (hasMacvlanSection(req.config)) return macvlanVerbs.del(req, ctx);
    const overlay = parseNetworkRefForDel(req.config);
    const dns = overlay ? undefined : allInOneDnsConf(req.config.raw);
    await detach({
      ...(overlay
        ? overlayDetachRequest(overlay, req, ctx)
        : detachRequestOf(parseBridgeConfForDel(req.config), req, ctx)),
      ports: { mapper: mapperOf(parsePortmapConfForDel(req.config)) },
      // An overlay attachment's names go whether or not the config still asks for them.
      ...(overlay ? { names: { withdraw: () => removeOverlayNames(overlay, req) } } : {}),
      ...(dns ? { names: { withdraw: () => removeNames(req, dns) } } : {}),
    });
  },

  async check(req, ctx) {
    const macvlan = parseMacvlanSection(req.config, req.args);
    if (macvlan) return macvlanVerbs.check(macvlan, req, ctx);
    const overlay = parseNetworkRef(req.config);
    const ports = parsePortmapConf(req.config);
    const dns = allInOneDnsConf(req.config.raw);
    const shaping = parseBandwidthConf(req.config);
    requireNetns(req.netns);
    await check({
      ...(overlay
        ? overlayCheckRequest(overlay, req, ctx)
        : checkRequestOf(parseBridgeConf(req.config, req.args), req, ctx)),
      ...(shaping ? { shaping } : {}),
      ports: { mapper: mapperOf(ports), backend: ports.backend, specs: ports.specs },
      ...(dns ? { names: { check: () => (overlay ? checkOverlayNames(overlay, req) : checkNames(req, dns)) } } : {}),
    });
  },

  async gc(req, ctx) {
    const macvlan = parseMacvlanSection(req.config, new Map());
    if (macvlan) return macvlanVerbs.gc(macvlan, req, ctx);
    const overlay = parseNetworkRef(req.config);
    const dns = allInOneDnsConf(req.config.raw);
    const ports = { mapper: mapperOf(parsePortmapConf(req.config)) };
    const names = overlay
      ? { names: { collect: async () => collectOverlayNames(overlay, req) } }
      : dns
        ? { names: { collect: () => collectNames(req, dns) } }
        : {};
    const base = overlay ? overlayCollectRequest(overlay, req, ctx) : collectRequestOf(req, ctx);
    await collect({ ...base, ports, ...names });
  },

  async status(req, ctx) {
    const macvlan = parseMacvlanSection(req.config, new Map());
    if (macvlan) return macvlanVerbs.status(macvlan, req, ctx);
    const overlay = parseNetworkRef(req.config);
    if (overlay) overlayRecord(overlay);
    else await bridgePlugin.status!(req, ctx);
    await portmapPlugin.status!(req, ctx);
  },
};
