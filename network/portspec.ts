import { familyOf, formatIp, tryParseIp } from '../base/address.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import type { PortMapping, Protocol } from '../iptables/index.js';
import { unique } from '../iptables/model.js';

/** A port publication as a user states it: one port or a range, before the container's address is known. */
export interface PortSpec {
  readonly protocol: Protocol;
  /** Absent: every address of the host (of each family the container has). */
  readonly hostIP?: string;
  readonly hostPort: number;
  readonly hostPortEnd: number;
  readonly containerPort: number;
  readonly containerPortEnd: number;
}

/** The library's form: `{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }`, ranges optional. */
export interface PortSpecInput {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol?: string;
  readonly hostIP?: string;
  readonly hostPortEnd?: number;
  readonly containerPortEnd?: number;
}

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];
/** A range larger than this is almost surely a typo; each port is one map element. */
export const MAX_RANGE = 4096;

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);
const FORM =
  'write [HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[-END][/tcp|udp|sctp], e.g. 8080:80, 127.0.0.1:5353:53/udp, [2001:db8::1]:8443:443';

function port(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw invalid(`${what} ${JSON.stringify(value)} is not a port`, 'a port is a whole number from 1 to 65535');
  }
  return value;
}

function protocol(value: unknown): Protocol {
  const p = value === undefined ? 'tcp' : value;
  if (typeof p !== 'string' || !PROTOCOLS.includes(p.toLowerCase() as Protocol)) {
    throw invalid(`unknown protocol ${JSON.stringify(value)}`, 'use tcp, udp or sctp');
  }
  return p.toLowerCase() as Protocol;
}

function hostAddress(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  const ip = typeof value === 'string' ? tryParseIp(value.replace(/^\[|\]$/g, '')) : undefined;
  if (!ip) {
    throw invalid(
      `hostIP ${JSON.stringify(value)} is not an IP address`,
      'give an address of this host such as 127.0.0.1 or ::1, or leave it out for all',
    );
  }
  const text = formatIp(ip.bytes);
  return text === '0.0.0.0' || text === '::' ? undefined : text;
}

/** Checks a library-form spec: ports in range, equal range lengths, a known protocol, a real address. */
export function validatePortSpec(input: PortSpecInput): PortSpec {
  const hostPort = port(input.hostPort, 'hostPort');
  const containerPort = port(input.containerPort, 'containerPort');
  const hostPortEnd = input.hostPortEnd === undefined ? hostPort : port(input.hostPortEnd, 'hostPortEnd');
  const containerPortEnd =
    input.containerPortEnd === undefined
      ? containerPort + (hostPortEnd - hostPort)
      : port(input.containerPortEnd, 'containerPortEnd');
  if (hostPortEnd < hostPort)
    throw invalid(`host port range ${hostPort}-${hostPortEnd} ends before it starts`, 'write the lower port first');
  if (containerPortEnd - containerPort !== hostPortEnd - hostPort) {
    throw invalid(
      `host ports ${hostPort}-${hostPortEnd} and container ports ${containerPort}-${containerPortEnd} are ranges of different lengths`,
      'give ranges of the same length',
    );
  }
  if (containerPortEnd > 65535)
    throw invalid(`container port range ${containerPort}-${containerPortEnd} passes 65535`, 'shorten the range');
  if (hostPortEnd - hostPort + 1 > MAX_RANGE)
    throw invalid(
      `port range ${hostPort}-${hostPortEnd} holds more than ${MAX_RANGE} ports`,
      'publish a smaller range',
    );
  const hostIP = hostAddress(input.hostIP);
  return {
    protocol: protocol(input.protocol),
    ...(hostIP ? { hostIP } : {}),
    hostPort,
    hostPortEnd,
    containerPort,
    containerPortEnd,
  };
}

function portRange(text: string, what: string, spec: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw invalid(`invalid ${what} ${JSON.stringify(text)} in ${JSON.stringify(spec)}`, FORM);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

/** Parses the command line's form: [HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[-END][/PROTO]; IPv6 host addresses in brackets. */
export function parsePortSpec(spec: string): PortSpec {
  const [body, proto, extra] = spec.split('/');
  if (extra !== undefined || !body) throw invalid(`invalid port mapping ${JSON.stringify(spec)}`, FORM);
  let rest = body;
  let hostIP: string | undefined;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIP = v6[1];
    rest = v6[2]!;
  }
  const parts = rest.split(':');
  if (!hostIP && parts.length === 3) hostIP = parts.shift();
  if (parts.length !== 2) throw invalid(`invalid port mapping ${JSON.stringify(spec)}`, FORM);
  const [hostPort, hostPortEnd] = portRange(parts[0]!, 'host port', spec);
  const [containerPort, containerPortEnd] = portRange(parts[1]!, 'container port', spec);
  return validatePortSpec({
    hostPort,
    hostPortEnd,
    containerPort,
    containerPortEnd,
    ...(proto !== undefined ? { protocol: proto } : {}),
    ...(hostIP !== undefined ? { hostIP } : {}),
  });
}

