import { subnetOf } from '../../base/address.js';
import { BerthError, ErrorCode, TeardownErrors } from '../../base/errors.js';
import type { OwnerRules } from '../../iptables/index.js';
import { PortMapper, type PublishTarget, portsOwner, rulesOf } from '../../network/ports.js';
import { StateStore } from '../../network/state.js';
import { attachmentOwnerId } from '../bridge/plan.js';
import { pluginFirewall, requireFirewall } from '../firewall.js';
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
import { type PortmapConf, parsePortmapConf, parsePortmapConfForDel } from './config.js';

export function mapperOf(conf: Pick<PortmapConf, 'stateDir' | 'backend'>): PortMapper {
  return new PortMapper({
    store: new StateStore(conf.stateDir),
    firewall: () => pluginFirewall(conf.stateDir, conf.backend),
    hostNetnsPath: '',
  });
}

/** Where the published traffic goes, read from the previous plugin's result: the container's addresses and its bridge. */
export function targetOf(
  network: string,
  containerId: string,
  ifName: string,
  prev: CniResult,
  snat: boolean,
): PublishTarget {
  const interfaces = prev.interfaces ?? [];
  const inContainer = (i: number | undefined) => i === undefined || interfaces[i]?.sandbox !== undefined;
  const addresses = (prev.ips ?? []).filter((ip) => inContainer(ip.interface)).map((ip) => ip.address);
  if (addresses.length === 0) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `the previous result gives container ${containerId} no address to publish ports to`,
      'run berth-portmap after a plugin that assigns addresses',
    );
  }
  const hostInterface = interfaces.find((i) => i.sandbox === undefined)?.name;
  return {
    owner: attachmentOwnerId(network, containerId, ifName),
    label: `container ${containerId} (${ifName}) on network ${network}`,
    containerIPs: addresses.map((a) => a.split('/')[0]!),
    ...(hostInterface ? { hostInterface } : {}),
    ...(snat && hostInterface ? { hairpinSubnets: [...new Set(addresses.map(subnetOf))] } : {}),
  };
}

/**
 * ADD publishes what the runtime asked and passes the previous result on, as a chained plugin does.
 * `alongWith` (the all-in-one plugin's attachment rules) go in the same firewall batch, also when
 * there is nothing to publish.
 */
export async function publishForAttachment(
  conf: PortmapConf,
  req: AddRequest,
  prev: CniResult,
  alongWith: readonly OwnerRules[] = [],
): Promise<void> {
  if (conf.specs.length === 0) {
    if (alongWith.length > 0) await (await pluginFirewall(conf.stateDir, conf.backend)).applyMany(alongWith);
    return;
  }
  await mapperOf(conf).publish(
    targetOf(req.config.name, req.containerId, req.ifName, prev, conf.snat),
    conf.specs,
    req.netns,
    alongWith,
  );
}

/** DEL by the attachment alone: berth recorded what it published, so the runtime need not resend the mappings. */
export async function unpublishForAttachment(
  conf: PortmapConf,
  network: string,
  containerId: string,
  ifName: string,
): Promise<void> {
  await mapperOf(conf).unpublish(attachmentOwnerId(network, containerId, ifName));
}

async function add(req: AddRequest): Promise<CniResult> {
  const conf = parsePortmapConf(req.config);
  const prev = req.config.prevResult;
  if (!prev) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      'berth-portmap got no prevResult',
      'chain it after a plugin that creates the interface, e.g. berth-bridge',
    );
  }
  await publishForAttachment(conf, req, prev);
  return prev;
}

async function del(req: DelRequest): Promise<void> {
  await unpublishForAttachment(parsePortmapConfForDel(req.config), req.config.name, req.containerId, req.ifName);
}

/** CHECK: what the runtime asks is what berth recorded, and the kernel holds it. An IPv4-only container is fine. */
async function check(req: CheckRequest): Promise<void> {
  const conf = parsePortmapConf(req.config);
  const mapper = mapperOf(conf);
  const owner = attachmentOwnerId(req.config.name, req.containerId, req.ifName);
  const rec = mapper.get(owner);
  const asked = conf.specs.length;
  if (!rec) {
    if (asked === 0) return;
    throw new BerthError(
      ErrorCode.Internal,
      `berth holds no port mappings for container ${req.containerId} (${req.ifName})`,
      'DEL and ADD it again',
    );
  }
  const key = (s: { protocol: string; hostIP?: string; hostPort: number }) =>
    `${s.hostIP ?? '*'}|${s.protocol}|${s.hostPort}`;
  const recorded = new Set(rec.specs.map(key));
  const missing = conf.specs.filter((s) => !recorded.has(key(s)));
  if (missing.length > 0) {
    throw new BerthError(
      ErrorCode.Internal,
      `port mappings ${missing.map(key).join(', ')} of ${req.containerId} are not published`,
      'DEL and ADD the container again',
    );
  }
  const fw = await pluginFirewall(conf.stateDir, conf.backend);
  const problems = await fw.check(portsOwner(owner), rulesOf(rec));
  if (problems.length > 0) {
    throw new BerthError(
      ErrorCode.Internal,
      `the rules publishing ${req.containerId}'s ports are not in place: ${problems.join('; ')}`,
      'run `berth firewall reload`, or DEL and ADD the container',
    );
  }
}

async function gc(req: GcRequest, ctx: PluginContext): Promise<void> {
  const conf = parsePortmapConf(req.config);
  const mapper = mapperOf(conf);
  const valid = new Set(req.validAttachments.map((a) => attachmentOwnerId(req.config.name, a.containerId, a.ifName)));
  const errors: unknown[] = [];
  for (const rec of mapper.list().filter((r) => r.owner.startsWith(`${req.config.name}/`) && !valid.has(r.owner))) {
    try {
      await mapper.unpublish(rec.owner);
      ctx.log(`gc: unpublished the ports of ${rec.label}`);
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw new TeardownErrors(errors);
}

async function status(req: StatusRequest): Promise<void> {
  const conf = parsePortmapConf(req.config);
  await requireFirewall(conf.stateDir, conf.backend, 'berth-portmap cannot publish ports');
}

export const portmapPlugin: CniPlugin = { add, del, check, gc, status };
