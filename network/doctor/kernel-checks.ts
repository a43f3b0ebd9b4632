// doctor's kernel checks: each capability berth needs, tried in a throwaway netns (the host's ip_forward is read only).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding } from '../../base/binding.js';
import { openFirewall } from '../../iptables/index.js';
import { NetlinkHandle } from '../../netlink/handle.js';
import { NETNS_DIR } from '../../netlink/netns.js';
import { NetlinkSocket } from '../../netlink/socket.js';
import { networkRules } from '../firewall.js';
import { type Finding, fail, ok, reason } from './findings.js';

export interface KernelCheckOptions {
  /** The netns that plays the host ('' = the current one): only its ip_forward is read. */
  readonly hostNetnsPath: string;
  /** Where the throwaway netns is made. Default /run/netns. */
  readonly netnsDir?: string;
  /** The bridge networks berth has: with any, ip_forward off is a failure, else a warning. */
  readonly bridgeNetworks: readonly string[];
}

const NETLINK_NETFILTER = 12;
const CT_GET = (1 << 8) | 1; // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
const AF_INET = 2;

/**
 * Tries, in a netns of its own that is removed afterwards, each kernel feature
 * berth uses: creating a netns, a veth pair, a bridge with a port, berth's
 * firewall table with NAT and masquerade, a conntrack dump; then reads
 * ip_forward in the host netns. One finding per feature.
 */
export async function checkKernel(options: KernelCheckOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const name = `berth-doctor-${process.pid}-${randomBytes(3).toString('hex')}`;
  let netns: string;
  try {
    netns = binding().createNetns(options.netnsDir ?? NETNS_DIR, name);
    findings.push(ok('kernel', 'network namespaces: created one'));
  } catch (e) {
    findings.push(
      fail(
        'kernel',
        `cannot create a network namespace: ${reason(e)}`,
        'berth needs root and a kernel with CONFIG_NET_NS; in a container, run it privileged',
      ),
    );
    return [...findings, await checkForwarding(options)];
  }
  const recordDir = mkdtempSync(join(tmpdir(), 'berth-doctor-'));
  try {
    const h = NetlinkHandle.open(netns);
    try {
      findings.push(await checkLinks(h));
    } finally {
      h.close();
    }
    findings.push(await checkFirewall(netns, recordDir));
    findings.push(checkConntrack(netns));
  } finally {
    try {
      binding().deleteNetns(netns);
    } catch (e) {
      findings.push(
        fail('kernel', `could not remove the throwaway netns ${netns}: ${reason(e)}`, `ip netns del ${name}`),
      );
    }
    rmSync(recordDir, { recursive: true, force: true });
  }
  findings.push(await checkForwarding(options));
  return findings;
}

async function checkLinks(h: NetlinkHandle): Promise<Finding> {
  try {
    await h.createVeth('bdoc0', 'bdoc1');
  } catch (e) {
    return fail('kernel', `cannot create a veth pair: ${reason(e)}`, 'berth needs a kernel with CONFIG_VETH');
  }
  try {
    await h.createBridge('bdocbr');
    await h.setMaster('bdoc0', 'bdocbr');
    await h.setLinkUp('bdocbr');
    await h.setLinkUp('bdoc0');
  } catch (e) {
    return fail('kernel', `cannot make a bridge with a port: ${reason(e)}`, 'berth needs a kernel with CONFIG_BRIDGE');
  }
  return ok('kernel', 'veth and bridge: created a veth pair and put one end on a bridge');
}

async function checkFirewall(netns: string, recordDir: string): Promise<Finding> {
  try {
    const fw = await openFirewall({ hostNetnsPath: netns, recordDir });
    const rules = networkRules({
      name: 'doctor',
      id: 'doctor',
      driver: 'bridge',
      bridgeName: 'bdocbr',
      subnets: [{ subnet: '10.255.255.0/30', gateway: '10.255.255.1', prefixLength: 30 }],
      mtu: 1500,
      masquerade: true,
      isolate: true,
      hairpin: false,
      promiscuous: false,
      createdAt: '',
    });
    await fw.apply({ kind: 'network', id: 'doctor' }, rules);
    const problems = await fw.check({ kind: 'network', id: 'doctor' }, rules);
    if (problems.length > 0) {
      return fail(
        'kernel',
        `${fw.backend}: the rules were applied but read back different: ${problems.join('; ')}`,
        'check the nftables/iptables version (berth needs nft >= 1.0 or iptables-nft/legacy)',
      );
    }
    return ok('kernel', `${fw.backend}: applied berth's forward, isolation and masquerade rules`);
  } catch (e) {
    return fail(
      'kernel',
      `no working packet filter: ${reason(e)}`,
      'install nftables (apt-get install nftables) or iptables, and use a kernel with nf_tables or x_tables NAT',
    );
  }
}

function checkConntrack(netns: string): Finding {
  try {
    const s = NetlinkSocket.open(netns, { timeoutMs: 2000 }, NETLINK_NETFILTER);
    try {
      s.dump(
        CT_GET,
        (w) => w.raw(Buffer.from([AF_INET, 0, 0, 0])),
        () => undefined,
        'dump conntrack',
      );
    } finally {
      s.close();
    }
    return ok('kernel', 'conntrack: listed the connection table over ctnetlink');
  } catch (e) {
    return fail(
      'kernel',
      `cannot read the conntrack table over netlink: ${reason(e)}`,
      'berth flushes UDP flows of published ports over ctnetlink: use a kernel with CONFIG_NF_CT_NETLINK',
    );
  }
}

async function checkForwarding(options: KernelCheckOptions): Promise<Finding> {
  let value: string;
  try {
    const h = NetlinkHandle.open(options.hostNetnsPath);
    try {
      value = await h.getSysctl('net/ipv4/ip_forward');
    } finally {
      h.close();
    }
  } catch (e) {
    return fail('kernel', `cannot read ip_forward in the host netns: ${reason(e)}`, 'run berth doctor as root');
  }
  if (value === '1') return ok('kernel', 'ip_forward is on in the host netns');
  const fix = 'turn it on: sysctl -w net.ipv4.ip_forward=1 (berth sets it when it creates a bridge network)';
  if (options.bridgeNetworks.length > 0) {
    return fail(
      'kernel',
      `ip_forward is ${value} in the host netns: bridge networks ${options.bridgeNetworks.join(', ')} cannot route`,
      fix,
    );
  }
  return { area: 'kernel', severity: 'warn', message: `ip_forward is ${value} in the host netns`, fix };
}
