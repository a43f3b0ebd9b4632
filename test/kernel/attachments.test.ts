/**
 * One kind of attachment record: a container that a runtime attaches through berth-bridge (as
 * podman or containerd would), with the state dir the library uses, is an endpoint of its CNI
 * network that the library, `berth inspect`, `berth doctor` and `berth gc` see beside the
 * library's own sandboxes; its DEL removes the record. A netns playing the host and the
 * containers' namespaces are made per test and removed in afterEach.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteNamedNetns, NETNS_DIR } from '../../netlink/netns.js';
import { Controller } from '../../network/controller.js';
import type { EndpointRecord } from '../../network/model.js';
import { hostVethName } from '../../network/pipeline/cni-names.js';
import type { Topology } from '../../network/topology.js';
import { ROOT, runPlugin } from '../helpers/cni.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const BERTH = join(ROOT, 'dist', 'bin', 'berth');
const NET = 'bt-cni';
const BRIDGE = 'btcni0';
const RUN_TIMEOUT_MS = 30_000;

interface Host {
  readonly ns: TestNs;
  readonly stateDir: string;
  readonly dataDir: string;
  /** Where the library's sandboxes get their resolv.conf and hosts (not the machine's /etc/netns). */
  readonly etcNetnsDir: string;
}

describe.skipIf(notRoot)(kernelSuite('CNI attachments in the state store'), () => {
  const netns = new TestNetns();
  const dirs: string[] = [];
  const sandboxNetns: string[] = [];

  beforeAll(() => {
    TestNetns.removeStale();
    if (!existsSync(BERTH)) throw new Error(`${BERTH} does not exist: run \`node scripts/build.mjs\` (npm test does)`);
  });

  afterEach(() => {
    for (const name of sandboxNetns.splice(0)) deleteNamedNetns(name);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    netns.cleanup();
  });

  async function makeHost(): Promise<Host> {
    const ns = await netns.create('host');
    const dir = mkdtempSync(join(tmpdir(), 'berth-attachments-'));
    dirs.push(dir);
    return { ns, stateDir: join(dir, 'state'), dataDir: join(dir, 'ipam'), etcNetnsDir: join(dir, 'etc-netns') };
  }

  const conf = (h: Host) => ({
    cniVersion: '1.1.0',
    name: NET,
    type: 'berth-bridge',
    bridge: BRIDGE,
    isGateway: true,
    ipMasq: true,
    stateDir: h.stateDir,
    ipam: { type: 'berth-ipam', dataDir: h.dataDir, ranges: [[{ subnet: '10.78.0.0/24' }]] },
  });

  function plugin(h: Host, command: string, c: TestNs | undefined, id = 'ctr1') {
    return runPlugin('berth-bridge', { command, containerId: id, ...(c ? { netns: c.path } : {}) }, conf(h), {
      hostNetns: h.ns.path,
    });
  }

  function berth(h: Host, args: readonly string[]) {
    const r = spawnSync(BERTH, ['--state-dir', h.stateDir, '--host-netns', h.ns.path, ...args], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function inspect(h: Host): Topology {
    const r = berth(h, ['inspect', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Topology;
  }

  const firewallRecords = (h: Host) =>
    existsSync(join(h.stateDir, 'firewall'))
      ? readdirSync(join(h.stateDir, 'firewall')).filter((f) => f.endsWith('.json'))
      : [];
  const hostLinks = (h: Host) => netns.ipJson<{ ifname: string }[]>(h.ns, ['link', 'show']).map((l) => l.ifname);

  it('an ADD through berth-bridge is a record the library, inspect and doctor see beside a sandbox; DEL removes it', async () => {
    const h = await makeHost();
    const c = await netns.create('c');
    const add = plugin(h, 'ADD', c);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const mac = (add.json as { interfaces: { mac: string }[] }).interfaces[2]!.mac;
    const veth = hostVethName(NET, 'ctr1', 'eth0');

    // The library's own sandbox on a network of its own, in the same state dir.
    const ctl = await Controller.open({ stateDir: h.stateDir, hostNetnsPath: h.ns.path, etcNetnsDir: h.etcNetnsDir });
    const net = await ctl.createNetwork({ name: 'bt-lib', subnet: '10.79.0.0/24', bridgeName: 'btlib0' });
    const sbName = `bt-${process.pid}-att-sb`;
    sandboxNetns.push(sbName);
    const sb = await ctl.createSandbox({ name: sbName });
    const ep = await net.createEndpoint({ name: 'web' });
    await ep.join(sb);

    const attachment: EndpointRecord = {
      name: 'ctr1.eth0',
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      network: NET,
      cni: { containerId: 'ctr1', ifName: 'eth0', driver: 'bridge', bridge: BRIDGE, owner: `${NET}/ctr1/eth0` },
      createdAt: expect.any(String),
      join: { sandbox: 'ctr1', netnsPath: c.path, ifname: 'eth0', hostVeth: veth, mac, addresses: ['10.78.0.2/24'] },
    };
    expect(ctl.endpointRecords().find((e) => e.network === NET)).toEqual(attachment);
    // The library's model keeps to its own: the CNI network is not one of its networks.
    expect(ctl.networks().map((n) => n.name)).toEqual(['bt-lib']);
    expect(sb.endpoints().map((e) => e.name)).toEqual(['web']);

    const graph = inspect(h);
    expect(graph.nodes).toEqual(
      expect.arrayContaining([
        { id: `network:${NET}`, kind: 'network', name: NET, details: ['bridge', 'cni'] },
        { id: `bridge:${BRIDGE}`, kind: 'bridge', name: BRIDGE, details: [] },
        { id: 'container:ctr1', kind: 'container', name: 'ctr1', details: [c.path] },
        {
          id: `endpoint:${NET}.ctr1.eth0`,
          kind: 'endpoint',
          name: 'ctr1.eth0',
          details: ['eth0', '10.78.0.2/24', mac],
        },
        expect.objectContaining({ id: `sandbox:${sbName}`, kind: 'sandbox' }),
        expect.objectContaining({ id: 'endpoint:bt-lib.web', kind: 'endpoint' }),
      ]),
    );
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: `network:${NET}`, to: `bridge:${BRIDGE}`, kind: 'bridge' },
        { from: `endpoint:${NET}.ctr1.eth0`, to: `bridge:${BRIDGE}`, kind: 'attached', label: veth },
        { from: `endpoint:${NET}.ctr1.eth0`, to: 'container:ctr1', kind: 'joined', label: 'eth0' },
        { from: 'endpoint:bt-lib.web', to: `sandbox:${sbName}`, kind: 'joined', label: 'eth0' },
      ]),
    );
    const tree = berth(h, ['inspect']);
    expect(tree.stdout).toContain('endpoint ctr1.eth0 (eth0, 10.78.0.2/24');
    expect(tree.stdout).toContain('in container ctr1');

    const doctor = berth(h, ['doctor', '--no-kernel']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toContain(
      'records match the kernel: 1 network(s), 1 sandbox(es), 1 endpoint(s), 1 CNI attachment(s)',
    );

    const del = plugin(h, 'DEL', c);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(ctl.endpointRecords().map((e) => e.name)).toEqual(['web']);
    expect(inspect(h).nodes.filter((n) => n.kind === 'container' || n.name === NET)).toEqual([]);

    await ep.delete();
    await sb.destroy();
    await net.delete();
  });

  it('berth gc detaches an attachment whose container went without a DEL; the runtime DEL after it succeeds', async () => {
    const h = await makeHost();
    const c = await netns.create('c');
    expect(plugin(h, 'ADD', c).code).toBe(0);
    const veth = hostVethName(NET, 'ctr1', 'eth0');
    expect(hostLinks(h)).toContain(veth);
    expect(firewallRecords(h)).toHaveLength(1);

    deleteNamedNetns(c.path); // the container ends; its veth goes with its netns
    const doctor = berth(h, ['doctor', '--no-kernel', '--json']);
    expect(doctor.code).toBe(1);
    const { findings } = JSON.parse(doctor.stdout) as { findings: { message: string; severity: string }[] };
    expect(findings).toContainEqual(
      expect.objectContaining({
        severity: 'fail',
        message: `attachment ctr1/eth0 of CNI network ${NET}: its netns ${c.path} is gone`,
      }),
    );

    const gc = berth(h, ['gc']);
    expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    expect(gc.stdout).toContain(`removed: attachment ctr1/eth0 of CNI network ${NET}`);
    const ctl = await Controller.open({ stateDir: h.stateDir, hostNetnsPath: h.ns.path, etcNetnsDir: h.etcNetnsDir });
    expect(ctl.endpointRecords()).toEqual([]);
    expect(firewallRecords(h)).toEqual([]);
    expect(hostLinks(h)).not.toContain(veth);
    // The reservation is the IPAM plugin's: the runtime's DEL (or its CNI GC) releases it.
    expect(readdirSync(join(h.dataDir, NET))).toContain('10.78.0.2');
    const del = plugin(h, 'DEL', undefined);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(readdirSync(join(h.dataDir, NET))).not.toContain('10.78.0.2');
    expect(berth(h, ['doctor', '--no-kernel']).code).toBe(0);
  });

  it('a failed ADD leaves no record, and GC removes the records of attachments the runtime no longer has', async () => {
    const h = await makeHost();
    const c1 = await netns.create('c1');
    const c2 = await netns.create('c2');
    expect(plugin(h, 'ADD', c1, 'ctr1').code).toBe(0);
    expect(plugin(h, 'ADD', c2, 'ctr2').code).toBe(0);
    // The same attachment again fails (its address is held) and leaves the first record as it was.
    const again = plugin(h, 'ADD', c1, 'ctr1');
    expect(again.code).toBe(1);
    const ctl = await Controller.open({ stateDir: h.stateDir, hostNetnsPath: h.ns.path, etcNetnsDir: h.etcNetnsDir });
    expect(ctl.endpointRecords().map((e) => e.name)).toEqual(['ctr1.eth0', 'ctr2.eth0']);

    const gc = runPlugin(
      'berth-bridge',
      { command: 'GC', containerId: '' },
      { ...conf(h), 'cni.dev/valid-attachments': [{ containerID: 'ctr1', ifname: 'eth0' }] },
      { hostNetns: h.ns.path },
    );
    expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    expect(ctl.endpointRecords().map((e) => e.name)).toEqual(['ctr1.eth0']);
    expect(existsSync(join(NETNS_DIR, c2.name))).toBe(true);
  });
});
