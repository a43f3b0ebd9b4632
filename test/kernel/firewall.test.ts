import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binding } from '../../base/binding.js';
import { BerthError } from '../../base/errors.js';
import { findExecutable } from '../../base/exec.js';
import { type Backend, type Firewall, openFirewall, type Rules } from '../../iptables/index.js';
import { nftBaseVersion } from '../../iptables/nftables-render.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const missingTools = ['nft', 'iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore'].filter(
  (t) => !findExecutable(t),
);
const skip = notRoot || missingTools.length > 0;
const title = (t: string) =>
  missingTools.length > 0 && !notRoot ? `${t} [skipped: ${missingTools.join(', ')} not installed]` : kernelSuite(t);

const NET = { kind: 'network', id: 'net1' } as const;
const CTR = { kind: 'container', id: 'ctr1' } as const;

const networkRules: Rules = {
  bridges: [{ name: 'br0', subnets: ['10.50.0.0/24', 'fd00:50::/64'], isolate: true }],
};
const containerRules: Rules = {
  masquerade: [
    { source: '10.50.0.2', subnet: '10.50.0.0/24' },
    { source: 'fd00:50::2', subnet: 'fd00:50::/64' },
  ],
  ports: [
    { protocol: 'udp', hostPort: 8080, containerIP: '10.50.0.2', containerPort: 7000 },
    { protocol: 'tcp', hostIP: '127.0.0.1', hostPort: 8443, containerIP: '10.50.0.2', containerPort: 443 },
    { protocol: 'sctp', hostPort: 9999, containerIP: 'fd00:50::2', containerPort: 9999 },
  ],
};

