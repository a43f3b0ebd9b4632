import { BerthError, ErrorCode } from '../base/errors.js';
import type { Linked } from '../network/drivers/driver.js';
import type { NetworkSpec } from '../network/drivers/index.js';
import { now } from '../network/model.js';
import type { Addressing } from '../network/pipeline/addressing.js';
import { attachmentOwnerId, cniEndpointId, cniEndpointName, hostVethName } from '../network/pipeline/cni-names.js';
import type { CollectRequest } from '../network/pipeline/collect.js';
import type {
  AttachmentIdentity,
  AttachRequest,
  CheckRequest,
  DetachRequest,
  RulesPolicy,
} from '../network/pipeline/request.js';
import { StateStore } from '../network/state.js';
import { pluginFirewallAccess } from './firewall.js';
import { ipamClient } from './ipam-client.js';
import type {
  AddRequest,
  CheckRequest as CniCheckRequest,
  CniResult,
  DelRequest,
  GcRequest,
  PluginContext,
} from './types.js';

/**
 * A CNI plugin's verbs as requests to the attachment pipeline, whatever the driver: the config and
 * environment parsed into one value each, the IPAM plugin wrapped as the address source, the
 * result made from what the pipeline reports. Each plugin says what its attachment is.
 */

/** What a plugin attaches, as its config says. */
export interface PluginAttachment {
  readonly network: NetworkSpec;
  /** Where the attachment's record and firewall records go. */
  readonly stateDir: string;
  /** The IPAM plugin; absent for an attachment without addresses (layer 2 only). */
  readonly ipamType?: string;
  readonly loopback: boolean;
  readonly mac?: string;
  readonly rules: RulesPolicy;
  /** The host's bridge it is on, for the record (inspect draws it). */
  readonly bridge?: string;
}

/** What DEL needs, read from a config without judging the rest (a config that failed ADD must not fail DEL). */
export interface DetachConf {
  readonly stateDir: string;
  readonly ipamType?: string;
  readonly loopback: boolean;
}

type Names = Pick<AddRequest, 'containerId' | 'ifName'> & { readonly config: { readonly name: string } };

export function identityOf(req: Names): AttachmentIdentity {
  const network = req.config.name;
  return {
    owner: attachmentOwnerId(network, req.containerId, req.ifName),
    name: `${req.containerId}/${req.ifName}`,
    hostLink: hostVethName(network, req.containerId, req.ifName),
  };
}

/** Who the attachment is and where: the same for ADD and CHECK. */
function placeOf(a: PluginAttachment, req: AddRequest | CniCheckRequest) {
  return { identity: identityOf(req), hostNetnsPath: '', network: a.network, netnsPath: req.netns, ifname: req.ifName };
}

const ipamName = (type: string) => `IPAM ${type}`;

function addressing(type: string, result: CniResult): Addressing {
  if (!result.ips || result.ips.length === 0) {
    throw new BerthError(ErrorCode.InvalidConfig, `IPAM plugin ${type} returned no IP config`, 'check its ranges');
  }
  return { ips: result.ips, routes: result.routes ?? [], ...(result.dns ? { dns: result.dns } : {}) };
}

/** The attachment's record: an endpoint of the CNI network, under the plugin's stateDir. */
function recordOf(a: PluginAttachment, req: AddRequest): AttachRequest['record'] {
  const network = req.config.name;
  return {
    store: new StateStore(a.stateDir),
    endpoint: {
      name: cniEndpointName(network, req.containerId, req.ifName),
      id: cniEndpointId(network, req.containerId, req.ifName),
      network,
      cni: {
        containerId: req.containerId,
        ifName: req.ifName,
        driver: a.network.driver,
        ...(a.bridge ? { bridge: a.bridge } : {}),
        owner: attachmentOwnerId(network, req.containerId, req.ifName),
      },
      createdAt: now(),
    },
    sandbox: req.containerId,
  };
}

