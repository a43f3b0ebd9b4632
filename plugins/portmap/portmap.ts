import { subnetOf } from '../../base/address.js';
import { BerthError, ErrorCode, TeardownErrors } from '../../base/errors.js';
import { attachmentOwnerId } from '../../network/pipeline/cni-names.js';
import { checkPublished } from '../../network/pipeline/ports-check.js';
import { PortMapper, type PublishTarget } from '../../network/ports.js';
import { StateStore } from '../../network/state.js';
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
  // ADD publishes what the runtime asked and passes the previous result on, as a chained plugin does.
  if (conf.specs.length > 0) {
    const target = targetOf(req.config.name, req.containerId, req.ifName, prev, conf.snat);
    await mapperOf(conf).publish(target, conf.specs, req.netns);
  }
  return prev;
}

async function del(req: DelRequest): Promise<void> {
  // By the attachment alone: berth recorded what it published, so the runtime need not resend the mappings.
  const owner = attachmentOwnerId(req.config.name, req.containerId, req.ifName);
  await mapperOf(parsePortmapConfForDel(req.config)).unpublish(owner);
}

/** CHECK: what the runtime asks is what berth recorded, and the kernel holds it. An IPv4-only container is fine. */
async function check(req: CheckRequest): Promise<void> {
  const conf = parsePortmapConf(req.config);
  await checkPublished(
    mapperOf(conf),
    () => pluginFirewall(conf.stateDir, conf.backend),
    attachmentOwnerId(req.config.name, req.containerId, req.ifName),
    conf.specs,
    `container ${req.containerId} (${req.ifName})`,
  );
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
