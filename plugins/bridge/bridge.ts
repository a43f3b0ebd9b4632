import { familyOf, subnetOf } from '../../base/address.js';
import { BerthError, ErrorCode, TeardownErrors } from '../../base/errors.js';
import type { Backend, Firewall, Owner, OwnerRules, Rules } from '../../iptables/index.js';
import { RecordStore } from '../../iptables/records.js';
import { NetlinkHandle } from '../../netlink/index.js';
import { attachVeth, type BridgeSpec, detachVeth, ensureBridge, isGone } from '../../network/drivers/bridge.js';
import { teardown, transaction } from '../../network/undo.js';
import { pluginFirewall, pluginRecordDir, requireFirewall } from '../firewall.js';
import { ipamClient } from '../ipam-client.js';
import { checkLoopback, setLoopbackDown, setLoopbackUp } from '../loopback/loopback.js';
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
import { type BridgeConf, parseBridgeConf, parseBridgeConfForDel } from './config.js';
import { attachmentOwnerId, hostVethName, planAttachment } from './plan.js';
import { checkAttachment } from './verify.js';

const owner = (network: string, containerId: string, ifName: string): Owner => ({
  kind: 'container',
  id: attachmentOwnerId(network, containerId, ifName),
});

function firewallOf(conf: BridgeConf, backend = conf.ipMasqBackend): Promise<Firewall> {
  return pluginFirewall(conf.stateDir, backend);
}

/** The rules of one attachment: masquerade of its addresses (as the reference) and, when asked, its bridge's isolation. */
export function attachmentRules(conf: BridgeConf, addresses: readonly string[]): Rules {
  return {
    masquerade: conf.ipMasq ? addresses.map((a) => ({ source: a.split('/')[0]!, subnet: subnetOf(a) })) : [],
    bridges: conf.isolate ? [{ name: conf.bridge, subnets: [...new Set(addresses.map(subnetOf))], isolate: true }] : [],
  };
}

export function bridgeSpecOf(conf: BridgeConf, gatewayAddresses: readonly string[]): BridgeSpec {
  return {
    bridgeName: conf.bridge,
    mtu: conf.mtu,
    hairpin: conf.hairpinMode,
    promiscuous: conf.promiscMode,
    gatewayAddresses,
    forceAddress: conf.forceAddress,
  };
}

/** An attachment made: the result, and its firewall rules when they were left to the caller (else null). */
export interface Attachment {
  readonly result: CniResult;
  readonly firewall: OwnerRules | null;
}

async function add(req: AddRequest, ctx: PluginContext): Promise<CniResult> {
  return (await attach(req, ctx, null)).result;
}

/**
 * ADD for a caller that commits the attachment's firewall rules in a batch of its own, on the firewall
 * of `backend` (undefined: the detected one), as the all-in-one plugin does with its ports: the rules come
 * back unapplied when that is the bridge's firewall, else they are applied here. Whatever fails after
 * this, bridgePlugin.del undoes (the rules by their record, when they were applied).
 */
export function addAttachment(req: AddRequest, ctx: PluginContext, backend: Backend | undefined): Promise<Attachment> {
  return attach(req, ctx, { backend });
}

async function attach(
  req: AddRequest,
  ctx: PluginContext,
  leaveFirewallTo: { readonly backend: Backend | undefined } | null,
): Promise<Attachment> {
  const conf = parseBridgeConf(req.config, req.args);
  requireNetns(req.netns);
  const network = req.config.name;
  // The handle outlives the transaction: a rollback deletes links through it.
  const host = NetlinkHandle.open();
  try {
    return await transaction(async (undo) => {
      let ipamResult: CniResult | undefined;
      if (conf.ipamType) {
        const ipam = ipamClient(conf.ipamType, ctx);
        ipamResult = await ipam.add(req);
        undo.push(`IPAM ${conf.ipamType}`, () => ipam.del({ ...req, command: 'DEL' }));
      }
      const plan = planAttachment(conf, ipamResult);
      const spec = bridgeSpecOf(conf, plan.bridgeAddresses);
      await ensureBridge(host, spec, undo);
      for (const family of new Set(plan.bridgeAddresses.map(familyOf))) await host.enableForwarding(family);
      const attached = await attachVeth(
        host,
        spec,
        {
          hostVethName: hostVethName(network, req.containerId, req.ifName),
          sandboxNetnsPath: req.netns,
          ifname: req.ifName,
          addresses: plan.ips.map((ip) => ip.address),
          routes: plan.routes.map((r) => ({ dst: r.dst, ...(r.gw ? { gateway: r.gw } : {}) })),
          up: !conf.disableContainerInterface,
          dad: conf.enableDad,
          isolated: conf.portIsolation,
          ...(conf.mac ? { mac: conf.mac } : {}),
        },
        undo,
      );
      if (conf.loopback) {
        await setLoopbackUp(req.netns);
        undo.push('lo up', () => setLoopbackDown(req.netns, ctx));
      }
      const rules = attachmentRules(
        conf,
        plan.ips.map((ip) => ip.address),
      );
      let left: OwnerRules | null = null;
      if (rules.masquerade?.length || rules.bridges?.length) {
        const o = owner(network, req.containerId, req.ifName);
        if (leaveFirewallTo && leaveFirewallTo.backend === conf.ipMasqBackend) left = { owner: o, rules };
        else {
          const fw = await firewallOf(conf);
          await fw.apply(o, rules);
          undo.push('firewall rules', () => fw.remove(o));
        }
      }
      const bridge = (await host.getLink(conf.bridge))!;
      const result: CniResult = {
        interfaces: [
          { name: conf.bridge, mac: bridge.mac ?? '' },
          { name: attached.hostVeth.name, mac: attached.hostVeth.mac },
          { name: attached.container.name, mac: attached.container.mac, sandbox: req.netns },
        ],
        ips: plan.ips,
        routes: plan.routes,
        ...(conf.dns ? { dns: conf.dns } : ipamResult?.dns ? { dns: ipamResult.dns } : {}),
      };
      return { result, firewall: left };
    });
  } finally {
    host.close();
  }
}

