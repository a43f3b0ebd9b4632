/**
 * berth-bridge end to end: the built plugin run as runtimes run it, inside a
 * throwaway netns that plays the host (its bridge, veths, sysctls and firewall
 * rules land there), with containers in throwaway namespaces of their own.
 * Every state and IPAM directory is a temp dir of the test.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteNamedNetns } from '../../netlink/netns.js';
import { hostVethName } from '../../network/pipeline/cni-names.js';
import { CniWorkspace, cnitool, type ProcessRun, type RunOptions, runCnitool, runPlugin } from '../helpers/cni.js';
import { IN_PROCESS } from '../helpers/daemon.js';
import type { IpAddr, IpLink, IpRoute } from '../helpers/ip-json.js';
import { ipamReservations } from '../helpers/ipam.js';
import { kernelSuite, notRoot, type TestHost, TestNetns, type TestNs } from '../helpers/netns.js';
import { killAll, serveInNetns } from '../helpers/servers.js';

const EXE = 'berth-bridge';
const NET = 'bt-net';
const BRIDGE = 'btbr0';
const SUBNET = '10.77.0.0/24';
const GW = '10.77.0.1';
const MAC = expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
const UPLINK = 'uplink0';
const DNS = { nameservers: ['10.77.0.1'], search: ['bt.test'] };

interface Attachment {
  readonly id: string;
  readonly netns?: string;
  readonly ifname?: string;
}

type Json = Record<string, unknown>;

describe.skipIf(notRoot)(kernelSuite('berth-bridge in throwaway namespaces'), () => {
  const netns = new TestNetns();
  const workspaces: CniWorkspace[] = [];
  const servers: ChildProcess[] = [];
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => {
    killAll(servers);
    for (const ws of workspaces.splice(0)) ws.remove();
    netns.cleanup();
  });
  afterAll(() => netns.cleanup());

  /** The network config: a gateway bridge with masquerade, hairpin and an MTU, over berth-ipam by default. */
  function bridgeConf(h: TestHost, cniVersion: string, extra: Json = {}, ipam: Json = {}): Json {
    return {
      cniVersion,
      name: NET,
      type: EXE,
      bridge: BRIDGE,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      mtu: 1400,
      stateDir: h.stateDir,
      dns: DNS,
      ipam: {
        type: 'berth-ipam',
        dataDir: h.dataDir,
        ranges: [[{ subnet: SUBNET }]],
        routes: [{ dst: '0.0.0.0/0' }],
        ...ipam,
      },
      ...extra,
    };
  }

  function run(h: TestHost, command: string, a: Attachment, config: unknown, options: RunOptions = {}): ProcessRun {
    return runPlugin(
      EXE,
      {
        command,
        containerId: a.id,
        ...(a.netns !== undefined ? { netns: a.netns } : {}),
        ifname: a.ifname ?? 'eth0',
      },
      config,
      { ...options, hostNetns: h.ns.path },
    );
  }

  function addOk(h: TestHost, a: Attachment, config: Json): Json {
    const r = run(h, 'ADD', a, config);
    expect(r.code, `ADD ${a.id}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.json as Json;
  }

  function expectOk(r: ProcessRun, what: string): void {
    expect([what, r.code, r.stdout], r.stderr).toEqual([what, 0, '']);
  }

  // --- what the kernel and the files hold ---

  const links = (ns: TestNs) => netns.ipJson<IpLink[]>(ns, ['-d', 'link', 'show']);
  const link = (ns: TestNs, name: string) => links(ns).find((l) => l.ifname === name);
  /** The veths of ns, but the uplink of an outside client, which the test made. */
  const vethsOf = (ns: TestNs) =>
    links(ns)
      .filter((l) => l.linkinfo?.info_kind === 'veth' && l.ifname !== UPLINK)
      .map((l) => l.ifname);
  const addressesOf = (ns: TestNs, dev: string) =>
    netns
      .ipJson<IpAddr[]>(ns, ['address', 'show', 'dev', dev])
      .flatMap((a) => a.addr_info)
      .filter((a) => a.family === 'inet' || !a.local.startsWith('fe80:'))
      .map((a) => `${a.local}/${a.prefixlen}`);
  const routesOf = (ns: TestNs, family: '-4' | '-6' = '-4') =>
    netns
      .ipJson<IpRoute[]>(ns, [family, 'route', 'show'])
      .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`);

  /** The addresses reserved under the network: address → container ID. */
  const reservations = (h: TestHost, network = NET) => ipamReservations(h.dataDir, network);

  /** berth's firewall records of attachments in the host's state dir. */
  function records(h: TestHost): string[] {
    const dir = join(h.stateDir, 'firewall');
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  }

  /** The masquerade elements of berth's nftables table in the host netns, as 'a', 'a . net' strings. */
  function masquerade(h: TestHost): string[] {
    const out = netns.exec(h.ns, ['nft', '-j', 'list', 'ruleset']);
    const items = (JSON.parse(out) as { nftables: Json[] }).nftables;
    const flat = (v: unknown): string => {
      if (typeof v === 'string' || typeof v === 'number') return String(v);
      const o = v as Json;
      if (o.elem) return flat((o.elem as Json).val);
      if (o.prefix) return `${(o.prefix as Json).addr}/${(o.prefix as Json).len}`;
      if (o.concat) return (o.concat as unknown[]).map(flat).join(' . ');
      if (o.range) return (o.range as unknown[]).map(flat).join('-');
      return JSON.stringify(o);
    };
    return items
      .map((i) => i.set as Json | undefined)
      .filter((s) => s && s.family === 'inet' && s.table === 'berth' && String(s.name).startsWith('masq'))
      .flatMap((s) => ((s!.elem as unknown[]) ?? []).map((e) => `${s!.name}: ${flat(e)}`))
      .sort();
  }

  const masqOf = (address: string, subnet = SUBNET) => [`masq4: ${address}`, `masq4_keep: ${address} . ${subnet}`];

  /** What one attachment leaves behind when it is gone: nothing, in the host and in its files. */
  function expectAttachmentGone(h: TestHost, id: string, ifname = 'eth0'): void {
    const veth = hostVethName(NET, id, ifname);
    expect(link(h.ns, veth), `host veth ${veth}`).toBeUndefined();
    expect(Object.values(reservations(h)), `reservations of ${id}`).not.toContain(id);
  }

  /** Nothing of any attachment: no veth, no reservation, no firewall record or masquerade element. */
  function expectNothingLeft(h: TestHost): void {
    expect(vethsOf(h.ns), 'veths in the host').toEqual([]);
    expect(reservations(h), 'reservations').toEqual({});
    expect(records(h), 'firewall records').toEqual([]);
    const table = netns.exec(h.ns, ['nft', 'list', 'tables']);
    if (table.includes('berth')) expect(masquerade(h), 'masquerade elements').toEqual([]);
  }

  /**
   * The plugin in a mount namespace of its own where the firewall tools are
   * /dev/null (not executable): the binaries are absent for it alone, and the
   * bind mounts vanish with the process. The plugin runs in-process (IN_PROCESS):
   * a daemon would do the work in its own mount namespace, where the tools are.
   */
  function withoutFirewallTools(): string[] {
    const tools = ['nft', 'iptables', 'iptables-restore', 'iptables-save', 'ip6tables-restore', 'ip6tables-save'];
    const searched = [...new Set([...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'])];
    const found = searched
      .filter((d) => d.startsWith('/'))
      .flatMap((d) => tools.map((t) => join(d, t)))
      .filter((p) => existsSync(p));
    return [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      `for f in ${found.join(' ')}; do mount --bind /dev/null "$f" || exit 97; done; exec "$0"`,
    ];
  }

  const interfacesIn = (ns: TestNs) => links(ns).map((l) => l.ifname);

  /** `ping` from inside ns, one packet, bounded. */
  const ping = (ns: TestNs, to: string) => netns.exec(ns, ['ping', '-c1', '-W2', to]);

  // --- 1. ADD, the kernel's view, traffic, CHECK ---

  describe('ADD and CHECK', () => {
    /** The result berth-bridge prints for the first container of bridgeConf, in the shape of each version. */
    function expectedResult(cniVersion: string, id: string, sandbox: string, address: string): Json {
      return {
        cniVersion,
        interfaces: [
          { name: BRIDGE, mac: MAC },
          { name: hostVethName(NET, id, 'eth0'), mac: MAC },
          { name: 'eth0', mac: MAC, sandbox },
        ],
        ips: [{ ...(cniVersion.startsWith('0.') ? { version: '4' } : {}), address, gateway: GW, interface: 2 }],
        routes: [{ dst: '0.0.0.0/0', gw: GW }],
        dns: DNS,
      };
    }

    it.each([
      ['berth-ipam', '1.1.0'],
      ['berth-ipam', '1.0.0'],
      ['berth-ipam', '0.4.0'],
      ['host-local', '1.1.0'],
      ['host-local', '1.0.0'],
      ['host-local', '0.4.0'],
    ])('with %s at %s: the result, the kernel, traffic, CHECK and DEL', async (ipamType, cniVersion) => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const config = bridgeConf(h, cniVersion, {}, { type: ipamType });
      const r1 = addOk(h, { id: 'ctr1', netns: c1.path }, config);
      const r2 = addOk(h, { id: 'ctr2', netns: c2.path }, config);
      expect(r1).toEqual(expectedResult(cniVersion, 'ctr1', c1.path, '10.77.0.2/24'));
      expect(r2).toEqual(expectedResult(cniVersion, 'ctr2', c2.path, '10.77.0.3/24'));
      const ifs = r1.interfaces as { mac: string }[];

      // The host: the bridge holds the gateway; each host end is on it, with hairpin, at the MTU.
      const bridge = link(h.ns, BRIDGE)!;
      expect(bridge).toMatchObject({ mtu: 1400, address: ifs[0]!.mac, linkinfo: { info_kind: 'bridge' } });
      expect(bridge.flags).toContain('UP');
      expect(addressesOf(h.ns, BRIDGE)).toEqual([`${GW}/24`]);
      for (const id of ['ctr1', 'ctr2']) {
        const veth = link(h.ns, hostVethName(NET, id, 'eth0'))!;
        expect(veth).toMatchObject({
          master: BRIDGE,
          mtu: 1400,
          linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { hairpin: true } },
        });
        expect(veth.flags).toContain('UP');
      }
      expect(link(h.ns, hostVethName(NET, 'ctr1', 'eth0'))!.address).toBe(ifs[1]!.mac);
      expect(netns.exec(h.ns, ['cat', '/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');

      // The container: eth0 with the address, the MTU, the MAC of the result and the default route.
      expect(interfacesIn(c1).sort()).toEqual(['eth0', 'lo']);
      expect(link(c1, 'eth0')).toMatchObject({ mtu: 1400, address: ifs[2]!.mac });
      expect(link(c1, 'eth0')!.flags).toContain('UP');
      expect(addressesOf(c1, 'eth0')).toEqual(['10.77.0.2/24']);
      expect(routesOf(c1)).toEqual([`default via ${GW}`, SUBNET]);

      // Traffic: container to container across the bridge, and to the gateway.
      ping(c1, '10.77.0.3');
      ping(c2, '10.77.0.2');
      ping(c1, GW);

      expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1', '10.77.0.3': 'ctr2' });
      expect(masquerade(h)).toEqual([...masqOf('10.77.0.2'), ...masqOf('10.77.0.3')].sort());

      for (const [id, ns, result] of [
        ['ctr1', c1, r1],
        ['ctr2', c2, r2],
      ] as const) {
        expectOk(run(h, 'CHECK', { id, netns: ns.path }, { ...config, prevResult: result }), `CHECK ${id}`);
      }
      for (const [id, ns] of [
        ['ctr1', c1],
        ['ctr2', c2],
      ] as const) {
        expectOk(run(h, 'DEL', { id, netns: ns.path }, config), `DEL ${id}`);
      }
      expectNothingLeft(h);
      expect(interfacesIn(c1)).toEqual(['lo']);
    });

    it('CHECK fails, naming what is missing, once the container lost its address', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0');
      const result = addOk(h, { id: 'ctr1', netns: c.path }, config);
      netns.exec(c, ['ip', 'address', 'del', '10.77.0.2/24', 'dev', 'eth0']);
      const check = run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: result });
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ msg: `address 10.77.0.2/24 is missing on eth0 in ${c.path}` });
    });

    it('CHECK fails, naming the host veth, once it was deleted behind its back', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0');
      const result = addOk(h, { id: 'ctr1', netns: c.path }, config);
      const veth = hostVethName(NET, 'ctr1', 'eth0');
      netns.exec(h.ns, ['ip', 'link', 'del', veth]);
      const check = run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: result });
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ msg: `host veth ${veth} of ctr1/eth0 is missing` });
    });

    it.each([
      [
        'the default route is gone',
        (c: TestNs) => netns.exec(c, ['ip', 'route', 'del', 'default']),
        `route to 0.0.0.0/0 via ${GW} is missing`,
      ],
      [
        'the host veth left the bridge',
        (_: TestNs, h: TestHost) =>
          netns.exec(h.ns, ['ip', 'link', 'set', hostVethName(NET, 'ctr1', 'eth0'), 'nomaster']),
        `host veth ${hostVethName(NET, 'ctr1', 'eth0')} is not attached to bridge ${BRIDGE}`,
      ],
      [
        'the bridge went promiscuous',
        (_: TestNs, h: TestHost) => netns.exec(h.ns, ['ip', 'link', 'set', BRIDGE, 'promisc', 'on']),
        `bridge ${BRIDGE} has promiscuous mode on, the config says off`,
      ],
      [
        'the reservation was released',
        (_: TestNs, h: TestHost) => rmSync(join(h.dataDir, NET, '10.77.0.2')),
        'container ctr1 (eth0) holds no address in range set 0',
      ],
    ])('CHECK fails, naming it, once %s', async (_, breakIt, msg) => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0');
      const result = addOk(h, { id: 'ctr1', netns: c.path }, config);
      breakIt(c, h);
      const check = run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: result });
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ msg: expect.stringContaining(msg) });
    });

    it('CHECK fails once the masquerade rules are gone', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0');
      const result = addOk(h, { id: 'ctr1', netns: c.path }, config);
      netns.exec(h.ns, ['nft', 'flush', 'set', 'inet', 'berth', 'masq4']);
      const check = run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: result });
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ msg: expect.stringContaining('firewall rules of ctr1/eth0 are not as ADD') });
    });
  });

  describe('more configurations', () => {
    it('dual stack: both families on the bridge and inside, traffic over both, v6 forwarding on', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const config = bridgeConf(
        h,
        '1.1.0',
        {},
        {
          ranges: [[{ subnet: SUBNET }], [{ subnet: 'fd77::/64' }]],
          routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
        },
      );
      const r1 = addOk(h, { id: 'ctr1', netns: c1.path }, config);
      addOk(h, { id: 'ctr2', netns: c2.path }, config);
      expect(r1).toMatchObject({
        ips: [
          { address: '10.77.0.2/24', gateway: GW, interface: 2 },
          { address: 'fd77::2/64', gateway: 'fd77::1', interface: 2 },
        ],
        routes: [
          { dst: '0.0.0.0/0', gw: GW },
          { dst: '::/0', gw: 'fd77::1' },
        ],
      });
      expect(addressesOf(c1, 'eth0')).toEqual(['10.77.0.2/24', 'fd77::2/64']);
      expect(routesOf(c1, '-6')).toContain('default via fd77::1');
      expect(netns.exec(h.ns, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding']).trim()).toBe('1');
      netns.exec(c1, ['ping', '-6', '-c1', '-W2', 'fd77::3']);
      netns.exec(c1, ['ping', '-6', '-c1', '-W2', 'fd77::1']);
      expect(masquerade(h)).toContain('masq6: fd77::2');
      expectOk(run(h, 'CHECK', { id: 'ctr1', netns: c1.path }, { ...config, prevResult: r1 }), 'CHECK');
      expectOk(run(h, 'DEL', { id: 'ctr1' }, config), 'DEL without netns');
      expect(masquerade(h).filter((m) => m.includes('fd77::2'))).toEqual([]);
    });

    it('isDefaultGateway: a default route via the bridge though IPAM gives none', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0', { isGateway: false, isDefaultGateway: true }, { routes: [] });
      const r = addOk(h, { id: 'ctr1', netns: c.path }, config);
      expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: GW }]);
      expect(routesOf(c)).toEqual([`default via ${GW}`, SUBNET]);
      expect(addressesOf(h.ns, BRIDGE)).toEqual([`${GW}/24`]);
    });

    it('loopback: true brings lo up with eth0 (no loopback process); CHECK wants it up; DEL sets it down', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const loUp = () => link(c, 'lo')!.flags.includes('UP');
      const plain = bridgeConf(h, '1.1.0');
      const config = bridgeConf(h, '1.1.0', { loopback: true });
      const plainResult = addOk(h, { id: 'ctr0', netns: (await netns.create('c0')).path }, plain);
      netns.exec(c, ['ip', 'link', 'set', 'lo', 'down']); // the test netns starts with lo up
      expect(loUp()).toBe(false);
      const r = addOk(h, { id: 'ctr1', netns: c.path }, config);
      expect(loUp()).toBe(true);
      // The result is the bridge's, as with a loopback plugin after it (which passes it on).
      expect(Object.keys(r).sort()).toEqual(Object.keys(plainResult).sort());
      expect((r.interfaces as { name: string }[]).map((i) => i.name)).not.toContain('lo');
      ping(c, '127.0.0.1');
      expectOk(run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: r }), 'CHECK');
      netns.exec(c, ['ip', 'link', 'set', 'lo', 'down']);
      const down = run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: r });
      expect([down.code, (down.json as { code: number }).code], down.stdout).toEqual([1, 999]);
      expect(down.stdout).toContain(`lo in ${c.path} is down`);
      netns.exec(c, ['ip', 'link', 'set', 'lo', 'up']);
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL');
      expect(loUp()).toBe(false);
      expect(interfacesIn(c)).toEqual(['lo']);
    });

    it("the MAC from runtimeConfig is the container end's, in the result and in the kernel", async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const mac = '02:42:0a:4d:00:09';
      const r = addOk(h, { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0', { runtimeConfig: { mac } }));
      expect((r.interfaces as { name: string; mac: string }[])[2]).toMatchObject({ name: 'eth0', mac });
      expect(link(c, 'eth0')!.address).toBe(mac);
    });

    it('no ipam: layer 2 only, an interface without addresses, CHECK and DEL', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const { ipam: _, ...config } = bridgeConf(h, '1.1.0', { isGateway: false, dns: {} });
      const r = addOk(h, { id: 'ctr1', netns: c.path }, config);
      expect(r).toEqual({
        cniVersion: '1.1.0',
        interfaces: [
          { name: BRIDGE, mac: MAC },
          { name: hostVethName(NET, 'ctr1', 'eth0'), mac: MAC },
          { name: 'eth0', mac: MAC, sandbox: c.path },
        ],
      });
      expect(addressesOf(c, 'eth0')).toEqual([]);
      expect(addressesOf(h.ns, BRIDGE)).toEqual([]);
      expect(link(c, 'eth0')!.flags).toContain('UP');
      expect(records(h)).toEqual([]);
      expectOk(run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: r }), 'CHECK');
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL');
      expect(interfacesIn(c)).toEqual(['lo']);
    });

    it('ipMasqBackend iptables: the rules are in iptables, and DEL without a netns removes them', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0', { ipMasqBackend: 'iptables' });
      const r = addOk(h, { id: 'ctr1', netns: c.path }, config);
      const nat = () => netns.exec(h.ns, ['iptables-save', '-t', 'nat']);
      expect(nat()).toMatch(/-s 10\.77\.0\.2(\/32)? .*MASQUERADE/);
      expectOk(run(h, 'CHECK', { id: 'ctr1', netns: c.path }, { ...config, prevResult: r }), 'CHECK');
      expectOk(run(h, 'DEL', { id: 'ctr1' }, config), 'DEL without netns');
      expect(nat()).not.toContain('10.77.0.2');
      expect(records(h)).toEqual([]);
    });

    it('isolate: containers of two isolated networks cannot reach each other; without it they can', async () => {
      const h = await netns.host();
      const nets = [
        { name: 'bt-a', bridge: 'btbra', subnet: '10.77.0.0/24', peer: '10.78.0.2' },
        { name: 'bt-b', bridge: 'btbrb', subnet: '10.78.0.0/24', peer: '10.77.0.2' },
      ];
      const confOf = (n: (typeof nets)[number], isolate: boolean) => ({
        ...bridgeConf(h, '1.1.0', { name: n.name, bridge: n.bridge, isolate }, { ranges: [[{ subnet: n.subnet }]] }),
      });
      const cs: TestNs[] = [];
      for (const n of nets) {
        const c = await netns.create(n.name);
        cs.push(c);
        addOk(h, { id: 'ctr1', netns: c.path }, confOf(n, false));
      }
      ping(cs[0]!, nets[0]!.peer);
      for (const [i, n] of nets.entries()) {
        expectOk(run(h, 'DEL', { id: 'ctr1', netns: cs[i]!.path }, confOf(n, false)), 'DEL');
        addOk(h, { id: 'ctr1', netns: cs[i]!.path }, confOf(n, true));
      }
      expect(() => netns.exec(cs[0]!, ['ping', '-c1', '-W1', nets[0]!.peer])).toThrow();
      expect(() => netns.exec(cs[1]!, ['ping', '-c1', '-W1', nets[1]!.peer])).toThrow();
      ping(cs[0]!, '10.77.0.1');
      ping(cs[1]!, '10.78.0.1');
    });

    it('six ADDs at once onto a bridge none of them found: six addresses, six veths, one bridge', async () => {
      const h = await netns.host();
      const cs: TestNs[] = [];
      for (let i = 1; i <= 6; i++) cs.push(await netns.create(`p${i}`));
      const confFile = join(h.dir, 'conf.json');
      writeFileSync(confFile, JSON.stringify(bridgeConf(h, '1.1.0')));
      const script = cs
        .map(
          (c, i) =>
            `(env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=par${i} CNI_NETNS=${c.path} CNI_IFNAME=eth0 CNI_PATH=${join(h.dir, 'none')} ${join(process.cwd(), 'dist', 'cni', EXE)} < ${confFile} > ${h.dir}/out${i} 2>&1; echo $? > ${h.dir}/rc${i}) &`,
        )
        .join('\n');
      netns.exec(h.ns, ['timeout', '60', 'sh', '-c', `${script}\nwait`]);
      const codes = cs.map((_, i) => readFileSync(join(h.dir, `rc${i}`), 'utf8').trim());
      expect(codes, cs.map((_, i) => readFileSync(join(h.dir, `out${i}`), 'utf8')).join('\n')).toEqual(
        cs.map(() => '0'),
      );
      expect(Object.keys(reservations(h)).sort()).toEqual(
        ['10.77.0.2', '10.77.0.3', '10.77.0.4', '10.77.0.5', '10.77.0.6', '10.77.0.7'].sort(),
      );
      expect(vethsOf(h.ns)).toHaveLength(6);
      expect(
        links(h.ns)
          .filter((l) => l.linkinfo?.info_kind === 'bridge')
          .map((l) => l.ifname),
      ).toEqual([BRIDGE]);
      expect(records(h)).toHaveLength(6);
      expect(masquerade(h).filter((m) => m.startsWith('masq4:'))).toHaveLength(6);
      ping(cs[0]!, '10.77.0.7');
    });
  });

  // --- 2. masquerade and DEL ---

  describe('ipMasq and DEL', () => {
    async function added(ipam: Json = {}): Promise<{ h: TestHost; c: TestNs; config: Json }> {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0', {}, ipam);
      addOk(h, { id: 'ctr1', netns: c.path }, config);
      expect(masquerade(h)).toEqual(masqOf('10.77.0.2'));
      expect(records(h)).toHaveLength(1);
      return { h, c, config };
    }

    it('DEL removes the masquerade rules, the veth and the reservation; a second DEL succeeds', async () => {
      const { h, c, config } = await added();
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL');
      expectNothingLeft(h);
      expect(interfacesIn(c)).toEqual(['lo']);
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'second DEL');
      expectNothingLeft(h);
    });

    it('DEL without CNI_NETNS removes them too (the reference leaks the rules)', async () => {
      const { h, c, config } = await added();
      expectOk(run(h, 'DEL', { id: 'ctr1' }, config), 'DEL without netns');
      expectNothingLeft(h);
      // The host end went, and with it its peer.
      expect(interfacesIn(c)).toEqual(['lo']);
    });

    it('DEL after the netns was deleted removes them too', async () => {
      const { h, c, config } = await added();
      deleteNamedNetns(c.path);
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL of a deleted netns');
      expectNothingLeft(h);
    });

    it('DEL with the link already gone succeeds and removes the rest', async () => {
      const { h, c, config } = await added();
      netns.exec(h.ns, ['ip', 'link', 'del', hostVethName(NET, 'ctr1', 'eth0')]);
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL without the link');
      expectNothingLeft(h);
    });

    it('DEL with its pair gone leaves another link of the same name in the container alone', async () => {
      const { h, c, config } = await added();
      // A veth pair dies whole: with the host end gone, an eth0 inside is someone else's.
      netns.exec(h.ns, ['ip', 'link', 'del', hostVethName(NET, 'ctr1', 'eth0')]);
      netns.exec(c, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL');
      expect(interfacesIn(c).sort()).toEqual(['eth0', 'lo', 'other0']);
      expectNothingLeft(h);
    });

    it('DEL whose CNI_NETNS is a leftover plain file (an unmounted netns) succeeds', async () => {
      const { h, c, config } = await added();
      deleteNamedNetns(c.path);
      writeFileSync(c.path, '');
      try {
        expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL');
        expectNothingLeft(h);
      } finally {
        rmSync(c.path, { force: true });
      }
    });

    it.each(['berth-ipam', 'host-local'])(
      'a second ADD of an attachment that exists fails and leaves the first one whole (%s)',
      async (type) => {
        const { h, c, config } = await added({ type });
        const again = run(h, 'ADD', { id: 'ctr1', netns: c.path }, config);
        expect(again.code).toBe(1);
        expect(again.json).toMatchObject({ msg: expect.stringContaining('ctr1') });
        expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1' });
        expect(masquerade(h)).toEqual(masqOf('10.77.0.2'));
        expect(vethsOf(h.ns)).toEqual([hostVethName(NET, 'ctr1', 'eth0')]);
        expect(addressesOf(c, 'eth0')).toEqual(['10.77.0.2/24']);
        ping(c, GW);
      },
    );

    it('DEL with ipMasq since turned off in the config still removes the rules, by their record', async () => {
      const { h, c, config } = await added();
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, { ...config, ipMasq: false }), 'DEL');
      expectNothingLeft(h);
    });

    it('DEL for a container never added succeeds, on a host where berth never ran', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      expectOk(run(h, 'DEL', { id: 'never', netns: c.path }, bridgeConf(h, '1.1.0')), 'DEL');
      expectOk(run(h, 'DEL', { id: 'never' }, bridgeConf(h, '0.4.0')), 'DEL without netns');
      expect(existsSync(h.stateDir)).toBe(false);
      expect(existsSync(h.dataDir)).toBe(false);
      expect(links(h.ns).map((l) => l.ifname)).toEqual(['lo']);
    });

    it('DEL of one container leaves the other one working', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const c3 = await netns.create('c3');
      const config = bridgeConf(h, '1.1.0');
      for (const [id, c] of [
        ['ctr1', c1],
        ['ctr2', c2],
        ['ctr3', c3],
      ] as const)
        addOk(h, { id, netns: c.path }, config);
      expectOk(run(h, 'DEL', { id: 'ctr2', netns: c2.path }, config), 'DEL ctr2');
      expectAttachmentGone(h, 'ctr2');
      expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1', '10.77.0.4': 'ctr3' });
      expect(masquerade(h)).toEqual([...masqOf('10.77.0.2'), ...masqOf('10.77.0.4')].sort());
      ping(c1, '10.77.0.4');
    });
  });

  // --- 3. a failed ADD leaves nothing ---

  describe('a failed ADD leaves nothing behind', () => {
    it('range exhausted (a /30): code and message, no trace of the refused container', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const config = bridgeConf(h, '1.1.0', {}, { ranges: [[{ subnet: '10.77.0.0/30' }]] });
      addOk(h, { id: 'ctr1', netns: c1.path }, config);
      const add = run(h, 'ADD', { id: 'ctr2', netns: c2.path }, config);
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ msg: expect.stringContaining('10.77.0.0/30') });
      expect(interfacesIn(c2)).toEqual(['lo']);
      expectAttachmentGone(h, 'ctr2');
      // The first container keeps all it had.
      expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1' });
      expect(vethsOf(h.ns)).toEqual([hostVethName(NET, 'ctr1', 'eth0')]);
      expect(masquerade(h)).toEqual(masqOf('10.77.0.2', '10.77.0.0/30'));
      expect(records(h)).toHaveLength(1);
    });

    it('dual stack whose second range set is exhausted: the first set is released', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const config = bridgeConf(
        h,
        '1.1.0',
        {},
        { ranges: [[{ subnet: SUBNET }], [{ subnet: 'fd77::/64', rangeStart: 'fd77::2', rangeEnd: 'fd77::2' }]] },
      );
      const r1 = addOk(h, { id: 'ctr1', netns: c1.path }, config);
      expect((r1.ips as { address: string }[]).map((i) => i.address)).toEqual(['10.77.0.2/24', 'fd77::2/64']);
      expect(addressesOf(h.ns, BRIDGE).sort()).toEqual(['10.77.0.1/24', 'fd77::1/64']);
      const add = run(h, 'ADD', { id: 'ctr2', netns: c2.path }, config);
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ msg: expect.stringContaining('fd77::2') });
      expect(interfacesIn(c2)).toEqual(['lo']);
      expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1', 'fd77::2': 'ctr1' });
      expect(vethsOf(h.ns)).toEqual([hostVethName(NET, 'ctr1', 'eth0')]);
      expect(records(h)).toHaveLength(1);
    });

    it('an ifname already taken inside the container: code and message, the container as it was', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      netns.exec(c, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
      const add = run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0'));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ msg: expect.stringContaining('eth0') });
      expect(interfacesIn(c).sort()).toEqual(['eth0', 'lo', 'peer0']);
      expect(addressesOf(c, 'eth0')).toEqual([]);
      expectNothingLeft(h);
      // The bridge was made by this ADD, so it went with it.
      expect(link(h.ns, BRIDGE)).toBeUndefined();
    });

    it('the firewall tools missing, met last: the veth, the reservation and the new bridge are undone', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const add = run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0'), {
        wrapper: withoutFirewallTools(),
        env: IN_PROCESS,
      });
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 5, msg: expect.stringMatching(/firewall backend/) });
      expect(interfacesIn(c)).toEqual(['lo']);
      expectNothingLeft(h);
      expect(link(h.ns, BRIDGE)).toBeUndefined();
    });

    it("the runtime's DEL after an ADD that failed on a taken ifname leaves that interface alone", async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      netns.exec(c, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
      netns.exec(c, ['ip', 'address', 'add', '192.168.5.5/24', 'dev', 'eth0']);
      const config = bridgeConf(h, '1.1.0');
      expect(run(h, 'ADD', { id: 'ctr1', netns: c.path }, config).code).toBe(1);
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL after the failed ADD');
      expect(interfacesIn(c).sort()).toEqual(['eth0', 'lo', 'peer0']);
      expect(addressesOf(c, 'eth0')).toEqual(['192.168.5.5/24']);
      expectNothingLeft(h);
    });

    it('a netns that does not exist: code 3 naming it, nothing reserved', async () => {
      const h = await netns.host();
      const missing = `/run/netns/bt-${process.pid}-no-such-netns`;
      const add = run(h, 'ADD', { id: 'ctr1', netns: missing }, bridgeConf(h, '1.1.0'));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 3, msg: `network namespace ${missing} does not exist` });
      expectNothingLeft(h);
      expect(link(h.ns, BRIDGE)).toBeUndefined();
    });

    it('a bridge name taken by a veth: code 7 naming it, the veth untouched', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      netns.exec(h.ns, ['ip', 'link', 'add', BRIDGE, 'type', 'veth', 'peer', 'name', 'squat1']);
      const add = run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0'));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 7, msg: `${BRIDGE} exists but is a veth link, not a bridge` });
      expect(interfacesIn(c)).toEqual(['lo']);
      expect(vethsOf(h.ns).sort()).toEqual([BRIDGE, 'squat1']);
      expect(addressesOf(h.ns, BRIDGE)).toEqual([]);
      expect(reservations(h)).toEqual({});
      expect(records(h)).toEqual([]);
    });

    it('a bridge holding another IPv4 address: code 7 without forceAddress, replaced with it', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      netns.exec(h.ns, ['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
      netns.exec(h.ns, ['ip', 'address', 'add', '10.99.0.1/24', 'dev', BRIDGE]);
      const add = run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0'));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({
        code: 7,
        msg: `bridge ${BRIDGE} already has the address 10.99.0.1/24, not ${GW}/24`,
        details: expect.stringContaining('forceAddress'),
      });
      expect(interfacesIn(c)).toEqual(['lo']);
      expectNothingLeft(h);
      expect(addressesOf(h.ns, BRIDGE)).toEqual(['10.99.0.1/24']);

      addOk(h, { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0', { forceAddress: true }));
      expect(addressesOf(h.ns, BRIDGE)).toEqual([`${GW}/24`]);
      ping(c, GW);
    });
  });

  // --- 4. GC ---

  describe('GC', () => {
    it.each(['cni.dev/valid-attachments', 'cni.dev/attachments'])(
      'with %s listing one of two containers: the other loses its reservation and its rules',
      async (key) => {
        const h = await netns.host();
        const c1 = await netns.create('c1');
        const c2 = await netns.create('c2');
        const config = bridgeConf(h, '1.1.0');
        addOk(h, { id: 'ctr1', netns: c1.path }, config);
        addOk(h, { id: 'ctr2', netns: c2.path }, config);
        expect(records(h)).toHaveLength(2);

        const gc = run(h, 'GC', { id: '' }, { ...config, [key]: [{ containerID: 'ctr1', ifname: 'eth0' }] });
        expectOk(gc, 'GC');
        expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1' });
        expect(masquerade(h)).toEqual(masqOf('10.77.0.2'));
        expect(records(h)).toHaveLength(1);
        expect(gc.stderr).toContain('ctr2');

        // The kept container still checks out, and a second GC changes nothing.
        expectOk(run(h, 'GC', { id: '' }, { ...config, [key]: [{ containerID: 'ctr1', ifname: 'eth0' }] }), 'GC');
        expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1' });
        expect(masquerade(h)).toEqual(masqOf('10.77.0.2'));
      },
    );

    it('with host-local, which has no GC: the firewall rules are collected, the reservations stay', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const config = bridgeConf(h, '1.1.0', {}, { type: 'host-local' });
      addOk(h, { id: 'ctr1', netns: c1.path }, config);
      addOk(h, { id: 'ctr2', netns: c2.path }, config);
      const gc = run(
        h,
        'GC',
        { id: '' },
        { ...config, 'cni.dev/valid-attachments': [{ containerID: 'ctr1', ifname: 'eth0' }] },
      );
      expectOk(gc, 'GC');
      expect(masquerade(h)).toEqual(masqOf('10.77.0.2'));
      expect(records(h)).toHaveLength(1);
      expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1', '10.77.0.3': 'ctr2' });
    });

    it('on a host where berth never ran succeeds and creates nothing', async () => {
      const h = await netns.host();
      expectOk(run(h, 'GC', { id: '' }, { ...bridgeConf(h, '1.1.0'), 'cni.dev/valid-attachments': [] }), 'GC');
      expect(existsSync(h.stateDir)).toBe(false);
      expect(existsSync(h.dataDir)).toBe(false);
    });

    it('leaves the records of other networks in the same state dir alone', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const config = bridgeConf(h, '1.1.0');
      const other = { ...bridgeConf(h, '1.1.0'), name: 'bt-other' };
      addOk(h, { id: 'ctr1', netns: c1.path }, config);
      addOk(h, { id: 'ctr1', netns: c2.path }, other);
      expectOk(run(h, 'GC', { id: '' }, { ...config, 'cni.dev/valid-attachments': [] }), 'GC');
      expect(reservations(h)).toEqual({});
      expect(reservations(h, 'bt-other')).toEqual({ '10.77.0.2': 'ctr1' });
      expect(records(h)).toHaveLength(1);
    });
  });

  // --- 5. STATUS ---

  describe('STATUS', () => {
    it('is 0 on a usable host and range', async () => {
      const h = await netns.host();
      expectOk(run(h, 'STATUS', { id: '' }, bridgeConf(h, '1.1.0')), 'STATUS');
      expectOk(run(h, 'STATUS', { id: '' }, bridgeConf(h, '1.1.0', { ipMasqBackend: 'iptables' })), 'STATUS');
    });

    it.each([{}, { ipMasqBackend: 'nftables' }, { ipMasqBackend: 'iptables' }])(
      'is 50 when the firewall tools are missing (%j)',
      async (extra) => {
        const h = await netns.host();
        const status = run(h, 'STATUS', { id: '' }, bridgeConf(h, '1.1.0', extra), {
          wrapper: withoutFirewallTools(),
          env: IN_PROCESS,
        });
        expect(status.code, status.stderr).toBe(1);
        expect(status.json).toMatchObject({
          code: 50,
          msg: expect.stringContaining('the firewall berth-bridge needs for ipMasq is not usable'),
        });
        // Without ipMasq nothing needs a firewall.
        const plain = run(h, 'STATUS', { id: '' }, bridgeConf(h, '1.1.0', { ...extra, ipMasq: false }), {
          wrapper: withoutFirewallTools(),
          env: IN_PROCESS,
        });
        expectOk(plain, 'STATUS without ipMasq');
      },
    );

    it('is 0 with host-local, which has no STATUS, at 1.1.0 (it is not asked)', async () => {
      const h = await netns.host();
      expectOk(run(h, 'STATUS', { id: '' }, bridgeConf(h, '1.1.0', {}, { type: 'host-local' })), 'STATUS');
    });

    it('is 50 when the range is exhausted, and 0 again once an address is free', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const config = bridgeConf(h, '1.1.0', {}, { ranges: [[{ subnet: '10.77.0.0/30' }]] });
      expectOk(run(h, 'STATUS', { id: '' }, config), 'STATUS before');
      addOk(h, { id: 'ctr1', netns: c.path }, config);
      const status = run(h, 'STATUS', { id: '' }, config);
      expect(status.code).toBe(1);
      expect(status.json).toMatchObject({ code: 50, msg: expect.stringContaining('has no free address') });
      expectOk(run(h, 'DEL', { id: 'ctr1', netns: c.path }, config), 'DEL');
      expectOk(run(h, 'STATUS', { id: '' }, config), 'STATUS after');
    });
  });

  // --- 6. bad input ---

  describe('bad input: the code, a message naming the value, nothing made', () => {
    const cases: [string, (h: TestHost, c: TestNs) => ProcessRun, number, string][] = [
      [
        'unsupported vlan',
        (h, c) => run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0', { vlan: 100 })),
        2,
        'berth-bridge does not support "vlan" (100)',
      ],
      [
        'bad mtu',
        (h, c) => run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0', { mtu: 20 })),
        7,
        'invalid "mtu" 20',
      ],
      [
        'bad MAC in runtimeConfig',
        (h, c) =>
          run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0', { runtimeConfig: { mac: 'zz:00' } })),
        7,
        'invalid MAC address "zz:00" in runtimeConfig.mac',
      ],
      [
        'bad CNI_IFNAME',
        (h, c) => run(h, 'ADD', { id: 'ctr1', netns: c.path, ifname: 'eth/0' }, bridgeConf(h, '1.1.0')),
        4,
        'CNI_IFNAME "eth/0" contains "/"',
      ],
      [
        'missing CNI_COMMAND',
        (h, c) => run(h, '', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0')),
        4,
        'CNI_COMMAND is not set',
      ],
      [
        'undecodable JSON',
        (h, c) => run(h, 'ADD', { id: 'ctr1', netns: c.path }, '{"cniVersion": "1.1.0", "name": '),
        6,
        'network configuration on stdin is not valid JSON: expected a value at line 1 column 33',
      ],
      ['cniVersion 0.2.0', (h, c) => run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '0.2.0')), 1, '0.2.0'],
      [
        'IPAM type not in CNI_PATH',
        (h, c) => run(h, 'ADD', { id: 'ctr1', netns: c.path }, bridgeConf(h, '1.1.0', {}, { type: 'bt-no-such-ipam' })),
        7,
        'no plugin "bt-no-such-ipam" in CNI_PATH',
      ],
    ];

    it.each(cases)('%s', async (_, call, code, msg) => {
      const h = await netns.host();
      const c = await netns.create('c');
      const r = call(h, c);
      expect(r.code).toBe(1);
      expect(r.json).toMatchObject({ code, msg: expect.stringContaining(msg) });
      expect(links(h.ns).map((l) => l.ifname)).toEqual(['lo']);
      expect(interfacesIn(c)).toEqual(['lo']);
      expect(reservations(h)).toEqual({});
      expect(records(h)).toEqual([]);
    });
  });

  // --- 7 and 8. through libcni ---

  describe('through libcni (cnitool)', () => {
    beforeAll(() => {
      cnitool();
    }, 10 * 60_000);

    function workspace(): CniWorkspace {
      const ws = new CniWorkspace('bridge');
      workspaces.push(ws);
      return ws;
    }

    /** A Node HTTP server on port 80 inside ns; resolves once it listens. */
    async function serveHttp(ns: TestNs, body: string): Promise<void> {
      const code = `require('node:http').createServer((q, s) => s.end(${JSON.stringify(body)})).listen(80, '0.0.0.0', () => console.log('ready'));`;
      await serveInNetns(ns.path, code, servers);
    }

    /** A third netns playing an outside client, linked to the host by a veth: 192.168.77.2 -> host 192.168.77.1. */
    async function outsideClient(h: TestHost): Promise<TestNs> {
      const out = await netns.create('out');
      netns.exec(h.ns, ['ip', 'link', 'add', UPLINK, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out.name]);
      netns.exec(h.ns, ['ip', 'address', 'add', '192.168.77.1/24', 'dev', UPLINK]);
      netns.exec(h.ns, ['ip', 'link', 'set', UPLINK, 'up']);
      netns.exec(out, ['ip', 'address', 'add', '192.168.77.2/24', 'dev', 'eth0']);
      netns.exec(out, ['ip', 'link', 'set', 'eth0', 'up']);
      return out;
    }

    const cniChains = (h: TestHost) =>
      netns
        .exec(h.ns, ['iptables-save', '-t', 'nat'])
        .split('\n')
        .filter((l) => /^:CNI-DN-/.test(l) || / -j CNI-DN-/.test(l));

    it('berth-bridge + reference portmap + berth-loopback: ADD, CHECK, traffic, a published port, DEL', async () => {
      const h = await netns.host();
      const c1 = await netns.create('c1');
      const c2 = await netns.create('c2');
      const out = await outsideClient(h);
      const ws = workspace();
      const network = NET;
      // libcni here speaks up to 1.0.0.
      const { cniVersion: _, name: __, ...bridgePlugin } = bridgeConf(h, '1.0.0');
      ws.writeConflist({
        cniVersion: '1.0.0',
        name: network,
        plugins: [
          bridgePlugin,
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          { type: 'berth-loopback' },
        ],
      });
      const opts = (id: string, more: Omit<RunOptions, 'hostNetns'> & { capArgs?: Json } = {}) =>
        ws.options({ containerId: id, hostNetns: h.ns.path, ...more });
      const ports = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] };

      const add1 = runCnitool('add', network, c1.path, opts('ctr1', { capArgs: ports }));
      expect(add1.code, add1.stdout + add1.stderr).toBe(0);
      expect(add1.json).toMatchObject({
        cniVersion: '1.0.0',
        ips: [{ address: '10.77.0.2/24', gateway: GW, interface: 2 }],
        interfaces: [{ name: BRIDGE }, { name: hostVethName(NET, 'ctr1', 'eth0') }, { name: 'eth0', sandbox: c1.path }],
      });
      const add2 = runCnitool('add', network, c2.path, opts('ctr2'));
      expect(add2.code, add2.stdout + add2.stderr).toBe(0);

      // CHECK through the whole chain: the container without published ports passes. With ports,
      // Debian's portmap 1.1.1 looks for ip6tables rules of an IPv4-only container and fails
      // (containernetworking/plugins#819, fixed upstream later), so berth-bridge's own CHECK of
      // that container is run directly on libcni's result.
      const check2 = runCnitool('check', network, c2.path, opts('ctr2'));
      expect([check2.code, check2.stdout], check2.stderr).toEqual([0, '']);
      const check1 = runCnitool('check', network, c1.path, opts('ctr1', { capArgs: ports }));
      if (check1.code !== 0) expect(check1.json).toMatchObject({ msg: expect.stringContaining('ipv6 dnat') });
      const direct = run(
        h,
        'CHECK',
        { id: 'ctr1', netns: c1.path },
        { ...bridgeConf(h, '1.0.0'), prevResult: add1.json },
      );
      expectOk(direct, 'CHECK of ctr1 by berth-bridge');

      // The loopback plugin ran as the last of the chain: lo is up inside.
      expect(link(c1, 'lo')!.flags).toContain('UP');
      ping(c1, '10.77.0.3');
      ping(c2, '10.77.0.2');

      await serveHttp(c1, 'hello from ctr1');
      expect(cniChains(h).length).toBeGreaterThan(0);
      const got = netns.exec(out, ['curl', '-sS', '--max-time', '5', 'http://192.168.77.1:8080/']);
      expect(got).toBe('hello from ctr1');
      // The other container reaches it through the host's address too, and so does the container itself
      // (hairpin: portmap's SNAT makes the answer come back the way the request went).
      expect(netns.exec(c2, ['curl', '-sS', '--max-time', '5', 'http://192.168.77.1:8080/'])).toBe('hello from ctr1');
      expect(netns.exec(c1, ['curl', '-sS', '--max-time', '5', 'http://192.168.77.1:8080/'])).toBe('hello from ctr1');

      for (const [id, ns, more] of [
        ['ctr1', c1, { capArgs: ports }],
        ['ctr2', c2, {}],
      ] as const) {
        const del = runCnitool('del', network, ns.path, opts(id, more));
        expect([id, del.code, del.stdout], del.stderr).toEqual([id, 0, '']);
      }
      expectNothingLeft(h);
      expect(cniChains(h)).toEqual([]);
      expect(interfacesIn(c1)).toEqual(['lo']);
      // A second DEL through libcni, from the cache, still succeeds.
      const again = runCnitool('del', network, c1.path, opts('ctr1', { capArgs: ports }));
      expect([again.code, again.stdout], again.stderr).toEqual([0, '']);
    });

    it('the reference bridge with berth-ipam as its IPAM: ADD, CHECK, DEL', async () => {
      const h = await netns.host();
      const c = await netns.create('c');
      const ws = workspace();
      ws.writeConflist({
        cniVersion: '1.0.0',
        name: NET,
        plugins: [
          {
            type: 'bridge',
            bridge: 'refbr0',
            isGateway: true,
            ipam: {
              type: 'berth-ipam',
              dataDir: h.dataDir,
              ranges: [[{ subnet: SUBNET }]],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
        ],
      });
      const o = ws.options({ containerId: 'ctr1', hostNetns: h.ns.path });
      const add = runCnitool('add', NET, c.path, o);
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json).toMatchObject({ ips: [{ address: '10.77.0.2/24', gateway: GW }] });
      expect(addressesOf(c, 'eth0')).toEqual(['10.77.0.2/24']);
      expect(addressesOf(h.ns, 'refbr0')).toEqual([`${GW}/24`]);
      expect(reservations(h)).toEqual({ '10.77.0.2': 'ctr1' });
      ping(c, GW);

      const check = runCnitool('check', NET, c.path, o);
      expect([check.code, check.stdout], check.stderr).toEqual([0, '']);
      const del = runCnitool('del', NET, c.path, o);
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
      expect(reservations(h)).toEqual({});
      expect(interfacesIn(c)).toEqual(['lo']);
    });
  });
});
