import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode } from '../base/errors.js';
import type { Controller } from '../network/controller.js';
import type { Endpoint } from '../network/endpoint.js';
import { type PortRecord, targetFromNetns } from '../network/ports.js';
import type { PortSpec } from '../network/portspec.js';
import { UsageError } from './usage.js';

/** Which container `berth port` acts on: exactly one of a netns path or name, a PID, a sandbox berth knows. */
export interface PortTargetArgs {
  readonly netns?: string;
  readonly pid?: number;
  readonly sandbox?: string;
}

/** What publishes for the container: a berth endpoint (its ports leave with it), or a netns berth did not make. */
export type PortTarget =
  | { readonly kind: 'endpoint'; readonly endpoint: Endpoint }
  | { readonly kind: 'netns'; readonly netnsPath: string; readonly owner: string };

export function netnsPathOf(args: PortTargetArgs): string {
  const given = [args.netns !== undefined, args.pid !== undefined, args.sandbox !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(
      'name the container once: --netns PATH, --pid PID or --sandbox NAME',
      'e.g. berth port publish --netns /run/netns/web 8080:80',
    );
  }
  if (args.pid !== undefined) {
    if (!Number.isInteger(args.pid) || args.pid <= 0)
      throw new UsageError(`--pid ${args.pid} is not a process id`, 'give the PID of a process in the container');
    return `/proc/${args.pid}/ns/net`;
  }
  const netns = args.netns!;
  return netns.includes('/') ? netns : join('/run/netns', netns);
}

/**
 * A netns's identity that survives the path it was named by (a /proc/PID path
 * and a /run/netns bind mount of one netns are one owner).
 */
export function netnsOwner(netnsPath: string): string {
  try {
    const st = statSync(netnsPath);
    return `netns:${st.dev}:${st.ino}`;
  } catch {
    throw new BerthError(
      ErrorCode.UnknownContainer,
      `network namespace ${netnsPath} does not exist`,
      'give the netns of a running container: /run/netns/NAME or /proc/PID/ns/net',
    );
  }
}

export function resolvePortTarget(ctl: Controller, args: PortTargetArgs): PortTarget {
  if (args.sandbox !== undefined) {
    const eps = ctl
      .sandbox(args.sandbox)
      .endpoints()
      .filter((e) => e.addresses.length > 0);
    if (eps.length !== 1) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        eps.length === 0
          ? `sandbox ${args.sandbox} has no address to publish to`
          : `sandbox ${args.sandbox} is on ${eps.length} networks`,
        eps.length === 0
          ? 'connect it to a bridge network first'
          : 'use --netns with the sandbox path; berth publishes to its first address',
      );
    }
    return { kind: 'endpoint', endpoint: eps[0]! };
  }
  const netnsPath = netnsPathOf(args);
  return { kind: 'netns', netnsPath, owner: netnsOwner(netnsPath) };
}

export async function publishTo(ctl: Controller, target: PortTarget, specs: readonly PortSpec[]): Promise<PortRecord> {
  if (target.kind === 'endpoint') {
    await target.endpoint.publish(specs);
    return ctl.ports.get(target.endpoint.id)!;
  }
  const t = await targetFromNetns(
    ctl.hostNetnsPath,
    target.netnsPath,
    target.owner,
    `the container in ${target.netnsPath}`,
  );
  return ctl.ports.publish(t, specs, target.netnsPath);
}

export function ownerOf(target: PortTarget): string {
  return target.kind === 'endpoint' ? target.endpoint.id : target.owner;
}
