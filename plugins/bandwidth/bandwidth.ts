import { BerthError, ErrorCode, TeardownErrors } from '../../base/errors.js';
import { attachmentOwnerId, hostVethName } from '../../network/pipeline/cni-names.js';
import { checkChained, collectShaping, shapeChained, unshapeChained } from '../../network/pipeline/shaping.js';
import { requireNetns } from '../netns.js';
import type { AddRequest, CheckRequest, CniPlugin, CniResult, DelRequest, GcRequest, PluginContext } from '../types.js';
import { parseBandwidthConf } from './config.js';

/**
 * berth-bandwidth: limits a container's bandwidth, chained after a bridge plugin, as the reference
 * bandwidth plugin does and with its config. ADD shapes the host end of the container's veth (a
 * TBF for what goes in) and redirects what comes out to an IFB link named after the attachment,
 * shaped there; the result is the previous one with the IFB added. DEL removes the IFB and the
 * qdiscs without the netns; CHECK wants them as the config says; GC removes the IFBs of
 * attachments the runtime no longer lists and those whose veth is gone.
 */

type Names = Pick<AddRequest, 'containerId' | 'ifName' | 'config'>;

const identityOf = (req: Names) => ({
  owner: attachmentOwnerId(req.config.name, req.containerId, req.ifName),
  name: `${req.containerId}/${req.ifName}`,
});

/** The host-side interfaces of a result (without a sandbox). */
const hostInterfaces = (result: CniResult | undefined) =>
  (result?.interfaces ?? []).filter((i) => i.sandbox === undefined).map((i) => i.name);

async function add(req: AddRequest, ctx: PluginContext): Promise<CniResult> {
  const shaping = parseBandwidthConf(req.config);
  const prev = req.config.prevResult;
  if (!shaping) return prev ?? {};
  if (!prev) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      'berth-bandwidth got no prevResult',
      'chain it after a plugin that makes a veth pair, e.g. berth-bridge or bridge',
    );
  }
  requireNetns(req.netns);
  const ifb = await shapeChained({
    hostNetnsPath: '',
    identity: identityOf(req),
    netnsPath: req.netns,
    ifname: req.ifName,
    hostInterfaces: hostInterfaces(prev),
    shaping,
    log: ctx.log,
  });
  // Listed after the container's interface, so the indexes of the IPs stay right.
  return ifb ? { ...prev, interfaces: [...(prev.interfaces ?? []), ifb] } : prev;
}

/**
 * Without the netns or the config's limits: the IFB by the attachment's name, and the qdiscs on
 * the host end, found from the previous result, berth-bridge's name for it, or the IFB's alias.
 */
async function del(req: DelRequest): Promise<void> {
  const ends = [...hostInterfaces(req.config.prevResult), hostVethName(req.config.name, req.containerId, req.ifName)];
  await unshapeChained('', identityOf(req).owner, ends);
}

async function check(req: CheckRequest): Promise<void> {
  const shaping = parseBandwidthConf(req.config);
  if (!shaping) return;
  requireNetns(req.netns);
  await checkChained({
    hostNetnsPath: '',
    identity: identityOf(req),
    netnsPath: req.netns,
    ifname: req.ifName,
    hostInterfaces: hostInterfaces(req.config.prevResult),
    shaping,
  });
}

async function gc(req: GcRequest, ctx: PluginContext): Promise<void> {
  const network = req.config.name;
  const valid = new Set(req.validAttachments.map((a) => attachmentOwnerId(network, a.containerId, a.ifName)));
  const errors = await collectShaping('', (owner) => owner.startsWith(`${network}/`) && !valid.has(owner), ctx.log);
  if (errors.length > 0) throw new TeardownErrors(errors);
}

export const bandwidthPlugin: CniPlugin = { add, del, check, gc };
