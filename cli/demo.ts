import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnInNetns, spawnSyncInNetns } from '../base/exec.js';
import { Controller } from '../network/controller.js';
import { createNetns, deleteNetns, linkNames, wireNamespaces } from '../network/netns.js';

/** One step of the demo: what was done, and what it proved. */
export type DemoReport = (step: string, proof?: string) => void;

const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.end('hello from ' + req.socket.localAddress + ':' + req.socket.localPort + ', you are ' + req.socket.remoteAddress + '\\n');
});
server.listen(Number(process.argv[2]), process.argv[1], () => process.stdout.write('listening\\n'));
setTimeout(() => process.exit(0), 30000); // bounded: never outlives a stuck demo
`;

const CLIENT = `
const http = require('node:http');
const req = http.get({ host: process.argv[1], port: Number(process.argv[2]), timeout: 3000 }, (res) => {
  let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => process.stdout.write(body));
});
req.on('timeout', () => { req.destroy(new Error('timed out')); });
req.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });
`;

// Documentation ranges (RFC 5737), used only between the demo's own namespaces.
const HOST_OUTSIDE = '198.51.100.1';
const CLIENT_OUTSIDE = '198.51.100.2';

function request(netnsPath: string, host: string, port: number, who: string): string {
  const res = spawnSyncInNetns(netnsPath, process.execPath, ['-e', CLIENT, host, String(port)], { timeout: 10_000 });
  if (res.status !== 0)
    throw new Error(`the request from ${who} to ${host}:${port} failed: ${res.stderr || res.error?.message}`);
  return res.stdout.trim();
}

/**
 * berth's main job end to end, in namespaces of its own: a netns that plays the
 * host, a bridge network in it, a sandbox serving HTTP with its port published,
 * requests through the published port from an outside client and from a
 * neighbouring sandbox; then everything is removed and the removal checked.
 */
export async function runDemo(report: DemoReport): Promise<void> {
  const tag = `bd${process.pid}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-demo-'));
  const made: string[] = [];
  let ctl: Controller | undefined;
  let server: ReturnType<typeof spawnInNetns> | undefined;
  try {
    const hostNetns = createNetns('/run/netns', `${tag}-host`);
    made.push(hostNetns);
    const outsideNetns = createNetns('/run/netns', `${tag}-outside`);
    made.push(outsideNetns);
    report(
      `made ${hostNetns} to play the host and ${outsideNetns} to play a client outside it`,
      "nothing below touches this machine's own network",
    );
    await wireNamespaces(
      { netnsPath: hostNetns, ifname: `${tag}-up`, address: `${HOST_OUTSIDE}/24` },
      { netnsPath: outsideNetns, ifname: 'eth0', address: `${CLIENT_OUTSIDE}/24` },
    );
    report(`linked them: the host is ${HOST_OUTSIDE}, the outside client ${CLIENT_OUTSIDE}`);

    ctl = await Controller.open({ stateDir, hostNetnsPath: hostNetns });
    const net = await ctl.createNetwork({ name: `${tag}-net`, subnet: '10.89.0.0/24', bridgeName: `${tag}-br` });
    report(
      `created network ${net.name}: bridge ${net.record.bridgeName} holding 10.89.0.1/24, masquerade on`,
      'links and addresses made over netlink, rules in one nftables transaction',
    );

    const sandboxes = [];
    for (const role of ['web', 'neighbour']) {
      const sb = await ctl.createSandbox({ name: `${tag}-${role}` });
      const ep = await net.createEndpoint({ name: `${tag}-${role}` });
      await ep.join(sb, { ifname: 'eth0' });
      report(
        `sandbox ${role}: netns ${sb.netnsPath}, eth0 ${ep.addresses.join(', ')}`,
        'veth peer born inside the sandbox, address from IPAM',
      );
      sandboxes.push({ sb, ep });
    }
    const [web, neighbour] = sandboxes as [(typeof sandboxes)[0], (typeof sandboxes)[0]];
    const webIp = web.ep.addresses[0]!.split('/')[0]!;

    server = spawnInNetns(web.sb.netnsPath, process.execPath, ['-e', SERVER, webIp, '80'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitForLine(server.stdout!, 'listening', 5000);
    report(`started an HTTP server in sandbox web on ${webIp}:80 (pid ${server.pid})`);

    await web.ep.publish([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    report(
      'published host port 8080 -> web:80 (berth port publish 8080:80/tcp)',
      'one element added to the nftables port map',
    );

    const fromOutside = request(outsideNetns, HOST_OUTSIDE, 8080, 'the outside client');
    report(
      `the outside client asked http://${HOST_OUTSIDE}:8080/ and got: ${fromOutside}`,
      "DNAT through the published port, the client's own address kept",
    );

    const fromNeighbour = request(neighbour.sb.netnsPath, HOST_OUTSIDE, 8080, 'sandbox neighbour');
    report(
      `sandbox neighbour asked the host's http://${HOST_OUTSIDE}:8080/ and got: ${fromNeighbour}`,
      'hairpin: a container reaches a published port through the host address',
    );

    const direct = request(neighbour.sb.netnsPath, webIp, 80, 'sandbox neighbour');
    report(
      `sandbox neighbour asked http://${webIp}/ directly and got: ${direct}`,
      'traffic crosses the bridge between two namespaces',
    );

    server.kill();
    server = undefined;
    for (const { sb, ep } of sandboxes) {
      await ep.delete();
      await sb.destroy();
    }
    await net.delete();
    const left = (await linkNames(hostNetns)).filter((l) => l !== 'lo' && l !== `${tag}-up`);
    if (left.length > 0) throw new Error(`links left in the host netns after teardown: ${left.join(', ')}`);
    report(
      'unpublished the port, removed the endpoints, sandboxes and network',
      'the host netns holds no bridge or veth of berth any more',
    );
  } finally {
    server?.kill();
    // After a failure half-way, whatever was made goes too: sandboxes (their netns), the network, the namespaces.
    if (ctl) {
      for (const sb of ctl.sandboxes()) await sb.destroy().catch(() => undefined);
      for (const net of ctl.networks()) {
        for (const ep of net.endpoints()) await ep.delete().catch(() => undefined);
        await net.delete().catch(() => undefined);
      }
    }
    for (const path of made.reverse()) deleteNetns(path);
    rmSync(stateDir, { recursive: true, force: true });
  }
  report(`removed the namespaces ${tag}-host and ${tag}-outside`);
}

function waitForLine(stream: NodeJS.ReadableStream, line: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no "${line}" within ${timeoutMs} ms`)), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
