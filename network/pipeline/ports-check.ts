import { BerthError, ErrorCode } from '../../base/errors.js';
import type { Firewall } from '../../iptables/index.js';
import { type PortMapper, portsOwner, rulesOf } from '../ports.js';
import type { PortSpec } from '../portspec.js';

const key = (s: { protocol: string; hostIP?: string; hostPort: number }) =>
  `${s.hostIP ?? '*'}|${s.protocol}|${s.hostPort}`;

/**
 * What is asked to be published is what berth recorded for the owner, and the kernel holds its
 * rules. Nothing asked and nothing recorded is fine (an IPv4-only container too: the record is per address).
 */
export async function checkPublished(
  mapper: PortMapper,
  firewall: () => Promise<Firewall>,
  owner: string,
  specs: readonly PortSpec[],
  name: string,
): Promise<void> {
  const rec = mapper.get(owner);
  if (!rec) {
    if (specs.length === 0) return;
    throw new BerthError(ErrorCode.Internal, `berth holds no port mappings for ${name}`, 'DEL and ADD it again');
  }
  const recorded = new Set(rec.specs.map(key));
  const missing = specs.filter((s) => !recorded.has(key(s)));
  if (missing.length > 0) {
    throw new BerthError(
      ErrorCode.Internal,
      `port mappings ${missing.map(key).join(', ')} of ${name} are not published`,
      'DEL and ADD the container again',
    );
  }
  const problems = await (await firewall()).check(portsOwner(owner), rulesOf(rec));
  if (problems.length > 0) {
    throw new BerthError(
      ErrorCode.Internal,
      `the rules publishing the ports of ${name} are not in place: ${problems.join('; ')}`,
      'run `berth firewall reload`, or DEL and ADD the container',
    );
  }
}
