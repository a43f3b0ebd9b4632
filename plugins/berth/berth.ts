import { TeardownErrors } from '../../base/errors.js';
import { teardown } from '../../network/undo.js';
import { addAttachment, bridgePlugin } from '../bridge/bridge.js';
import { parsePortmapConf } from '../portmap/config.js';
import { portmapPlugin, publishForAttachment } from '../portmap/portmap.js';
import type { CniPlugin, CniResult } from '../types.js';

/**
 * berth's fast path: bridge, IPAM, masquerade and published ports in one
 * process, with the keys and meaning of the chain berth-bridge + berth-ipam +
 * berth-portmap (a runtime pays one process per call instead of three).
 */
export const berthPlugin: CniPlugin = {
  async add(req, ctx): Promise<CniResult> {
    const ports = parsePortmapConf(req.config); // bad port mappings fail before anything is made
    // The attachment's masquerade and isolation go in the ports' firewall batch: one nft transaction.
    const { result, firewall } = await addAttachment(req, ctx, ports.backend);
    try {
      await publishForAttachment(ports, req, result, firewall ? [firewall] : []);
    } catch (e) {
      await bridgePlugin
        .del({ ...req, command: 'DEL' }, ctx)
        .catch((undo) => ctx.log(`undo of the bridge attachment failed: ${undo}`));
      throw e;
    }
    return result;
  },

  async del(req, ctx) {
    const errors = await teardown([
      { what: 'published ports', run: () => portmapPlugin.del(req, ctx) },
      { what: 'bridge attachment', run: () => bridgePlugin.del(req, ctx) },
    ]);
    if (errors.length > 0) throw new TeardownErrors(errors);
  },

  async check(req, ctx) {
    await bridgePlugin.check(req, ctx);
    await portmapPlugin.check(req, ctx);
  },

  async gc(req, ctx) {
    const errors = await teardown([
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
