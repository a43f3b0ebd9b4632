import { attach } from '../../network/pipeline/attach.js';
import { check } from '../../network/pipeline/check.js';
import { collect } from '../../network/pipeline/collect.js';
import { detach } from '../../network/pipeline/detach.js';
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
import type { CniPlugin, CniResult } from '../types.js';

/**
 * berth's fast path: bridge, IPAM, masquerade, published ports and (with "dns") names in one
 * process, with the keys and meaning of the chain berth-bridge + berth-ipam + berth-portmap +
 * berth-dns (a runtime pays one process per call instead of four). The attachment's masquerade
 * and isolation go in the ports' firewall batch: one nft transaction. With "macvlan": {...} its
 * network is a macvlan one instead (berth-macvlan's keys inside it; no ports, no names).
 */
export const berthPlugin: CniPlugin = {
  async add(req, ctx): Promise<CniResult> {
    const ports = parsePortmapConf(req.config); // bad port mappings fail before anything is made
    const macvlan = parseMacvlanSection(req.config, req.args);
    if (macvlan) return macvlanVerbs.add(macvlan, req, ctx);
    const dns = allInOneDnsConf(req.config.raw);
    if (dns) cniNames(req.args, req.config.runtimeConfig, req.config.name); // bad names too
    const conf = parseBridgeConf(req.config, req.args);
    requireNetns(req.netns);
    const attachment = await attach({
      ...attachRequestOf(conf, req, ctx),
      ports: {
        mapper: mapperOf(ports),
        backend: ports.backend,
        specs: ports.specs,
        target: (linked) => targetOf(req.config.name, req.containerId, req.ifName, resultOf(linked, conf), ports.snat),
      },
      ...(dns
        ? {
            names: {
              publish: async ({ linked }) => void (await addNames(req, resultOf(linked, conf), dns)),
              withdraw: () => removeNames({ ...req, command: 'DEL' }, dns),
            },
          }
        : {}),
    });
    const result = resultOf(attachment, conf);
    return dns ? withNameServer(result, cniNamesNetwork(req.config.name, result, dns.domainName)) : result;
  },

  async del(req, ctx) {
    if (hasMacvlanSection(req.config)) return macvlanVerbs.del(req, ctx);
    const dns = allInOneDnsConf(req.config.raw);
    await detach({
      ...detachRequestOf(parseBridgeConfForDel(req.config), req, ctx),
      ports: { mapper: mapperOf(parsePortmapConfForDel(req.config)) },
      ...(dns ? { names: { withdraw: () => removeNames(req, dns) } } : {}),
    });
  },

  async check(req, ctx) {
    const macvlan = parseMacvlanSection(req.config, req.args);
    if (macvlan) return macvlanVerbs.check(macvlan, req, ctx);
    const conf = parseBridgeConf(req.config, req.args);
    const ports = parsePortmapConf(req.config);
    const dns = allInOneDnsConf(req.config.raw);
    requireNetns(req.netns);
    await check({
      ...checkRequestOf(conf, req, ctx),
      ports: { mapper: mapperOf(ports), backend: ports.backend, specs: ports.specs },
      ...(dns ? { names: { check: () => checkNames(req, dns) } } : {}),
    });
  },

  async gc(req, ctx) {
    const macvlan = parseMacvlanSection(req.config, new Map());
    if (macvlan) return macvlanVerbs.gc(macvlan, req, ctx);
    const dns = allInOneDnsConf(req.config.raw);
    await collect({
      ...collectRequestOf(req, ctx),
      ports: { mapper: mapperOf(parsePortmapConf(req.config)) },
      ...(dns ? { names: { collect: () => collectNames(req, dns) } } : {}),
    });
  },

  async status(req, ctx) {
    const macvlan = parseMacvlanSection(req.config, new Map());
    if (macvlan) return macvlanVerbs.status(macvlan, req, ctx);
    await bridgePlugin.status!(req, ctx);
    await portmapPlugin.status!(req, ctx);
  },
};
