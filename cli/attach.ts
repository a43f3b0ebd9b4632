import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode } from '../base/errors.js';
import type { Controller } from '../network/controller.js';
import type { Endpoint } from '../network/endpoint.js';
import type { Network } from '../network/network.js';
import type { Sandbox } from '../network/sandbox.js';
import type { Bandwidth } from '../network/shaping/limits.js';
import { sandboxEndpoints } from '../network/topology.js';

/**
 * The CLI's conventions over the library: a sandbox joins a network through
 * one endpoint named after the sandbox; disconnecting removes that endpoint;
 * removing a sandbox removes the endpoints it held. So a user never meets an
 * endpoint that is not in a sandbox.
 */

const exists = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);

/** The first ethN the sandbox's netns does not have yet. */
export function freeIfname(taken: readonly string[]): string {
  for (let i = 0; i < 1000; i++) if (!taken.includes(`eth${i}`)) return `eth${i}`;
  throw exists('the sandbox has eth0 to eth999 already', 'give --ifname');
}

export interface ConnectOptions {
  readonly ips?: readonly string[];
  /** More names for the sandbox on this network, besides its own. */
  readonly aliases?: readonly string[];
  /** Default: the first free ethN. */
  readonly ifname?: string;
  readonly bandwidth?: Bandwidth;
}

/** Creates the endpoint and joins it; a failed join leaves no endpoint behind. */
export async function connect(net: Network, sb: Sandbox, options: ConnectOptions = {}): Promise<Endpoint> {
  const ctl = net.controller;
  if (ctl.endpointRecords().some((e) => e.network === net.name && e.name === sb.name)) {
    throw exists(
      `sandbox ${sb.name} is already connected to network ${net.name}`,
      `disconnect it first: berth disconnect ${net.name} ${sb.name}`,
    );
  }
  const inNetns = sandboxEndpoints(sb.record, ctl.endpointRecords()).flatMap((e) => (e.join ? [e.join.ifname] : []));
  const ifname = options.ifname ?? freeIfname(inNetns);
  const ep = await net.createEndpoint({
    name: sb.name,
    ...(options.ips?.length ? { ips: options.ips } : {}),
    ...(options.aliases?.length ? { aliases: options.aliases } : {}),
    ...(options.bandwidth ? { bandwidth: options.bandwidth } : {}),
  });
  try {
    await ep.join(sb, { ifname });
  } catch (e) {
    await ep.delete().catch(() => undefined); // the join already undid its own steps
    throw e;
  }
  return ep;
}

/** Leaves and removes the sandbox's endpoint on the network. */
export async function disconnect(net: Network, sandboxName: string): Promise<void> {
  const rec = net.controller.endpointRecords().find((e) => e.network === net.name && e.name === sandboxName);
  if (!rec) {
    throw new BerthError(
      ErrorCode.UnknownContainer,
      `sandbox ${sandboxName} is not connected to network ${net.name}`,
      `see the endpoints with berth network inspect ${net.name}`,
    );
  }
  await net.endpoint(rec.name).delete();
}

/**
 * A sandbox of its own netns is /run/netns/NAME: a name `ip netns` or another
 * state dir already uses is refused before anything is made (the Controller
 * would fail on it with a bare EEXIST).
 */
export function assertNetnsNameFree(ctl: Controller, name: string): void {
  const path = join(ctl.netnsDir, name);
  if (existsSync(path)) {
    throw exists(
      `a network namespace named ${JSON.stringify(name)} already exists (${path})`,
      `choose another name; if nothing uses it, remove it with: ip netns del ${name}`,
    );
  }
}