/** Everything the kernel holds for berth in ns, as the tools print it (not through berth's own parsers). */
function kernelView(netns: TestNetns, ns: TestNs, backend: Backend): string {
  if (backend === 'nftables') return netns.exec(ns, ['nft', 'list', 'ruleset']);
  return netns.exec(ns, ['iptables-save']) + netns.exec(ns, ['ip6tables-save']);
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe.skipIf(skip)(title('firewall drivers in a netns'), () => {
  const netns = new TestNetns();
  let recordDir: string;
  beforeEach(() => {
    recordDir = mkdtempSync(join(tmpdir(), 'berth-fw-records-'));
  });
  afterEach(() => {
    rmSync(recordDir, { recursive: true, force: true });
    netns.cleanup();
  });

  for (const backend of ['nftables', 'iptables'] as const) {
    describe(backend, () => {
      async function setup(): Promise<{ ns: TestNs; fw: Firewall }> {
        const ns = await netns.create('fw');
        const fw = await openFirewall({ backend, hostNetnsPath: ns.path, recordDir });
        expect(fw.backend).toBe(backend);
        return { ns, fw };
      }

      it('is usable here', async () => {
        const { fw } = await setup();
        expect(await fw.status()).toBeNull();
      });

      it('applies in the netns and reads back what it applied', async () => {
        const { ns, fw } = await setup();
        await fw.apply(NET, networkRules);
        await fw.apply(CTR, containerRules);
        const view = kernelView(netns, ns, backend);
        if (backend === 'nftables') {
          expect(view).toContain('table inet berth');
          expect(view).toMatch(/"br0" comment "berth network net1"/);
          expect(view).toMatch(/10\.50\.0\.2 comment "berth container ctr1"/);
          expect(view).toMatch(/udp \. 8080 comment "berth container ctr1" : 10\.50\.0\.2 \. 7000/);
          expect(view).toMatch(/127\.0\.0\.1 \. tcp \. 8443 comment "berth container ctr1" : 10\.50\.0\.2 \. 443/);
          expect(view).toMatch(/sctp \. 9999 comment "berth container ctr1" : fd00:50::2 \. 9999/);
        } else {
          expect(view).toContain(
            '-A BERTH-DNAT -p udp -m udp --dport 8080 -m comment --comment "berth container ctr1" -j DNAT --to-destination 10.50.0.2:7000',
          );
          expect(view).toContain(
            '-A BERTH-DNAT -p sctp -m sctp --dport 9999 -m comment --comment "berth container ctr1" -j DNAT --to-destination [fd00:50::2]:9999',
          );
          expect(view).toContain('-A BERTH-ISOLATION-2 -o br0 -m comment --comment "berth network net1" -j DROP');
          expect(count(view, '-A FORWARD -j BERTH-FORWARD')).toBe(2); // once in iptables, once in ip6tables
        }
        expect(await fw.check(NET, networkRules)).toEqual([]);
        expect(await fw.check(CTR, containerRules)).toEqual([]);
        expect((await fw.owners()).map((o) => o.id).sort()).toEqual(['ctr1', 'net1']);
        // Nothing of berth's landed in the netns this test runs in.
        const here = spawnSync('nft', ['list', 'table', 'inet', 'berth'], { encoding: 'utf8' });
        expect(here.status).not.toBe(0);
      });

      it('applying the base and the same rules twice leaves one copy', async () => {
        const { ns, fw } = await setup();
        await fw.ensureBase();
        await fw.apply(CTR, containerRules);
        const once = kernelView(netns, ns, backend);
        await fw.ensureBase();
        await fw.apply(CTR, containerRules);
        const twice = kernelView(netns, ns, backend);
        const strip = (s: string) => s.replace(/^#.*$/gm, '');
        expect(strip(twice)).toBe(strip(once));
      });

      it('check names what is missing', async () => {
        const { fw } = await setup();
        await fw.apply(NET, networkRules);
        const problems = await fw.check(CTR, containerRules);
        expect(problems.length).toBeGreaterThan(0);
        expect(problems.join('\n')).toMatch(/10\.50\.0\.2/);
      });

      it('remove by owner leaves none of that owner and all of the others', async () => {
        const { ns, fw } = await setup();
        await fw.apply(NET, networkRules);
        await fw.apply(CTR, containerRules);
        await fw.remove(CTR);
        const view = kernelView(netns, ns, backend);
        expect(view).not.toContain('berth container ctr1');
        expect(view).not.toContain('10.50.0.2');
        expect(view).toContain('berth network net1');
        expect(await fw.check(NET, networkRules)).toEqual([]);
        // Again, and an owner never seen: both success.
        await fw.remove(CTR);
        await fw.remove({ kind: 'container', id: 'never-applied' });
        await fw.remove(NET);
        expect(kernelView(netns, ns, backend)).not.toContain('berth network');
      });

      it('remove succeeds when the rules are already gone from the kernel', async () => {
        const { ns, fw } = await setup();
        await fw.apply(CTR, containerRules);
        netns.exec(ns, ['nft', 'flush', 'ruleset']);
        await fw.remove(CTR);
        expect(await fw.owners()).toEqual([]);
      });

      it('a changed owner loses what it no longer holds', async () => {
        const { ns, fw } = await setup();
        await fw.apply(CTR, containerRules);
        const fewer: Rules = {
          masquerade: [{ source: '10.50.0.2', subnet: '10.50.0.0/24' }],
          ports: [{ protocol: 'udp', hostPort: 8080, containerIP: '10.50.0.2', containerPort: 7001 }],
        };
        await fw.apply(CTR, fewer);
        const view = kernelView(netns, ns, backend);
        expect(view).not.toContain('fd00:50::2');
        expect(view).not.toContain('8443');
        expect(view).toMatch(backend === 'nftables' ? /10\.50\.0\.2 \. 7001/ : /--to-destination 10\.50\.0\.2:7001/);
        expect(view).not.toMatch(/10\.50\.0\.2[ .:]+7000/);
        expect(await fw.check(CTR, fewer)).toEqual([]);
      });

      it('reload restores every owner after `nft flush ruleset`', async () => {
        const { ns, fw } = await setup();
        await fw.apply(NET, networkRules);
        await fw.apply(CTR, containerRules);
        netns.exec(ns, ['nft', 'flush', 'ruleset']);
        expect(kernelView(netns, ns, backend)).not.toContain('berth');
        expect((await fw.check(CTR, containerRules)).length).toBeGreaterThan(0);
        await fw.reload();
        expect(await fw.check(NET, networkRules)).toEqual([]);
        expect(await fw.check(CTR, containerRules)).toEqual([]);
        await fw.reload();
        expect(await fw.check(CTR, containerRules)).toEqual([]);
      });

      it('a netns that does not exist is a clear error', async () => {
        const fw = await openFirewall({ backend, hostNetnsPath: '/run/netns/bt-no-such-netns', recordDir });
        await expect(fw.ensureBase()).rejects.toThrow(/bt-no-such-netns cannot be entered/);
      });
    });
  }

  it('nftables: a host port another owner holds is refused, naming the command and a fix', async () => {
    const ns = await netns.create('fw');
    const fw = await openFirewall({ backend: 'nftables', hostNetnsPath: ns.path, recordDir });
    await fw.apply(CTR, containerRules);
    const other: Rules = { ports: [{ protocol: 'udp', hostPort: 8080, containerIP: '10.50.0.9', containerPort: 1 }] };
    const err = await fw.apply({ kind: 'container', id: 'ctr2' }, other).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).message).toMatch(/^nft -f - exited with status 1: .*File exists/);
    expect((err as BerthError).details).toMatch(/another owner/);
    // The refused owner left no record, and the first owner is intact.
    expect((await fw.owners()).map((o) => o.id)).toEqual(['ctr1']);
    expect(await fw.check(CTR, containerRules)).toEqual([]);
  });

  it('nftables: remove still works when an element was changed by hand (blind delete refused, exact delete used)', async () => {
    const ns = await netns.create('fw');
    const fw = await openFirewall({ backend: 'nftables', hostNetnsPath: ns.path, recordDir });
    await fw.apply(CTR, containerRules);
    netns.exec(ns, ['nft', 'delete', 'element', 'inet', 'berth', 'ports4', '{ udp . 8080 }']);
    netns.exec(ns, ['nft', 'add', 'element', 'inet', 'berth', 'ports4', '{ udp . 8080 : 10.50.0.2 . 7005 }']);
    await fw.remove(CTR);
    const view = netns.exec(ns, ['nft', 'list', 'table', 'inet', 'berth']);
    expect(view).not.toContain('8080');
    expect(view).not.toContain('10.50.0.2');
    expect(await fw.owners()).toEqual([]);
  });

  it('nftables: a change on a base of another berth version lays this one down; a hand edit of the base waits for reload', async () => {
    const ns = await netns.create('fw');
    const fw = await openFirewall({ backend: 'nftables', hostNetnsPath: ns.path, recordDir });
    const publishRules = () => count(netns.exec(ns, ['nft', 'list', 'chain', 'inet', 'berth', 'publish']), 'dnat');
    await fw.apply(CTR, containerRules);
    expect(publishRules()).toBe(4);
    const version = nftBaseVersion();

    // Another version's base, with a rule of it gone: the next change re-sends the whole base.
    netns.exec(ns, ['nft', 'flush', 'chain', 'inet', 'berth', 'publish']);
    netns.exec(ns, ['nft', 'flush', 'set', 'inet', 'berth', 'base_version']);
    netns.exec(ns, ['nft', 'add', 'element', 'inet', 'berth', 'base_version', '{ 7 }']);
    expect((await fw.check(CTR, containerRules)).join('; ')).toMatch(/publish has 0 rule\(s\).*base_version holds 7/);
    await fw.apply(
      { kind: 'container', id: 'ctr2' },
      { masquerade: [{ source: '10.50.0.9', subnet: '10.50.0.0/24' }] },
    );
    expect(publishRules()).toBe(4);
    const versions = JSON.parse(
      netns.exec(ns, ['nft', '-j', 'list', 'set', 'inet', 'berth', 'base_version']),
    ).nftables.flatMap((o: { set?: { elem?: number[] } }) => o.set?.elem ?? []);
    expect(versions).toEqual([Number(version)]);
    expect(await fw.check(CTR, containerRules)).toEqual([]);

    // This version's base edited by hand: changes find it in place and leave it; CHECK names it; reload mends it.
    netns.exec(ns, ['nft', 'flush', 'chain', 'inet', 'berth', 'publish']);
    await fw.remove({ kind: 'container', id: 'ctr2' });
    expect(publishRules()).toBe(0);
    expect(await fw.check(CTR, containerRules)).toEqual(['chain inet berth publish has 0 rule(s), berth expects 4']);
    await fw.reload();
    expect(publishRules()).toBe(4);
    expect(await fw.check(CTR, containerRules)).toEqual([]);
  });

  it('without a backend asked for, nftables is chosen where nft works', async () => {
    const ns = await netns.create('fw');
    const fw = await openFirewall({ hostNetnsPath: ns.path, recordDir });
    expect(fw.backend).toBe('nftables');
  });
});

