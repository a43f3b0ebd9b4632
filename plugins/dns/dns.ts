import { BerthError, ErrorCode } from '../../base/errors.js';
import { collectCniNames, registerCniNames, unregisterCniNames } from '../../network/names/attachments.js';
import { ensureNameService } from '../../network/names/launch.js';
import { NamesStore } from '../../network/names/store.js';
import type { AddRequest, CheckRequest, CniPlugin, CniResult, DelRequest, GcRequest } from '../types.js';
import {
  cniNames,
  cniNamesNetwork,
  cniOwner,
  containerAddresses,
  type DnsConf,
  parseDnsConf,
  withNameServer,
} from './config.js';

/**
 * berth-dns: names for a bridge network, chained after the bridge plugin as podman's dnsname is.
 * ADD registers the container's name (CNI_ARGS K8S_POD_NAME) and aliases (runtimeConfig.aliases)
 * with berth's name service, starts the service when none runs, and puts the gateway first among
 * the result's nameservers with the domain (domainName, default dns.berth). DEL removes the names,
 * with or without the netns; GC removes those of attachments the runtime no longer has.
 */

/** Registers the names of the attachment in `result` and returns the result with the name service in its dns. */
export async function addNames(req: AddRequest, result: CniResult, conf: DnsConf): Promise<CniResult> {
  const network = req.config.name;
  const settings = cniNamesNetwork(network, result, conf.domainName);
  const names = cniNames(req.args, req.config.runtimeConfig, network);
  const store = NamesStore.in(conf.stateDir);
  const owner = cniOwner(req.containerId, req.ifName);
  // A container with no names keeps its record too: the network's folder, and the service that
  // its resolv.conf names, last as long as the network has records. It stays on this host (a CNI
  // network's names are never published) and answers no query.
  await registerCniNames(store, settings, { owner, names, addresses: containerAddresses(result), netns: req.netns });
  try {
    // The plugin runs in the host's netns: the service is started there.
    await ensureNameService(conf.stateDir, { hostNetnsPath: '', network });
  } catch (e) {
    await unregisterCniNames(store, network, owner);
    throw e;
  }
  return withNameServer(result, settings);
}

export function removeNames(req: DelRequest, conf: DnsConf): Promise<void> {
  return unregisterCniNames(NamesStore.in(conf.stateDir), req.config.name, cniOwner(req.containerId, req.ifName));
}

/** CHECK: the names are registered, and the name service serves them (started again when it was killed). */
export async function checkNames(req: CheckRequest, conf: DnsConf): Promise<void> {
  const network = req.config.name;
  const owner = cniOwner(req.containerId, req.ifName);
  if (
    !NamesStore.in(conf.stateDir)
      .records(network)
      .some((r) => r.owner === owner)
  ) {
    throw new BerthError(
      ErrorCode.Internal,
      `berth holds no names for container ${req.containerId} (${req.ifName}) on network ${network}`,
      'DEL and ADD it again',
    );
  }
  await ensureNameService(conf.stateDir, { hostNetnsPath: '', network });
}

export async function collectNames(req: GcRequest, conf: DnsConf): Promise<void> {
  const keep = new Set(req.validAttachments.map((a) => cniOwner(a.containerId, a.ifName)));
  await collectCniNames(NamesStore.in(conf.stateDir), req.config.name, keep);
}

function previous(req: AddRequest): CniResult {
  const prev = req.config.prevResult;
  if (!prev) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      'berth-dns got no prevResult',
      'chain it after a bridge plugin in a conflist, e.g. berth-bridge with "isGateway": true',
    );
  }
  return prev;
}

export const dnsPlugin: CniPlugin = {
  add: (req) => addNames(req, previous(req), parseDnsConf(req.config.raw)),
  del: (req) => removeNames(req, parseDnsConf(req.config.raw)),
  check: (req) => checkNames(req, parseDnsConf(req.config.raw)),
  gc: (req) => collectNames(req, parseDnsConf(req.config.raw)),
};
