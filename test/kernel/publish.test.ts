/**
 * Port publishing through the library (ep.publish / ep.unpublish / leave /
 * reloadFirewall), with real traffic: a netns plays the host, another an
 * outside client linked to it; servers run inside sandboxes. Everything is
 * made here and removed in afterEach.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnInNetns, spawnSyncInNetns } from '../../base/exec.js';
import { Controller } from '../../network/controller.js';
import type { Endpoint } from '../../network/endpoint.js';
import type { Network } from '../../network/network.js';
import { targetFromNetns } from '../../network/ports.js';
import { parsePortSpec } from '../../network/portspec.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const SERVER = `
const http = require('node:http');
http.createServer((q, r) => r.end('served by ' + q.socket.localAddress + ' to ' + q.socket.remoteAddress))
  .listen(Number(process.argv[2]), process.argv[1], () => process.stdout.write('up\\n'));
setTimeout(() => process.exit(0), 20000);
`;
const CLIENT = `
const req = require('node:http').get({ host: process.argv[1], port: Number(process.argv[2]), timeout: 1500 }, (res) => {
  let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => process.stdout.write(b));
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
`;

const HOST_IP = '198.51.100.1';
const OUTSIDE_IP = '198.51.100.2';
let seq = 0;

function get(netnsPath: string, host: string, port: number): { ok: boolean; body: string } {
  const r = spawnSyncInNetns(netnsPath, process.execPath, ['-e', CLIENT, host, String(port)], { timeout: 5000 });
  return { ok: r.status === 0, body: r.status === 0 ? r.stdout : r.stderr };
}

function nft(ns: TestNs, args: string[]): string {
  return spawnSync('ip', ['netns', 'exec', ns.name, 'nft', ...args], { encoding: 'utf8' }).stdout;
}

describe.skipIf(notRoot)(kernelSuite('publishing ports through the library'), () => {
  const netns = new TestNetns();
  const servers: ChildProcess[] = [];
  let stateDir: string;
  let host: TestNs;
  let outside: TestNs;
  let ctl: Controller;
  let net: Network;
  const sandboxNames: string[] = [];

  beforeEach(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'berth-publish-'));
    host = await netns.create('host');
    outside = await netns.create('out');
    netns.exec(host, ['ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    netns.exec(host, ['ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', 'uplink']);
    netns.exec(host, ['ip', 'link', 'set', 'uplink', 'up']);
    netns.exec(outside, ['ip', 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0']);
    netns.exec(outside, ['ip', 'link', 'set', 'eth0', 'up']);
    ctl = await Controller.open({
      stateDir,
      hostNetnsPath: host.path,
      firewallBackend: 'nftables',
      etcNetnsDir: join(stateDir, 'etc-netns'),
    });
    net = await ctl.createNetwork({
      name: `pub${++seq}`,
      subnet: '10.91.0.0/24',
      bridgeName: `bt-pub${process.pid % 10000}`,
    });
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) s.kill();
    for (const name of sandboxNames.splice(0))
      await ctl
        .sandbox(name)
        .destroy()
        .catch(() => undefined);
    for (const ep of net.endpoints()) await ep.delete().catch(() => undefined);
    await net.delete().catch(() => undefined);
    netns.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function serving(label: string): Promise<{ ep: Endpoint; ip: string; netnsPath: string }> {
    const name = `bt-${process.pid}-p${++seq}-${label}`;
    sandboxNames.push(name);
    const sb = await ctl.createSandbox({ name });
    const ep = await net.createEndpoint({ name });
    await ep.join(sb);
    const ip = ep.addresses[0]!.split('/')[0]!;
    const server = spawnInNetns(sb.netnsPath, process.execPath, ['-e', SERVER, ip, '80'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server did not start')), 5000);
      server.stdout!.once('data', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return { ep, ip, netnsPath: sb.netnsPath };
  }

  it('publishes a port that an outside client reaches with its own address kept, and unpublishes it', async () => {
    const web = await serving('web');
    expect(get(outside.path, HOST_IP, 8080).ok).toBe(false);
    await web.ep.publish([{ hostPort: 8080, containerPort: 80 }]);
    expect(web.ep.ports).toEqual([
      { protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 },
    ]);
    expect(get(outside.path, HOST_IP, 8080)).toEqual({ ok: true, body: `served by ${web.ip} to ${OUTSIDE_IP}` });
    const map = nft(host, ['list', 'map', 'inet', 'berth', 'ports4']);
    expect(map).toContain('tcp . 8080 comment');
    expect(map).toContain(`: ${web.ip} . 80`);
    await web.ep.unpublish([{ hostPort: 8080, protocol: 'tcp' }]);
    expect(web.ep.ports).toEqual([]);
    expect(get(outside.path, HOST_IP, 8080).ok).toBe(false);
    expect(nft(host, ['list', 'map', 'inet', 'berth', 'ports4'])).not.toContain('8080');
  });

  it('publishes on 127.0.0.1 for the host only: a neighbour routing 127.0.0.0/8 to the host gets nothing', async () => {
    const web = await serving('local');
    await web.ep.publish([{ hostPort: 8081, containerPort: 80, hostIP: '127.0.0.1' }]);
    expect(get(host.path, '127.0.0.1', 8081)).toEqual({ ok: true, body: `served by ${web.ip} to 10.91.0.1` });
    netns.exec(outside, ['ip', 'route', 'add', '127.0.0.0/8', 'via', HOST_IP]);
    netns.exec(outside, ['ip', 'addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
    expect(get(outside.path, '127.0.0.1', 8081).ok).toBe(false);
    // A service bound to the host's own 127.0.0.1 stays out of reach too (CVE-2020-8558).
    const local = spawnInNetns(host.path, process.execPath, ['-e', SERVER, '127.0.0.1', '9099'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    servers.push(local);
    await new Promise((r) => local.stdout!.once('data', r));
    expect(get(host.path, '127.0.0.1', 9099).ok).toBe(true);
    expect(get(outside.path, '127.0.0.1', 9099).ok).toBe(false);
  });

  it('refuses a host port another endpoint holds, naming it, and changes nothing', async () => {
    const a = await serving('a');
    const b = await serving('b');
    await a.ep.publish([{ hostPort: 8082, containerPort: 80 }]);
    const before = nft(host, ['list', 'map', 'inet', 'berth', 'ports4']);
    await expect(b.ep.publish([{ hostPort: 8082, containerPort: 80, hostIP: HOST_IP }])).rejects.toMatchObject({
      code: 7,
      msg: expect.stringContaining(
        `host port ${HOST_IP}:8082/tcp is already published by endpoint ${a.ep.name} of network ${net.name}`,
      ),
    });
    expect(nft(host, ['list', 'map', 'inet', 'berth', 'ports4'])).toBe(before);
    expect(b.ep.ports).toEqual([]);
    expect(get(outside.path, HOST_IP, 8082).body).toBe(`served by ${a.ip} to ${OUTSIDE_IP}`);
  });

  it('refuses bad specs naming the value, and an endpoint that is not joined', async () => {
    const web = await serving('bad');
    await expect(web.ep.publish([{ hostPort: 70000, containerPort: 80 }])).rejects.toThrow(
      'hostPort 70000 is not a port',
    );
    await expect(web.ep.publish([{ hostPort: 80, containerPort: 80, protocol: 'icmp' }])).rejects.toThrow(
      'unknown protocol "icmp"',
    );
    await expect(web.ep.publish([{ hostPort: 80, containerPort: 80, hostIP: 'my-host' }])).rejects.toThrow(
      'hostIP "my-host" is not an IP address',
    );
    const idle = await net.createEndpoint({ name: `idle${seq}` });
    await expect(idle.publish([{ hostPort: 80, containerPort: 80 }])).rejects.toThrow(
      'has no address to publish ports to',
    );
  });

  it('publishes to a container known only by its netns (berth port publish --netns/--pid)', async () => {
    const c = await serving('foreign');
    const target = await targetFromNetns(host.path, c.netnsPath, 'netns:test', `the container in ${c.netnsPath}`);
    expect(target).toEqual({
      owner: 'netns:test',
      label: `the container in ${c.netnsPath}`,
      containerIPs: [c.ip],
      hostInterface: net.record.bridgeName,
    });
    await ctl.ports.publish(target, [parsePortSpec('8084:80')], c.netnsPath);
    expect(get(outside.path, HOST_IP, 8084)).toEqual({ ok: true, body: `served by ${c.ip} to ${OUTSIDE_IP}` });
    await ctl.ports.unpublish('netns:test');
    expect(get(outside.path, HOST_IP, 8084).ok).toBe(false);
    const empty = await netns.create('empty');
    await expect(targetFromNetns(host.path, empty.path, 'netns:empty', 'x')).rejects.toThrow(
      'has no address to publish to',
    );
  });

  it('leaving unpublishes; a flushed ruleset comes back with reloadFirewall', async () => {
    const web = await serving('reload');
    await web.ep.publish([{ hostPort: 8083, containerPort: 80 }]);
    netns.exec(host, ['nft', 'flush', 'ruleset']);
    expect(get(outside.path, HOST_IP, 8083).ok).toBe(false);
    await ctl.reloadFirewall();
    expect(get(outside.path, HOST_IP, 8083).ok).toBe(true);
    await web.ep.leave();
    expect(ctl.ports.list()).toEqual([]);
    expect(nft(host, ['list', 'map', 'inet', 'berth', 'ports4'])).not.toContain('8083');
  });
});