/** Best effort and idempotent: every step runs; gone is success; all other errors are reported together. */
async function del(req: DelRequest, ctx: PluginContext): Promise<void> {
  const conf = parseBridgeConfForDel(req.config);
  const network = req.config.name;
  const o = owner(network, req.containerId, req.ifName);
  const errors = await teardown(
    [
      {
        what: 'firewall rules',
        run: async () => {
          // By the attachment's own record: works without the netns, and starts no process when there is none.
          const rec = new RecordStore(pluginRecordDir(conf.stateDir)).read(o);
          if (rec) await (await pluginFirewall(conf.stateDir, rec.backend)).remove(o);
        },
      },
      {
        what: 'veth',
        // By the host end alone: after an ADD that failed on a taken ifName, the runtime's DEL must
        // not remove the interface that was in the way.
        run: async () => {
          const host = NetlinkHandle.open();
          try {
            await detachVeth(host, hostVethName(network, req.containerId, req.ifName));
          } finally {
            host.close();
          }
        },
      },
      ...(conf.ipamType
        ? [{ what: `IPAM ${conf.ipamType}`, run: () => ipamClient(conf.ipamType!, ctx).del(req) }]
        : []),
      ...(conf.loopback ? [{ what: 'lo', run: () => setLoopbackDown(req.netns, ctx) }] : []),
    ],
    isGone,
  );
  if (errors.length > 0) throw new TeardownErrors(errors);
}

async function check(req: CheckRequest, ctx: PluginContext): Promise<void> {
  const conf = parseBridgeConf(req.config, req.args);
  requireNetns(req.netns);
  if (conf.ipamType) await ipamClient(conf.ipamType, ctx).check(req);
  await checkAttachment(conf, req);
  if (conf.loopback) await checkLoopback(req.netns);
  const rules = attachmentRules(
    conf,
    (req.config.prevResult.ips ?? []).map((ip) => ip.address),
  );
  if (rules.masquerade?.length || rules.bridges?.length) {
    const problems = await (await firewallOf(conf)).check(owner(req.config.name, req.containerId, req.ifName), rules);
    if (problems.length > 0) {
      throw new BerthError(
        ErrorCode.Internal,
        `firewall rules of ${req.containerId}/${req.ifName} are not as ADD left them: ${problems.join('; ')}`,
        'DEL and ADD the container again, or run `berth firewall reload`',
      );
    }
  }
}

/** Releases what no valid attachment holds: addresses (through IPAM) and this network's firewall rules. */
async function gc(req: GcRequest, ctx: PluginContext): Promise<void> {
  const conf = parseBridgeConf(req.config, new Map());
  const errors: unknown[] = [];
  if (conf.ipamType) {
    try {
      await ipamClient(conf.ipamType, ctx).gc(req);
    } catch (e) {
      errors.push(e);
    }
  }
  const store = new RecordStore(pluginRecordDir(conf.stateDir));
  const valid = new Set(req.validAttachments.map((a) => attachmentOwnerId(req.config.name, a.containerId, a.ifName)));
  const prefix = `${req.config.name}/`;
  const stale = store
    .list()
    .records.filter((r) => r.owner.kind === 'container' && r.owner.id.startsWith(prefix) && !valid.has(r.owner.id));
  for (const rec of stale) {
    try {
      await (await firewallOf(conf, rec.backend)).remove(rec.owner);
      ctx.log(`gc: removed the firewall rules of ${rec.owner.id}`);
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw new TeardownErrors(errors);
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
