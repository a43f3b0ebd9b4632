/**
 * A host's upstream resolver that a kernel test runs itself, so that what a name service forwards
 * never reaches the machine's resolvers: a netns of its own on a link to the host netns, with a
 * small resolver that answers A 203.0.113.7 for outside.test and NXDOMAIN for the rest, over UDP
 * and TCP, and logs each question. The caller kills it by its PID (it is in `started`).
 *
 *   const up = await startUpstream(netns, host, started, dir);   // up.address '10.253.0.2', dir/upstream-resolv.conf
 *   process.env.BERTH_RESOLV_CONF = up.resolvConf;          // before the name service starts
 *   expect(up.log()).toMatch(/^udp outside\.test$/m);
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TestNetns, TestNs } from './netns.js';
import { serveInNetns } from './servers.js';

/** The upstream's address, on a /30 whose other end the host has. */
export const UPSTREAM = '10.253.0.2';
const HOST_SIDE = '10.253.0.1/30';
/** The one name the upstream knows, and its address. */
export const OUTSIDE_NAME = 'outside.test';
export const OUTSIDE_ADDRESS = '203.0.113.7';

const DNS_PACKET = createRequire(import.meta.url).resolve('dns-packet');

// Bounded life: it exits after two minutes whatever happens to the test.
const RESOLVER = `
const dgram = require('node:dgram');
const net = require('node:net');
const dns = require(${JSON.stringify(DNS_PACKET)});
const address = ${JSON.stringify(UPSTREAM)};
const answer = (q) => {
  const question = q.questions[0] || { name: '', type: 'A' };
  const known = question.name.toLowerCase() === ${JSON.stringify(OUTSIDE_NAME)};
  return dns.encode({
    type: 'response', id: q.id, flags: dns.RECURSION_AVAILABLE | dns.RECURSION_DESIRED | (known ? 0 : 3),
    questions: q.questions,
    answers: known && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 60, data: ${JSON.stringify(OUTSIDE_ADDRESS)} }] : [],
  });
};
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => {
  let q;
  try { q = dns.decode(m); } catch { return; }
  process.stdout.write('udp ' + (q.questions[0] || {}).name + '\\n');
  udp.send(answer(q), r.port, r.address);
});
const tcp = net.createServer((s) => {
  let b = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (c) => {
    b = Buffer.concat([b, c]);
    if (b.length < 2 || b.length < 2 + b.readUInt16BE(0)) return;
    const q = dns.decode(b.subarray(2, 2 + b.readUInt16BE(0)));
    process.stdout.write('tcp ' + q.questions[0].name + '\\n');
    s.end(dns.streamEncode(dns.decode(answer(q))));
  });
});
udp.bind(53, address, () => tcp.listen(53, address, () => process.stdout.write('ready\\n')));
setTimeout(() => process.exit(0), 120000);
`;

export interface Upstream {
  readonly ns: TestNs;
  readonly address: string;
  /** A resolv.conf naming only this upstream, in the caller's folder. */
  readonly resolvConf: string;
  readonly child: ChildProcess;
  /** The questions it got so far, one "udp NAME" or "tcp NAME" a line. */
  log(): string;
}

/** The upstream resolver of `host`, on a link `uplink` in the host netns; netns.cleanup() removes its netns. */
export async function startUpstream(
  netns: TestNetns,
  host: TestNs,
  started: ChildProcess[],
  dir: string,
): Promise<Upstream> {
  const ns = await netns.create('up');
  const h = netns.handle(host);
  await h.createVeth('uplink', 'eth0', { peerNetnsPath: ns.path });
  await h.addAddress('uplink', HOST_SIDE);
  await h.setLinkUp('uplink');
  const u = netns.handle(ns);
  await u.addAddress('eth0', `${UPSTREAM}/30`);
  await u.setLinkUp('eth0');
  const child = await serveInNetns(ns.path, RESOLVER, started);
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c));
  const resolvConf = join(dir, 'upstream-resolv.conf');
  writeFileSync(resolvConf, `nameserver ${UPSTREAM}\n`);
  return { ns, address: UPSTREAM, resolvConf, child, log: () => log };
}