// ---- Real traffic ------------------------------------------------------------

const NODE = process.execPath;

/** A UDP server that answers every datagram with the address it came from. Killed by PID in afterEach. */
function startReporter(
  ns: TestNs,
  family: 'udp4' | 'udp6',
  port: number,
  servers: ChildProcess[],
  address = '',
): Promise<void> {
  const bind = address ? `${port},'${address}'` : `${port}`;
  const script = `const d=require('dgram').createSocket('${family}');d.on('message',(m,r)=>d.send(r.address,r.port,r.address));d.bind(${bind},()=>console.log('ready'));setTimeout(()=>process.exit(0),60000);`;
  const child = spawn('ip', ['netns', 'exec', ns.name, NODE, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reporter in ${ns.name} did not start`)), 10_000);
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`reporter in ${ns.name} exited with ${code}`));
    });
  });
}

/** Sends one datagram from ns; the reporter's answer (the source it saw), or 'timeout'. */
function ask(ns: TestNs, host: string, port: number, waitMs = 1000): string {
  const family = host.includes(':') ? 'udp6' : 'udp4';
  const script = `const d=require('dgram').createSocket('${family}');setTimeout(()=>{console.log('timeout');process.exit(0)},${waitMs});d.on('message',(m)=>{console.log(m.toString());process.exit(0)});d.send('x',${port},'${host}');`;
  const r = spawnSync('ip', ['netns', 'exec', ns.name, NODE, '-e', script], {
    encoding: 'utf8',
    timeout: waitMs + 10_000,
  });
  if (r.status !== 0) throw new Error(`client in ${ns.name} failed: ${r.stderr}`);
  return r.stdout.trim();
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

describe.skipIf(skip)(title('firewall rules on real traffic'), () => {
  const netns = new TestNetns();
  const servers: ChildProcess[] = [];
  let recordDir: string;
  beforeEach(() => {
    recordDir = mkdtempSync(join(tmpdir(), 'berth-fw-records-'));
  });
  afterEach(() => {
    for (const s of servers.splice(0)) if (s.exitCode === null && s.pid) process.kill(s.pid, 'SIGKILL');
    rmSync(recordDir, { recursive: true, force: true });
    netns.cleanup();
  });

  /**
   * host: bridge br0 10.50.0.1/24 and br1 10.51.0.1/24, uplink 192.0.2.1/24 to outside (192.0.2.2/24),
   * which has no route back to the bridges: only masqueraded traffic gets an answer.
   * c1 10.50.0.2 on br0, c2 10.51.0.2 on br1.
   */
  async function topology() {
    const host = await netns.create('host');
    const outside = await netns.create('out');
    const c1 = await netns.create('c1');
    const c2 = await netns.create('c2');
    ip(['-n', host.name, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    ip(['-n', host.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'up0']);
    ip(['-n', host.name, 'link', 'set', 'up0', 'up']);
    ip(['-n', outside.name, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
    ip(['-n', outside.name, 'link', 'set', 'eth0', 'up']);
    for (const [i, c] of [c1, c2].entries()) {
      const br = `br${i}`;
      ip(['-n', host.name, 'link', 'add', br, 'type', 'bridge']);
      ip(['-n', host.name, 'addr', 'add', `10.5${i}.0.1/24`, 'dev', br]);
      ip(['-n', host.name, 'link', 'set', br, 'up']);
      ip(['-n', host.name, 'link', 'add', `veth${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.name]);
      ip(['-n', host.name, 'link', 'set', `veth${i}`, 'master', br, 'up']);
      // br_netfilter bridges a DNATed frame back out the port it came in on: hairpin needs this (the bridge driver's job).
      ip(['-n', host.name, 'link', 'set', `veth${i}`, 'type', 'bridge_slave', 'hairpin', 'on']);
      ip(['-n', c.name, 'addr', 'add', `10.5${i}.0.2/24`, 'dev', 'eth0']);
      ip(['-n', c.name, 'link', 'set', 'eth0', 'up']);
      ip(['-n', c.name, 'route', 'add', 'default', 'via', `10.5${i}.0.1`]);
    }
    binding().writeFileInNetns(host.path, '/proc/sys/net/ipv4/ip_forward', '1');
    return { host, outside, c1, c2 };
  }

  const net = (i: number, isolate: boolean): Rules => ({
    bridges: [{ name: `br${i}`, subnets: [`10.5${i}.0.0/24`], isolate }],
  });
  const ctr = (i: number): Rules => ({ masquerade: [{ source: `10.5${i}.0.2`, subnet: `10.5${i}.0.0/24` }] });

  for (const backend of ['nftables', 'iptables'] as const) {
    it(`${backend}: masquerade, isolation, published port, hairpin and localhost`, async () => {
      const { host, outside, c1, c2 } = await topology();
      if (backend === 'iptables') {
        // As Docker leaves a host: berth's own accepts must carry container traffic.
        netns.exec(host, ['iptables', '-P', 'FORWARD', 'DROP']);
      }
      const fw = await openFirewall({ backend, hostNetnsPath: host.path, recordDir });
      await startReporter(outside, 'udp4', 5000, servers);
      await startReporter(c1, 'udp4', 7000, servers);
      await startReporter(c2, 'udp4', 7000, servers);

      // Without masquerade the outside answers an address it has no route to.
      expect(ask(c1, '192.0.2.2', 5000)).toBe('timeout');

      await fw.apply({ kind: 'network', id: 'n0' }, net(0, true));
      await fw.apply({ kind: 'network', id: 'n1' }, net(1, true));
      await fw.apply({ kind: 'container', id: 'c1' }, ctr(0));
      await fw.apply({ kind: 'container', id: 'c2' }, ctr(1));
      expect(ask(c1, '192.0.2.2', 5000)).toBe('192.0.2.1');
      expect(ask(c2, '192.0.2.2', 5000)).toBe('192.0.2.1');

      // Two isolated bridges do not reach each other; once one opts out they do (masqueraded, as Docker does).
      expect(ask(c1, '10.51.0.2', 7000)).toBe('timeout');
      await fw.apply({ kind: 'network', id: 'n1' }, net(1, false));
      expect(ask(c1, '10.51.0.2', 7000)).toBe('10.51.0.1');

      // A published port: the outside reaches c1 through the host's address, and c1 sees the real source.
      await fw.apply(
        { kind: 'container', id: 'c1' },
        { ...ctr(0), ports: [{ protocol: 'udp', hostPort: 8080, containerIP: '10.50.0.2', containerPort: 7000 }] },
      );
      expect(ask(outside, '192.0.2.1', 8080)).toBe('192.0.2.2');
      // Hairpin: c1 reaches its own published port through the host's address, masqueraded to the bridge's.
      expect(ask(c1, '192.0.2.1', 8080)).toBe('10.50.0.1');
      // From the host itself, through its own address (the source is that address: it routes back).
      expect(ask(host, '192.0.2.1', 8080)).toBe('192.0.2.1');

      // localhost publishing needs route_localnet on the bridge (the caller's job).
      binding().writeFileInNetns(host.path, '/proc/sys/net/ipv4/conf/br0/route_localnet', '1');
      await fw.apply(
        { kind: 'container', id: 'c1' },
        {
          ...ctr(0),
          ports: [
            { protocol: 'udp', hostIP: '127.0.0.1', hostPort: 8081, containerIP: '10.50.0.2', containerPort: 7000 },
          ],
        },
      );
      expect(ask(host, '127.0.0.1', 8081)).toBe('10.50.0.1');
      expect(ask(host, '192.0.2.1', 8081)).toBe('timeout'); // bound to 127.0.0.1 only
      expect(ask(outside, '192.0.2.1', 8080)).toBe('timeout'); // the earlier mapping is gone

      // Removing the container ends its masquerade; the other container keeps its own.
      await fw.remove({ kind: 'container', id: 'c1' });
      expect(ask(c1, '192.0.2.2', 5000)).toBe('timeout');
      expect(ask(c2, '192.0.2.2', 5000)).toBe('192.0.2.1');
    });

    it(`${backend}: a container cannot reach the host's 127.0.0.0/8 once berth's guard is in (CVE-2020-8558)`, async () => {
      const { host, c1 } = await topology();
      // What localhost publishing needs on the host, and a container crafted to send to 127.0.0.53 through it.
      binding().writeFileInNetns(host.path, '/proc/sys/net/ipv4/conf/br0/route_localnet', '1');
      binding().writeFileInNetns(c1.path, '/proc/sys/net/ipv4/conf/eth0/route_localnet', '1');
      ip(['-n', c1.name, 'route', 'del', 'table', 'local', 'local', '127.0.0.0/8', 'dev', 'lo']);
      ip(['-n', c1.name, 'route', 'add', '127.0.0.53/32', 'via', '10.50.0.1', 'dev', 'eth0']);
      await startReporter(host, 'udp4', 6000, servers, '127.0.0.53');
      // Without the guard the host's loopback-only service answers the container.
      expect(ask(c1, '127.0.0.53', 6000)).toBe('10.50.0.2');
      const fw = await openFirewall({ backend, hostNetnsPath: host.path, recordDir });
      await fw.ensureBase();
      expect(ask(c1, '127.0.0.53', 6000)).toBe('timeout');
      // The host itself still reaches it.
      expect(ask(host, '127.0.0.53', 6000)).toBe('127.0.0.1');
    });
  }
});
