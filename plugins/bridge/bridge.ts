import { attach } from '../../network/pipeline/attach.js';
import { check as checkAttachment } from '../../network/pipeline/check.js';
import { type CollectRequest, collect } from '../../network/pipeline/collect.js';
import { detach } from '../../network/pipeline/detach.js';
import { collectRequestFor } from '../attachment.js';
import { requireFirewall } from '../firewall.js';
import { ipamClient } from '../ipam-client.js';
import { requireNetns } from '../netns.js';
import type {
  AddRequest,
  CheckRequest,
  CniPlugin,
  CniResult,
  DelRequest,
  GcRequest,
  PluginContext,
  StatusRequest,
} from '../types.js';
import { parseBridgeConf, parseBridgeConfForDel } from './config.js';
import { attachRequestOf, checkRequestOf, detachRequestOf, resultOf } from './request.js';

async function add(req: AddRequest, ctx: PluginContext): Promise<CniResult> {
  const conf = parseBridgeConf(req.config, req.args);
  requireNetns(req.netns);
  return resultOf(await attach(attachRequestOf(conf, req, ctx)), conf);
}

async function del(req: DelRequest, ctx: PluginContext): Promise<void> {
  await detach(detachRequestOf(parseBridgeConfForDel(req.config), req, ctx));
}

async function check(req: CheckRequest, ctx: PluginContext): Promise<void> {
  const conf = parseBridgeConf(req.config, req.args);
  requireNetns(req.netns);
  await checkAttachment(checkRequestOf(conf, req, ctx));
}

/** What GC of the network's attachments needs, for this plugin and the all-in-one one. */
export function collectRequestOf(req: GcRequest, ctx: PluginContext): CollectRequest {
  return collectRequestFor(parseBridgeConf(req.config, new Map()), req, ctx);
}

/** Releases what no valid attachment holds: addresses (through IPAM), this network's firewall rules and records. */
async function gc(req: GcRequest, ctx: PluginContext): Promise<void> {
  await collect(collectRequestOf(req, ctx));
}

async function status(req: StatusRequest, ctx: PluginContext): Promise<void> {
  const conf = parseBridgeConf(req.config, new Map());
  if (conf.ipMasq || conf.isolate)
    await requireFirewall(
      conf.stateDir,
      conf.ipMasqBackend,
      'the firewall berth-bridge needs for ipMasq is not usable',
    );
  if (conf.ipamType) await ipamClient(conf.ipamType, ctx).status(req);
}

export const bridgePlugin: CniPlugin = { add, del, check, gc, status };
