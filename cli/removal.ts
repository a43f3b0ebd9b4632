import { BerthError, ErrorCode } from '../base/errors.js';
import type { Controller } from '../network/controller.js';
import { destroySandbox } from '../network/doctor/repairs.js';

/** Removes every named network, or none: all are looked up and checked for endpoints first. */
export async function removeNetworks(ctl: Controller, names: readonly string[]): Promise<string[]> {
  const nets = [...new Set(names)].map((n) => ctl.network(n));
  const endpoints = ctl.endpointRecords();
  for (const net of nets) {
    const held = endpoints.filter((e) => e.network === net.name);
    if (held.length > 0) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `network ${net.name} is in use by ${held.length} endpoint(s): ${held.map((e) => e.name).join(', ')}`,
        `disconnect them first: ${held.map((e) => `berth disconnect ${net.name} ${e.name}`).join('; ')}`,
      );
    }
  }
  const removed: string[] = [];
  for (const net of nets) {
    await net.delete();
    removed.push(net.name);
  }
  return removed;
}

/** Removes every named sandbox, or none when one of them is unknown. */
export async function removeSandboxes(ctl: Controller, names: readonly string[]): Promise<string[]> {
  const sandboxes = [...new Set(names)].map((n) => ctl.sandbox(n));
  const removed: string[] = [];
  for (const sb of sandboxes) {
    await destroySandbox(ctl, sb);
    removed.push(sb.name);
  }
  return removed;
}
