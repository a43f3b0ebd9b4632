import { TeardownErrors } from '../../base/errors.js';
import { teardown } from '../../network/undo.js';
import { addAttachment, bridgePlugin } from '../bridge/bridge.js';
import { allInOneDnsConf, cniNames } from '../dns/config.js';
import { addNames, checkNames, collectNames, removeNames } from '../dns/dns.js';
import { parsePortmapConf } from '../portmap/config.js';
import { portmapPlugin, publishForAttachment } from '../portmap/portmap.js';
import type { CniPlugin, CniResult } from '../types.js';

/**
 * berth's fast path: bridge, IPAM, masquerade, published ports and (with "dns") names in one
 * process, with the keys and meaning of the chain berth-bridge + berth-ipam + berth-portmap +
 * berth-dns (a runtime pays one process per call instead of four).
 */
export const berthPlugin: CniPlugin = {
  async add(req, ctx): Promise<CniResult> {
    const ports = parsePortmapConf(req.config); // bad port mappings fail before anything is made
    const dns = allInOneDnsConf(req.config.raw);
    if (dns) cniNames(req.args, req.config.runtimeConfig, req.config.name); // bad names too
    // The attachment's masquerade and isolation go in the ports' firewall batch: one nft transaction.
    const { result, firewall } = await addAttachment(req, ctx, ports.backend);
    let published = false;
    try {
      await publishForAttachment(ports, req, result, firewall ? [firewall] : []);
      published = true;
      return dns ? await addNames(req, result, dns) : result;
    } catch (e) {
      const undo = { ...req, command: 'DEL' as const };
      if (published) await portmapPlugin.del(undo, ctx).catch((u) => ctx.log(`undo of the ports failed: ${u}`));
      await bridgePlugin.del(undo, ctx).catch((u) => ctx.log(`undo of the bridge attachment failed: ${u}`));
      throw e;
    }
  },

  async del(req, ctx) {
    const dns = allInOneDnsConf(req.config.raw);
    const errors = await teardown([
      ...(dns ? [{ what: 'names', run: () => removeNames(req, dns) }] : []),
      { what: 'published ports', run: () => portmapPlugin.del(req, ctx) },
      { what: 'bridge attachment', run: () => bridgePlugin.del(req, ctx) },
    ]);
    if (errors.length > 0) throw new TeardownErrors(errors);
  },

  async check(req, ctx) {
    await bridgePlugin.check(req, ctx);
    await portmapPlugin.check(req, ctx);
    const dns = allInOneDnsConf(req.config.raw);
    if (dns) await checkNames(req, dns);
  },

  async gc(req, ctx) {
    const dns = allInOneDnsConf(req.config.raw);
    const errors = await teardown([
      ...(dns ? [{ what: 'names', run: () => collectNames(req, dns) }] : []),
      { what: 'published ports', run: () => portmapPlugin.gc!(req, ctx) },
      { what: 'bridge attachments', run: () => bridgePlugin.gc!(req, ctx) },
    ]);
    if (errors.length > 0) throw new TeardownErrors(errors);
  },

  async status(req, ctx) {
    await bridgePlugin.status!(req, ctx);
    await portmapPlugin.status!(req, ctx);
  },
};
