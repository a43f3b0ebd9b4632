import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding } from '../netlink/binding.js';
import { NetlinkHandle } from '../netlink/index.js';
import { Controller } from '../network/controller.js';
import { spawnInNetns, spawnSyncInNetns } from '../network/exec.js';

/** One step of the demo: what was done, and what it proved. */
export type DemoReport = (step: string, proof?: string) => void;

const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.end('hello from ' + req.socket.localAddress + ', you are ' + req.socket.remoteAddress + '\\n');
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

/**
 * berth's main job end to end, in namespaces of its own: a netns that plays
 * the host, a bridge network in it, two sandboxes, an HTTP request from one to
 * the other; then everything is removed and the removal checked.
 */
export async function runDemo(report: DemoReport): Promise<void> {
  const tag = `bd${process.pid}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-demo-'));
  const hostNetns = binding().createNetns('/run/netns', `${tag}-host`);
  report(`made ${hostNetns} to play the host`, "nothing below touches this machine's own network");
  let server: ReturnType<typeof spawnInNetns> | undefined;
  try {
    const ctl = await Controller.open({ stateDir, hostNetnsPath: hostNetns });
    const net = await ctl.createNetwork({ name: `${tag}-net`, subnet: '10.89.0.0/24', bridgeName: `${tag}-br` });
    report(
      `created network ${net.name}: bridge ${net.record.bridgeName} holding 10.89.0.1/24`,
      'links and addresses made over netlink',
    );

    const sandboxes = [];
    for (const role of ['server', 'client']) {
      const sb = await ctl.createSandbox({ name: `${tag}-${role}` });
      const ep = await net.createEndpoint({ name: `${tag}-${role}` });
      await ep.join(sb, { ifname: 'eth0' });
      report(
        `sandbox ${role}: netns ${sb.netnsPath}, eth0 ${ep.addresses.join(', ')}`,
        'veth peer born inside the sandbox, address from IPAM',
      );
      sandboxes.push({ sb, ep });
    }
    const [srv, cli] = sandboxes as [(typeof sandboxes)[0], (typeof sandboxes)[0]];
    const serverIp = srv.ep.addresses[0]!.split('/')[0]!;

    server = spawnInNetns(srv.sb.netnsPath, process.execPath, ['-e', SERVER, serverIp, '8080'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitForLine(server.stdout!, 'listening', 5000);
    report(`started an HTTP server in sandbox server on ${serverIp}:8080 (pid ${server.pid})`);

    const res = spawnSyncInNetns(cli.sb.netnsPath, process.execPath, ['-e', CLIENT, serverIp, '8080'], {
      timeout: 10_000,
    });
    if (res.status !== 0)
      throw new Error(`the request from sandbox client failed: ${res.stderr || res.error?.message}`);
    report(
      `sandbox client asked http://${serverIp}:8080/ and got: ${res.stdout.trim()}`,
      'traffic crossed the bridge between two namespaces',
    );

    server.kill();
    server = undefined;
    for (const { sb, ep } of sandboxes) {
      await ep.delete();
      await sb.destroy();
    }
    await net.delete();
    const host = NetlinkHandle.open(hostNetns);
    try {
      const left = (await host.listLinks()).filter((l) => l.name !== 'lo').map((l) => l.name);
      if (left.length > 0) throw new Error(`links left in the host netns after teardown: ${left.join(', ')}`);
    } finally {
      host.close();
    }
    report(
      'removed the endpoints, sandboxes and network',
      'the host netns holds only lo again; the sandboxes are gone',
    );
  } finally {
    server?.kill();
    binding().deleteNetns(hostNetns);
    rmSync(stateDir, { recursive: true, force: true });
  }
  report(`removed ${hostNetns}`);
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
