import ipaddr from 'ipaddr.js';
import { UsageError } from './usage.js';

export type PublishProtocol = 'tcp' | 'udp' | 'sctp';

/**
 * One `-p` as the library's port mapper takes it (`PortSpecInput` in
 * network/portspec.ts): the *End fields only for a range.
 */
export interface PublishSpec {
  readonly protocol: PublishProtocol;
  /** Absent: every address of the host. */
  readonly hostIP?: string;
  readonly hostPort: number;
  readonly containerPort: number;
  readonly hostPortEnd?: number;
  readonly containerPortEnd?: number;
}

const PROTOCOLS: readonly PublishProtocol[] = ['tcp', 'udp', 'sctp'];
const FORM =
  'write [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp], e.g. 8080:80, 127.0.0.1:5353:53/udp or [::1]:8443:443';

/** A port or a range of them, as "80" or "8000-8010". */
function portRange(text: string, what: string, spec: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw new UsageError(`invalid ${what} ${JSON.stringify(text)} in -p ${JSON.stringify(spec)}`, FORM);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  for (const p of [first, last]) {
    if (p < 1 || p > 65535) {
      throw new UsageError(`${what} ${p} in -p ${JSON.stringify(spec)} is not a port`, 'ports go from 1 to 65535');
    }
  }
  if (last < first) {
    throw new UsageError(
      `${what} range ${text} in -p ${JSON.stringify(spec)} ends before it starts`,
      'write the lower port first',
    );
  }
  return [first, last];
}

/** Splits "[IP:]HOST:CONTAINER" into its parts; an IPv6 host address is in brackets. */
function splitAddress(body: string, spec: string): { ip?: string; host: string; container: string } {
  let ip: string | undefined;
  let rest = body;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') {
      throw new UsageError(`invalid -p ${JSON.stringify(spec)}: an IPv6 address needs its closing "]:"`, FORM);
    }
    ip = rest.slice(1, close);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  if (ip === undefined && parts.length === 3) {
    ip = parts.shift()!;
  }
  if (parts.length !== 2 || parts.some((p) => p === '')) {
    throw new UsageError(`invalid -p ${JSON.stringify(spec)}: expected HOST_PORT:CONTAINER_PORT`, FORM);
  }
  return { ...(ip !== undefined ? { ip } : {}), host: parts[0]!, container: parts[1]! };
}

function hostAddress(text: string, spec: string): string | undefined {
  if (!ipaddr.isValid(text) || text.includes('%')) {
    throw new UsageError(
      `host address ${JSON.stringify(text)} in -p ${JSON.stringify(spec)} is not an IP address`,
      'give an address of the host such as 127.0.0.1 or [::1], or leave it out to publish on all',
    );
  }
  const canonical = ipaddr.parse(text).toString();
  return canonical === '0.0.0.0' || canonical === '::' ? undefined : canonical;
}

/** Reads one `-p` value: `[IP:]HOST:CONTAINER[/PROTO]`, ports or equal-length ranges. */
export function parsePublish(spec: string): PublishSpec {
  const text = spec.trim();
  const slash = text.split('/');
  if (slash.length > 2) throw new UsageError(`invalid -p ${JSON.stringify(spec)}: more than one "/"`, FORM);
  const protocol = (slash[1] ?? 'tcp').toLowerCase() as PublishProtocol;
  if (!PROTOCOLS.includes(protocol)) {
    throw new UsageError(
      `unknown protocol ${JSON.stringify(slash[1])} in -p ${JSON.stringify(spec)}`,
      'use tcp, udp or sctp',
    );
  }
  const { ip, host, container } = splitAddress(slash[0]!, spec);
  const [hostPort, hostPortEnd] = portRange(host, 'host port', spec);
  const [containerPort, containerPortEnd] = portRange(container, 'container port', spec);
  if (hostPortEnd - hostPort !== containerPortEnd - containerPort) {
    throw new UsageError(
      `host ports ${host} and container ports ${container} in -p ${JSON.stringify(spec)} are ranges of different lengths`,
      'give ranges of the same length, or one port on each side',
    );
  }
  const hostIP = ip === undefined ? undefined : hostAddress(ip, spec);
  const range = hostPortEnd !== hostPort ? { hostPortEnd, containerPortEnd } : {};
  return { protocol, ...(hostIP ? { hostIP } : {}), hostPort, containerPort, ...range };
}

/** Every `-p`, checked together: one host port is published once per protocol and address. */
export function parsePublishList(specs: readonly string[]): PublishSpec[] {
  const parsed = specs.map(parsePublish);
  for (let i = 0; i < parsed.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = parsed[i]!;
      const b = parsed[j]!;
      const sameAddress = a.hostIP === undefined || b.hostIP === undefined || a.hostIP === b.hostIP;
      const overlap = a.hostPort <= (b.hostPortEnd ?? b.hostPort) && b.hostPort <= (a.hostPortEnd ?? a.hostPort);
      if (a.protocol === b.protocol && sameAddress && overlap) {
        throw new UsageError(
          `-p ${JSON.stringify(specs[i])} and -p ${JSON.stringify(specs[j])} publish the same host port`,
          'give each host port once per protocol',
        );
      }
    }
  }
  return parsed;
}

/** The spec as the user would write it, for messages and listings. */
export function formatPublish(p: PublishSpec): string {
  const ip = p.hostIP === undefined ? '' : p.hostIP.includes(':') ? `[${p.hostIP}]:` : `${p.hostIP}:`;
  const host = p.hostPortEnd === undefined ? `${p.hostPort}` : `${p.hostPort}-${p.hostPortEnd}`;
  const container =
    p.containerPortEnd === undefined ? `${p.containerPort}` : `${p.containerPort}-${p.containerPortEnd}`;
  return `${ip}${host}:${container}/${p.protocol}`;
}
