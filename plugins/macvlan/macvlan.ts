import type { NetworkSpec } from '../../network/drivers/index.js';
import { attach } from '../../network/pipeline/attach.js';
import { check as checkAttachment } from '../../network/pipeline/check.js';
import { collect } from '../../network/pipeline/collect.js';
import { detach } from '../../network/pipeline/detach.js';
import {
  attachRequestFor,
  checkRequestFor,
  collectRequestFor,
  detachRequestFor,
  type PluginAttachment,
  resultOf,
} from '../attachment.js';
import { ipamClient } from '../ipam-client.js';
import { detachConfOf } from '../keys.js';
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
import { type MacvlanConf, parseMacvlanConf } from './config.js';

/** The attachment a macvlan config describes: the macvlan driver with the reference's meaning (IPAM's routes only, no rules). */
export function macvlanAttachment(conf: MacvlanConf, name: string): PluginAttachment {
  const network: NetworkSpec = {
    name,
    driver: 'macvlan',
    settings: {
      parent: conf.master,
      mode: conf.mode,
      mtu: conf.mtu,
      parentInSandbox: conf.linkInContainer,
      defaultRoute: false,
    },
  };
  return {
    network,
    stateDir: conf.stateDir,
    ...(conf.ipamType ? { ipamType: conf.ipamType } : {}),
    loopback: conf.loopback,
    ...(conf.mac ? { mac: conf.mac } : {}),
    rules: { kind: 'attachment', masquerade: false, isolate: false, backend: undefined },
  };
}

/** The verbs on a macvlan config, for berth-macvlan and the all-in-one plugin's "macvlan". */
export const macvlanVerbs = {
  async add(conf: MacvlanConf, req: AddRequest, ctx: PluginContext): Promise<CniResult> {
    requireNetns(req.netns);
    return resultOf(await attach(attachRequestFor(macvlanAttachment(conf, req.config.name), req, ctx)), conf);
  },

  async del(req: DelRequest, ctx: PluginContext): Promise<void> {
    await detach(detachRequestFor('macvlan', detachConfOf(req.config.raw), req, ctx));
  },

  async check(conf: MacvlanConf, req: CheckRequest, ctx: PluginContext): Promise<void> {
    requireNetns(req.netns);
    await checkAttachment(checkRequestFor(macvlanAttachment(conf, req.config.name), req, ctx));
  },

  async gc(conf: MacvlanConf, req: GcRequest, ctx: PluginContext): Promise<void> {
    await collect(collectRequestFor(conf, req, ctx));
  },

  async status(conf: MacvlanConf, req: StatusRequest, ctx: PluginContext): Promise<void> {
    if (conf.ipamType) await ipamClient(conf.ipamType, ctx).status(req);
  },
};

/** berth-macvlan: a container on the LAN of a parent device, config-compatible with the reference macvlan plugin. */
export const macvlanPlugin: CniPlugin = {
  add: (req, ctx) => macvlanVerbs.add(parseMacvlanConf(req.config, req.args), req, ctx),
  del: (req, ctx) => macvlanVerbs.del(req, ctx),
  check: (req, ctx) => macvlanVerbs.check(parseMacvlanConf(req.config, req.args), req, ctx),
  gc: (req, ctx) => macvlanVerbs.gc(parseMacvlanConf(req.config, new Map()), req, ctx),
  status: (req, ctx) => macvlanVerbs.status(parseMacvlanConf(req.config, new Map()), req, ctx),
};
