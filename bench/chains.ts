import { join } from 'node:path';

/** One network of plugins run through cnitool; berth's come from a snapshot of dist/cni, the reference ones from /usr/lib/cni. */
export interface Chain {
  /** Short, [a-z0-9-]: part of namespace and directory names. */
  readonly id: string;
  /** How the rows name it. */
  readonly label: string;
  readonly source: 'berth' | 'reference';
  /** The conflist, with its state and IPAM data under dir. */
  readonly conflist: (dir: string) => { readonly plugins: readonly Readonly<Record<string, unknown>>[] };
}

export const SUBNET = '10.99.0.0/16';

/** The same network for every chain, podman's defaults: a gateway on the bridge, masquerade, a default route. */
const bridgeKeys = { bridge: 'bbr0', isGateway: true, ipMasq: true };
const ipamKeys = { ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }] };
const portMappings = { capabilities: { portMappings: true } };
const berthIpam = (dir: string) => ({ type: 'berth-ipam', dataDir: join(dir, 'ipam'), ...ipamKeys });
const hostLocal = (dir: string) => ({ type: 'host-local', dataDir: join(dir, 'ipam'), ...ipamKeys });
const conflist = (...plugins: Record<string, unknown>[]) => ({ cniVersion: '1.0.0', name: 'bench', plugins });
/** berth's all-in-one plugin, lo included, with more keys. */
const allInOne = (dir: string, more: Record<string, unknown> = {}) =>
  conflist({
    type: 'berth',
    ...bridgeKeys,
    loopback: true,
    stateDir: join(dir, 'state'),
    ipam: berthIpam(dir),
    ...more,
  });

/** Bridge, IPAM and loopback, no published ports: berth's chain and the reference one. */
export const BRIDGE_CHAINS: readonly Chain[] = [
  {
    id: 'berth',
    label: 'berth',
    source: 'berth',
    conflist: (dir) =>
      conflist(
        { type: 'berth-bridge', ...bridgeKeys, stateDir: join(dir, 'state'), ipam: berthIpam(dir) },
        { type: 'berth-loopback' },
      ),
  },
  {
    id: 'berth-lo',
    label: 'berth-bridge with loopback: true',
    source: 'berth',
    conflist: (dir) =>
      conflist({
        type: 'berth-bridge',
        ...bridgeKeys,
        loopback: true,
        stateDir: join(dir, 'state'),
        ipam: berthIpam(dir),
      }),
  },
  {
    id: 'reference',
    label: 'reference',
    source: 'reference',
    conflist: (dir) => conflist({ type: 'bridge', ...bridgeKeys, ipam: hostLocal(dir) }, { type: 'loopback' }),
  },
];

/** The all-in-one plugin (lo too), with published ports. */
export const ALL_IN_ONE: Chain = {
  id: 'aio',
  label: 'berth all-in-one',
  source: 'berth',
  conflist: (dir) => allInOne(dir, portMappings),
};

/** berth's chain of four: berth-bridge with berth-ipam, berth-portmap, berth-loopback. */
export const BERTH_CHAIN: Chain = {
  id: 'chain',
  label: 'berth chain',
  source: 'berth',
  conflist: (dir) =>
    conflist(
      { type: 'berth-bridge', ...bridgeKeys, stateDir: join(dir, 'state'), ipam: berthIpam(dir) },
      { type: 'berth-portmap', ...portMappings, stateDir: join(dir, 'state') },
      { type: 'berth-loopback' },
    ),
};

/** The reference chain: bridge with host-local, portmap, loopback. */
export const REFERENCE_CHAIN: Chain = {
  id: 'ref',
  label: 'reference',
  source: 'reference',
  conflist: (dir) =>
    conflist(
      { type: 'bridge', ...bridgeKeys, ipam: hostLocal(dir) },
      { type: 'portmap', ...portMappings },
      { type: 'loopback' },
    ),
};

/** The same network with published ports: berth in one process, berth's chain, the reference chain. */
export const PORT_CHAINS: readonly Chain[] = [ALL_IN_ONE, BERTH_CHAIN, REFERENCE_CHAIN];

/** Both directions limited, with the reference plugin's keys, in the config (no capability: the bench gives no CAP_ARGS for it). */
const limits = { ingressRate: 100_000_000, ingressBurst: 1_000_000, egressRate: 100_000_000, egressBurst: 1_000_000 };

/**
 * The same network with both directions of every container limited: berth in one process, with and
 * without the limits (what the shaping step adds), berth's chain, and the reference chain with its
 * bandwidth plugin.
 */
export const BANDWIDTH_CHAINS: readonly Chain[] = [
  {
    id: 'aio',
    label: 'berth all-in-one, no limits',
    source: 'berth',
    conflist: (dir) => allInOne(dir),
  },
  {
    id: 'aio-bw',
    label: 'berth all-in-one',
    source: 'berth',
    conflist: (dir) => allInOne(dir, limits),
  },
  {
    id: 'chain-bw',
    label: 'berth chain',
    source: 'berth',
    conflist: (dir) =>
      conflist(
        { type: 'berth-bridge', ...bridgeKeys, loopback: true, stateDir: join(dir, 'state'), ipam: berthIpam(dir) },
        { type: 'berth-bandwidth', ...limits },
      ),
  },
  {
    id: 'ref-bw',
    label: 'reference',
    source: 'reference',
    conflist: (dir) =>
      conflist(
        { type: 'bridge', ...bridgeKeys, ipam: hostLocal(dir) },
        { type: 'bandwidth', ...limits },
        { type: 'loopback' },
      ),
  },
];

/** The plugins libcni runs (one process each per call), in order. */
export const pluginsOf = (c: Chain): string[] => c.conflist('').plugins.map((p) => String(p.type));

/** Every executable the chain needs in its CNI_PATH, delegated IPAM included. */
export function executablesOf(c: Chain): string[] {
  return c.conflist('').plugins.flatMap((p) => {
    const ipam = p.ipam as { type?: unknown } | undefined;
    return [String(p.type), ...(typeof ipam?.type === 'string' ? [ipam.type] : [])];
  });
}
