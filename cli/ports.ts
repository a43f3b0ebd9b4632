import { BerthError } from '../base/errors.js';
import { formatPortSpec, mergePortSpecs, type PortSpec, parsePortSpec } from '../network/portspec.js';
import { UsageError } from './usage.js';

/**
 * `run -p`: the library's port grammar ([IP:]HOST[-END]:CONTAINER[-END][/PROTO],
 * IPv6 hosts in brackets), read as command-line input: a malformed value is
 * bad usage (status 2), and every -p is checked before anything is made.
 */
export function parsePublish(spec: string): PortSpec {
  try {
    return parsePortSpec(spec.trim());
  } catch (e) {
    if (e instanceof BerthError) throw new UsageError(`-p: ${e.msg}`, e.details);
    throw e;
  }
}

/** Every `-p`, checked together: a repeat counts once; a host port is published once per protocol and address. */
export function parsePublishList(specs: readonly string[]): PortSpec[] {
  const parsed = mergePortSpecs(specs.map(parsePublish));
  for (let i = 0; i < parsed.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = parsed[i]!;
      const b = parsed[j]!;
      const sameAddress = a.hostIP === undefined || b.hostIP === undefined || a.hostIP === b.hostIP;
      const overlap = a.hostPort <= b.hostPortEnd && b.hostPort <= a.hostPortEnd;
      if (a.protocol === b.protocol && sameAddress && overlap) {
        throw new UsageError(
          `-p ${formatPortSpec(a)} and -p ${formatPortSpec(b)} publish the same host port`,
          'give each host port once per protocol',
        );
      }
    }
  }
  return parsed;
}