export function formatPortSpec(s: PortSpec): string {
  const host = s.hostIP ? (s.hostIP.includes(':') ? `[${s.hostIP}]:` : `${s.hostIP}:`) : '';
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  return `${host}${range(s.hostPort, s.hostPortEnd)}:${range(s.containerPort, s.containerPortEnd)}/${s.protocol}`;
}

/**
 * The specs with a repeated one kept once, where it first stands. A runtime may name one mapping
 * twice; the reference portmap then adds the same rule twice, which works as one. Two different
 * targets for one host port are not repeats: checkConflicts refuses them.
 */
export function mergePortSpecs(specs: readonly PortSpec[]): PortSpec[] {
  return unique(specs, formatPortSpec);
}

/**
 * One firewall mapping per port and per container address of a matching family:
 * a spec without hostIP publishes on IPv4 and IPv6 alike, one with hostIP only in its family.
 */
export function expandPortSpecs(specs: readonly PortSpec[], containerIPs: readonly string[]): PortMapping[] {
  const out: PortMapping[] = [];
  for (const s of specs) {
    // Refused here, where the spec is still the user's, rather than by the firewall, which knows only its own list.
    if (s.hostIP === '::1') {
      throw invalid(
        `hostIP ::1 of ${formatPortSpec(s)} cannot be published by NAT`,
        "the kernel never routes ::1 off the loopback interface; publish on 127.0.0.1, or on the host's own IPv6 address",
      );
    }
    const targets = containerIPs.filter((ip) => !s.hostIP || familyOf(ip) === familyOf(s.hostIP));
    if (targets.length === 0) {
      throw invalid(
        `no container address of the family of ${s.hostIP ?? 'any'} to publish ${formatPortSpec(s)} to (container has ${containerIPs.join(', ') || 'no address'})`,
        'publish on a host address of a family the container has an address in',
      );
    }
    for (const containerIP of targets) {
      for (let i = 0; i <= s.hostPortEnd - s.hostPort; i++) {
        out.push({
          protocol: s.protocol,
          ...(s.hostIP ? { hostIP: s.hostIP } : {}),
          hostPort: s.hostPort + i,
          containerIP,
          containerPort: s.containerPort + i,
        });
      }
    }
  }
  return out;
}

/** Who holds which host ports: one entry per owner. */
export interface PortHolder {
  readonly owner: string;
  /** Shown in the conflict error, e.g. 'container 3f2a… (eth0) on network web'. */
  readonly label: string;
  readonly mappings: readonly PortMapping[];
}

/**
 * Two mappings clash when they take the same port of the same protocol on the same
 * host address, the unspecified address (every address) clashing with each one of its family.
 */
export function clashes(a: PortMapping, b: PortMapping): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  if (familyOf(a.containerIP) !== familyOf(b.containerIP)) return false;
  return !a.hostIP || !b.hostIP || a.hostIP === b.hostIP;
}

const where = (m: PortMapping) =>
  `${m.hostIP ? (m.hostIP.includes(':') ? `[${m.hostIP}]` : m.hostIP) : '*'}:${m.hostPort}/${m.protocol}`;

/** Refuses a mapping whose host port another owner holds, naming that owner, or that the request itself asks twice. */
export function checkConflicts(owner: string, wanted: readonly PortMapping[], holders: readonly PortHolder[]): void {
  wanted.forEach((w, i) => {
    const twice = wanted
      .slice(0, i)
      .find(
        (o) =>
          clashes(w, o) &&
          !(o.hostIP === w.hostIP && o.containerIP === w.containerIP && o.containerPort === w.containerPort),
      );
    if (twice) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `host port ${where(w)} is asked twice, for ${twice.containerIP}:${twice.containerPort} and for ${w.containerIP}:${w.containerPort}`,
        'map each host address, port and protocol once',
      );
    }
  });
  for (const h of holders) {
    if (h.owner === owner) continue;
    for (const w of wanted) {
      const taken = h.mappings.find((m) => clashes(w, m));
      if (taken) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `host port ${where(w)} is already published by ${h.label} (${where(taken)} -> ${taken.containerIP}:${taken.containerPort})`,
          'choose another host port or host address, or unpublish it there first',
        );
      }
    }
  }
}