export function attachRequestFor(a: PluginAttachment, req: AddRequest, ctx: PluginContext): AttachRequest {
  const type = a.ipamType;
  const ipam = type ? ipamClient(type, ctx) : undefined;
  return {
    ...placeOf(a, req),
    ...(a.mac ? { mac: a.mac } : {}),
    ...(type && ipam
      ? {
          addresses: {
            name: ipamName(type),
            acquire: async () => addressing(type, await ipam.add(req)),
            release: () => ipam.del({ ...req, command: 'DEL' }),
          },
        }
      : {}),
    loopback: a.loopback,
    rules: a.rules,
    firewall: pluginFirewallAccess(a.stateDir),
    record: recordOf(a, req),
    log: ctx.log,
  };
}

export function detachRequestFor(driver: string, conf: DetachConf, req: DelRequest, ctx: PluginContext): DetachRequest {
  const network = req.config.name;
  const type = conf.ipamType;
  return {
    identity: identityOf(req),
    hostNetnsPath: '',
    network: { name: network, driver },
    ...(req.netns ? { netnsPath: req.netns } : {}),
    ifname: req.ifName,
    ...(type ? { addresses: { name: ipamName(type), release: () => ipamClient(type, ctx).del(req) } } : {}),
    loopback: conf.loopback,
    firewall: pluginFirewallAccess(conf.stateDir),
    record: {
      store: new StateStore(conf.stateDir),
      network,
      name: cniEndpointName(network, req.containerId, req.ifName),
      kind: 'attachment',
    },
    log: ctx.log,
  };
}

/** CHECK compares with the ADD's result, which must name this attachment's interface. */
export function checkRequestFor(a: PluginAttachment, req: CniCheckRequest, ctx: PluginContext): CheckRequest {
  const prev = req.config.prevResult;
  const container = prev.interfaces?.find((i) => i.name === req.ifName && i.sandbox === req.netns);
  if (!container) {
    throw new BerthError(
      ErrorCode.Internal,
      `prevResult has no interface ${req.ifName} in sandbox ${req.netns}`,
      "CHECK needs the result of this attachment's ADD",
    );
  }
  const type = a.ipamType;
  return {
    ...placeOf(a, req),
    expected: {
      ...(container.mac ? { mac: container.mac } : {}),
      ips: prev.ips ?? [],
      routes: prev.routes ?? [],
    },
    ...(type ? { addresses: { name: ipamName(type), check: () => ipamClient(type, ctx).check(req) } } : {}),
    loopback: a.loopback,
    rules: a.rules,
    firewall: pluginFirewallAccess(a.stateDir),
  };
}

/** What GC of a network's attachments needs: everything of the network that no valid attachment holds goes. */
export function collectRequestFor(
  conf: Pick<DetachConf, 'stateDir' | 'ipamType'>,
  req: GcRequest,
  ctx: PluginContext,
): CollectRequest {
  const type = conf.ipamType;
  return {
    network: req.config.name,
    valid: new Set(req.validAttachments.map((a) => attachmentOwnerId(req.config.name, a.containerId, a.ifName))),
    store: new StateStore(conf.stateDir),
    firewall: pluginFirewallAccess(conf.stateDir),
    hostNetnsPath: '',
    ...(type ? { addresses: { name: ipamName(type), collect: () => ipamClient(type, ctx).gc(req) } } : {}),
    log: ctx.log,
  };
}

/** The CNI result of an attachment: its interfaces, its addresses on the sandbox's interface, routes and DNS (the config's first). */
export function resultOf(
  att: Linked & { readonly dns?: CniResult['dns'] },
  conf: { readonly dns?: CniResult['dns'] },
): CniResult {
  const inSandbox = att.interfaces.findIndex((i) => i.sandbox !== undefined);
  return {
    interfaces: att.interfaces,
    ips: att.ips.map((ip) => ({ ...ip, interface: inSandbox })),
    routes: att.routes,
    ...(conf.dns ? { dns: conf.dns } : att.dns ? { dns: att.dns } : {}),
  };
}
