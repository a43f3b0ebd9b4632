import type { NetworkSpec } from '../../network/drivers/index.js';
import type { AttachRequest, CheckRequest, DetachRequest } from '../../network/pipeline/request.js';
import {
  attachRequestFor,
  checkRequestFor,
  type DetachConf,
  detachRequestFor,
  type PluginAttachment,
} from '../attachment.js';
import type { AddRequest, CheckRequest as CniCheckRequest, DelRequest, PluginContext } from '../types.js';
import type { BridgeConf } from './config.js';

/** berth-bridge's verbs as requests to the attachment pipeline (plugins/attachment.ts): a bridge of the config's keys. */

export { identityOf, resultOf } from '../attachment.js';

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

function attachmentOf(conf: BridgeConf, name: string): PluginAttachment {
  return {
    network: networkOf(conf, name),
    stateDir: conf.stateDir,
    ...(conf.ipamType ? { ipamType: conf.ipamType } : {}),
    loopback: conf.loopback,
    ...(conf.mac ? { mac: conf.mac } : {}),
    rules: { kind: 'attachment', masquerade: conf.ipMasq, isolate: conf.isolate, backend: conf.ipMasqBackend },
    bridge: conf.bridge,
  };
}

export function attachRequestOf(conf: BridgeConf, req: AddRequest, ctx: PluginContext): AttachRequest {
  return attachRequestFor(attachmentOf(conf, req.config.name), req, ctx);
}

export function detachRequestOf(conf: DetachConf, req: DelRequest, ctx: PluginContext): DetachRequest {
  return detachRequestFor('bridge', conf, req, ctx);
}

export function checkRequestOf(conf: BridgeConf, req: CniCheckRequest, ctx: PluginContext): CheckRequest {
  return checkRequestFor(attachmentOf(conf, req.config.name), req, ctx);
}
