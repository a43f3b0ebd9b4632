import { BerthError, ErrorCode } from '../../base/errors.js';
import type { Linked } from '../../network/drivers/driver.js';
import type { NetworkSpec } from '../../network/drivers/index.js';
import { now } from '../../network/model.js';
import type { Addressing } from '../../network/pipeline/addressing.js';
import { attachmentOwnerId, cniEndpointId, cniEndpointName, hostVethName } from '../../network/pipeline/cni-names.js';
import type {
  AttachmentIdentity,
  AttachRequest,
  CheckRequest,
  DetachRequest,
  RulesPolicy,
} from '../../network/pipeline/request.js';
import { StateStore } from '../../network/state.js';
import { pluginFirewallAccess } from '../firewall.js';
import { type IpamClient, ipamClient } from '../ipam-client.js';
import type { AddRequest, CheckRequest as CniCheckRequest, CniResult, DelRequest, PluginContext } from '../types.js';
import type { BridgeConf } from './config.js';

/**
 * berth-bridge's verbs as requests to the attachment pipeline: the CNI config and environment
 * parsed into one value each, the IPAM plugin wrapped as the address source, the result made
 * from what the pipeline reports.
 */

type Names = Pick<AddRequest, 'containerId' | 'ifName'> & { readonly config: { readonly name: string } };

export function identityOf(req: Names): AttachmentIdentity {
  const network = req.config.name;
  return {
    owner: attachmentOwnerId(network, req.containerId, req.ifName),
    name: `${req.containerId}/${req.ifName}`,
    hostLink: hostVethName(network, req.containerId, req.ifName),
  };
}

export function networkOf(conf: BridgeConf, name: string): NetworkSpec {
  return {
    name,
    driver: 'bridge',
    settings: {
      bridge: conf.bridge,
      mtu: conf.mtu,
      hairpin: conf.hairpinMode,
      promiscuous: conf.promiscMode,
      forceAddress: conf.forceAddress,
      isGateway: conf.isGateway,
      isDefaultGateway: conf.isDefaultGateway,
      up: !conf.disableContainerInterface,
      dad: conf.enableDad,
      portIsolation: conf.portIsolation,
    },
  };
}

/** Who the attachment is and where: the same for ADD and CHECK. */
function placeOf(conf: BridgeConf, req: AddRequest | CniCheckRequest) {
  return {
    identity: identityOf(req),
    hostNetnsPath: '',
    network: networkOf(conf, req.config.name),
    netnsPath: req.netns,
    ifname: req.ifName,
  };
}

const rulesOf = (conf: BridgeConf): RulesPolicy => ({
  kind: 'attachment',
  masquerade: conf.ipMasq,
  isolate: conf.isolate,
  backend: conf.ipMasqBackend,
});

const ipamName = (type: string) => `IPAM ${type}`;

function addressing(type: string, result: CniResult): Addressing {
  if (!result.ips || result.ips.length === 0) {
    throw new BerthError(ErrorCode.InvalidConfig, `IPAM plugin ${type} returned no IP config`, 'check its ranges');
  }
  return { ips: result.ips, routes: result.routes ?? [], ...(result.dns ? { dns: result.dns } : {}) };
}

/** The attachment's record: an endpoint of the CNI network, under the plugin's stateDir. */
function recordOf(conf: BridgeConf, req: AddRequest): AttachRequest['record'] {
  const network = req.config.name;
  return {
    store: new StateStore(conf.stateDir),
    endpoint: {
      name: cniEndpointName(network, req.containerId, req.ifName),
      id: cniEndpointId(network, req.containerId, req.ifName),
      network,
      cni: {
        containerId: req.containerId,
        ifName: req.ifName,
        driver: 'bridge',
        bridge: conf.bridge,
        owner: attachmentOwnerId(network, req.containerId, req.ifName),
      },
      createdAt: now(),
    },
    sandbox: req.containerId,
  };
}

export function attachRequestOf(conf: BridgeConf, req: AddRequest, ctx: PluginContext): AttachRequest {
  const type = conf.ipamType;
  const ipam: IpamClient | undefined = type ? ipamClient(type, ctx) : undefined;
  return {
    ...placeOf(conf, req),
    ...(conf.mac ? { mac: conf.mac } : {}),
    ...(type && ipam
      ? {
          addresses: {
            name: ipamName(type),
            acquire: async () => addressing(type, await ipam.add(req)),
            release: () => ipam.del({ ...req, command: 'DEL' }),
          },
        }
      : {}),
    loopback: conf.loopback,
    rules: rulesOf(conf),
    firewall: pluginFirewallAccess(conf.stateDir),
    record: recordOf(conf, req),
    log: ctx.log,
  };
}

/** What DEL needs, from a config read without judging the rest (a config that failed ADD must not fail DEL). */
export function detachRequestOf(
  conf: Pick<BridgeConf, 'stateDir' | 'ipamType' | 'loopback'>,
  req: DelRequest,
  ctx: PluginContext,
): DetachRequest {
  const network = req.config.name;
  const type = conf.ipamType;
  return {
    identity: identityOf(req),
    hostNetnsPath: '',
    network: { name: network, driver: 'bridge' },
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
export function checkRequestOf(conf: BridgeConf, req: CniCheckRequest, ctx: PluginContext): CheckRequest {
  const prev = req.config.prevResult;
  const container = prev.interfaces?.find((i) => i.name === req.ifName && i.sandbox === req.netns);
  if (!container) {
    throw new BerthError(
      ErrorCode.Internal,
      `prevResult has no interface ${req.ifName} in sandbox ${req.netns}`,
      "CHECK needs the result of this attachment's ADD",
    );
  }
  const type = conf.ipamType;
  return {
    ...placeOf(conf, req),
    expected: {
      ...(container.mac ? { mac: container.mac } : {}),
      ips: prev.ips ?? [],
      routes: prev.routes ?? [],
    },
    ...(type ? { addresses: { name: ipamName(type), check: () => ipamClient(type, ctx).check(req) } } : {}),
    loopback: conf.loopback,
    rules: rulesOf(conf),
    firewall: pluginFirewallAccess(conf.stateDir),
  };
}

/** The CNI result of an attachment: its interfaces, its addresses on the sandbox's interface, routes and DNS. */
export function resultOf(att: Linked & { readonly dns?: CniResult['dns'] }, conf: Pick<BridgeConf, 'dns'>): CniResult {
  const inSandbox = att.interfaces.findIndex((i) => i.sandbox !== undefined);
  return {
    interfaces: att.interfaces,
    ips: att.ips.map((ip) => ({ ...ip, interface: inSandbox })),
    routes: att.routes,
    ...(conf.dns ? { dns: conf.dns } : att.dns ? { dns: att.dns } : {}),
  };
}
