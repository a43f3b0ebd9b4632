import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteNamedNetns } from '../../netlink/netns.js';
import { CniWorkspace, cnitool, REFERENCE_CNI, runCnitool, runPlugin } from '../helpers/cni.js';
import type { IpAddr, IpLink } from '../helpers/ip-json.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const EXE = 'berth-loopback';
const conf = (cniVersion: string, extra: Record<string, unknown> = {}) => ({
  cniVersion,
  name: 'lo-net',
  type: 'loopback',
  ...extra,
});

/** What berth-loopback answers for lo in ns, in the shape of each version. */
function expectedResult(cniVersion: string, sandbox: string) {
  const withFamily = cniVersion.startsWith('0.');
  return {
    cniVersion,
    interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox }],
    ips: [
      { ...(withFamily ? { version: '4' } : {}), address: '127.0.0.1/8', interface: 0 },
      { ...(withFamily ? { version: '6' } : {}), address: '::1/128', interface: 0 },
    ],
  };
}

describe.skipIf(notRoot)(kernelSuite('berth-loopback in throwaway namespaces'), () => {
  const netns = new TestNetns();
  const workspaces: CniWorkspace[] = [];
  beforeAll(() => TestNetns.removeStale());
  afterEach(() => {
    for (const ws of workspaces.splice(0)) ws.remove();
    netns.cleanup();
  });
  afterAll(() => netns.cleanup());

  const loFlags = (ns: TestNs) => netns.ipJson<IpLink[]>(ns, ['link', 'show', 'lo'])[0]!.flags;
  const loAddresses = (ns: TestNs) =>
    netns
      .ipJson<IpAddr[]>(ns, ['address', 'show', 'lo'])[0]!
      .addr_info.map((a) => `${a.local}/${a.prefixlen}`)
      .sort();

  /** A new namespace with lo down, as a runtime hands it to the first plugin. */
  async function freshNetns(label: string): Promise<TestNs> {
    const ns = await netns.create(label);
    await netns.handle(ns).setLinkDown('lo');
    expect(loFlags(ns)).not.toContain('UP');
    return ns;
  }

  describe('run directly', () => {
    it.each(['1.1.0', '1.0.0', '0.4.0', '0.3.1'])(
      'ADD (%s) sets lo up with 127.0.0.1 and ::1, which answer, and reports them',
      async (cniVersion) => {
        const ns = await freshNetns('add');
        const add = runPlugin(EXE, { command: 'ADD', netns: ns.path }, conf(cniVersion));
        expect(add.stderr).toBe('');
        expect(add.code).toBe(0);
        expect(add.json).toEqual(expectedResult(cniVersion, ns.path));

        expect(loFlags(ns)).toContain('UP');
        expect(loAddresses(ns)).toEqual(['127.0.0.1/8', '::1/128']);
        netns.exec(ns, ['ping', '-c1', '-W2', '127.0.0.1']);
        netns.exec(ns, ['ping', '-6', '-c1', '-W2', '::1']);
      },
    );

    it('ADD passes a prevResult through in the config version', async () => {
      const ns = await freshNetns('prev');
      const prevResult = {
        cniVersion: '0.4.0',
        interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: ns.path }],
        ips: [{ version: '4', address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
        routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
      };
      const add = runPlugin(EXE, { command: 'ADD', netns: ns.path }, conf('1.0.0', { prevResult }));
      expect(add.code).toBe(0);
      expect(add.json).toEqual({
        cniVersion: '1.0.0',
        interfaces: prevResult.interfaces,
        ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
        routes: prevResult.routes,
      });
      expect(loFlags(ns)).toContain('UP');
    });

    it('ADD refuses lo with a non-loopback address, as the reference does', async () => {
      const ns = await freshNetns('foreign');
      await netns.handle(ns).addAddress('lo', '10.99.0.1/32');
      const add = runPlugin(EXE, { command: 'ADD', netns: ns.path }, conf('1.0.0'));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 999, msg: `lo in ${ns.path} has the non-loopback address 10.99.0.1/32` });
      const reference = runPlugin(join(REFERENCE_CNI, 'loopback'), { command: 'ADD', netns: ns.path }, conf('1.0.0'));
      expect(reference.code).toBe(1);
      expect(reference.json).toMatchObject({ msg: expect.stringContaining('non-loopback address') });
    });

    it('CHECK passes while lo is up and fails once it is down', async () => {
      const ns = await freshNetns('check');
      const add = runPlugin(EXE, { command: 'ADD', netns: ns.path }, conf('1.1.0'));
      expect(add.code).toBe(0);
      const checkConf = conf('1.1.0', { prevResult: add.json });

      const ok = runPlugin(EXE, { command: 'CHECK', netns: ns.path }, checkConf);
      expect([ok.code, ok.stdout]).toEqual([0, '']);

      await netns.handle(ns).setLinkDown('lo');
      const bad = runPlugin(EXE, { command: 'CHECK', netns: ns.path }, checkConf);
      expect(bad.code).toBe(1);
      expect(bad.json).toEqual({
        cniVersion: '1.1.0',
        code: 999,
        msg: `lo in ${ns.path} is down`,
        details: expect.any(String),
      });
    });

    it('DEL sets lo down, and a second DEL succeeds too', async () => {
      const ns = await freshNetns('del');
      expect(runPlugin(EXE, { command: 'ADD', netns: ns.path }, conf('1.1.0')).code).toBe(0);
      for (const n of [1, 2]) {
        const del = runPlugin(EXE, { command: 'DEL', netns: ns.path }, conf('1.1.0'));
        expect([n, del.code, del.stdout]).toEqual([n, 0, '']);
        expect(loFlags(ns)).not.toContain('UP');
      }
    });

    it('DEL of a netns that no longer exists succeeds; ADD and CHECK there fail with code 3', async () => {
      const ns = await netns.create('gone');
      deleteNamedNetns(ns.path);
      const del = runPlugin(EXE, { command: 'DEL', netns: ns.path }, conf('1.1.0'));
      expect([del.code, del.stdout]).toEqual([0, '']);
      expect(del.stderr).toContain(`${ns.path} is gone`);

      const add = runPlugin(EXE, { command: 'ADD', netns: ns.path }, conf('1.1.0'));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 3, msg: `network namespace ${ns.path} does not exist` });
      const check = runPlugin(EXE, { command: 'CHECK', netns: ns.path }, conf('1.1.0', { prevResult: {} }));
      expect(check.json).toMatchObject({ code: 3 });
    });

    it('DEL of a path that is no netns any more (a leftover plain file) succeeds; ADD there is code 4', () => {
      const ws = new CniWorkspace('lo');
      workspaces.push(ws);
      const leftover = join(ws.dir, 'netns-leftover');
      writeFileSync(leftover, '');
      expect(runPlugin(EXE, { command: 'DEL', netns: leftover }, conf('1.1.0')).code).toBe(0);
      const add = runPlugin(EXE, { command: 'ADD', netns: leftover }, conf('1.1.0'));
      expect(add.json).toMatchObject({ code: 4, msg: `CNI_NETNS ${leftover} is not a network namespace` });
    });

    it('DEL without CNI_NETNS succeeds; ADD without it is code 4', () => {
      const del = runPlugin(EXE, { command: 'DEL' }, conf('1.1.0'));
      expect([del.code, del.stdout]).toEqual([0, '']);
      const add = runPlugin(EXE, { command: 'ADD' }, conf('1.1.0'));
      expect(add.json).toMatchObject({ code: 4, msg: 'missing environment variable CNI_NETNS for ADD' });
    });

    it('VERSION lists the supported versions and answers in the config version', () => {
      const v = runPlugin(EXE, { command: 'VERSION' }, conf('1.1.0'));
      expect(v.code).toBe(0);
      expect(v.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
      expect(runPlugin(EXE, { command: 'VERSION' }, conf('0.4.0')).json).toMatchObject({ cniVersion: '0.4.0' });
    });
  });

  describe('same answers as the reference loopback', () => {
    const REFERENCE = join(REFERENCE_CNI, 'loopback');
    /**
     * Two differences are the reference's and are left out of the comparison:
     * it prints its own lo result at 0.3.x/0.4.0 without `ips[].version`, which
     * those versions' results carry (berth writes it; the direct ADD tests
     * check that), and Go prints an empty `"dns": {}` where berth leaves the
     * optional key out.
     */
    const normalize = (json: unknown, ownResult: boolean) => {
      const { dns, ips, ...rest } = json as { dns?: object; ips?: { version?: string }[] };
      return {
        ...rest,
        ...(ips ? { ips: ownResult ? ips.map(({ version: _, ...ip }) => ip) : ips } : {}),
        ...(dns && Object.keys(dns).length > 0 ? { dns } : {}),
      };
    };
    // The reference reads a prevResult only in the config's own version, as the spec has it.
    const prevResult = (cniVersion: string) => ({
      cniVersion,
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }],
      ips: [
        {
          ...(cniVersion.startsWith('0.') ? { version: '4' } : {}),
          address: '10.88.0.5/16',
          gateway: '10.88.0.1',
          interface: 0,
        },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
      dns: { nameservers: ['10.88.0.1'] },
    });

    // The reference (Debian's 1.1.1) speaks up to 1.0.0.
    it.each([
      ['1.0.0', false],
      ['0.4.0', false],
      ['0.3.1', false],
      ['1.0.0', true],
      ['0.3.1', true],
    ])('ADD %s (prevResult: %s), then DEL, give the same output and the same lo', async (cniVersion, chained) => {
      const config = conf(cniVersion, chained ? { prevResult: prevResult(cniVersion) } : {});
      const runs = [];
      for (const exe of [EXE, REFERENCE]) {
        const ns = await freshNetns('ref');
        const add = runPlugin(exe, { command: 'ADD', netns: ns.path }, config);
        expect([exe, add.code]).toEqual([exe, 0]);
        const afterAdd = { flags: loFlags(ns).includes('UP'), addresses: loAddresses(ns) };
        const del = runPlugin(exe, { command: 'DEL', netns: ns.path }, config);
        expect([exe, del.code, del.stdout]).toEqual([exe, 0, '']);
        // The sandbox path differs between the two namespaces; the rest must not.
        const json = JSON.parse(JSON.stringify(normalize(add.json, !chained)).replaceAll(ns.path, '<netns>'));
        runs.push({ json, afterAdd, afterDelUp: loFlags(ns).includes('UP') });
      }
      expect(runs[0]).toEqual(runs[1]);
      expect(runs[0]!.afterAdd).toEqual({ flags: true, addresses: ['127.0.0.1/8', '::1/128'] });
    });
  });

  describe('through libcni (cnitool)', () => {
    beforeAll(() => {
      cnitool();
    }, 10 * 60_000);

    function workspace(): { ws: CniWorkspace; network: string } {
      const ws = new CniWorkspace('lo');
      workspaces.push(ws);
      const network = `berth-lo-${process.pid}`;
      // libcni here speaks up to 1.0.0.
      ws.writeConflist({ cniVersion: '1.0.0', name: network, plugins: [{ type: EXE }] });
      return { ws, network };
    }

    it('ADD, CHECK and DEL a conflist of just berth-loopback', async () => {
      const ns = await freshNetns('tool');
      const { ws, network } = workspace();

      const add = runCnitool('add', network, ns.path, ws.options());
      expect(add.code, add.stderr).toBe(0);
      // cnitool prints libcni's re-encoding of the result, in which Go writes the empty dns.
      expect(add.json).toEqual({ ...expectedResult('1.0.0', ns.path), dns: {} });
      expect(loFlags(ns)).toContain('UP');

      const check = runCnitool('check', network, ns.path, ws.options());
      expect([check.code, check.stdout], check.stderr).toEqual([0, '']);

      const del = runCnitool('del', network, ns.path, ws.options());
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
      expect(loFlags(ns)).not.toContain('UP');
    });

    it('CHECK reports lo down as a well-formed CNI error', async () => {
      const ns = await freshNetns('tool');
      const { ws, network } = workspace();
      expect(runCnitool('add', network, ns.path, ws.options()).code).toBe(0);
      await netns.handle(ns).setLinkDown('lo');

      const check = runCnitool('check', network, ns.path, ws.options());
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ code: 999, msg: `lo in ${ns.path} is down` });
      const failure = JSON.parse(check.stderr.split('\n').find((l) => l.includes('"pluginFailure"')) ?? '{}');
      expect(failure).toMatchObject({ command: 'CHECK', exitCode: 1, strict: true });
    });

    it('DEL after the netns is gone succeeds', async () => {
      const ns = await freshNetns('tool');
      const { ws, network } = workspace();
      expect(runCnitool('add', network, ns.path, ws.options()).code).toBe(0);
      deleteNamedNetns(ns.path);
      const del = runCnitool('del', network, ns.path, ws.options());
      expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
    });

    it('VERSION through libcni', () => {
      const { ws } = workspace();
      const v = runCnitool('version', EXE, '', ws.options());
      expect(v.code, v.stderr).toBe(0);
      expect(v.json).toEqual({ supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    });
  });
});
