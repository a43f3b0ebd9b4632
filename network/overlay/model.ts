/**
 * What the cluster's store (etcd) holds for overlay networks, and where. Plain
 * JSON values under one prefix:
 *
 *   <prefix>networks/<name>                 an OverlayNetwork
 *   <prefix>blocks/<name>/<ip>-<len>        a BlockHolder, attached to the holder's lease
 *   <prefix>networks-changed                touched by every network create and delete, so
 *                                           a create is one compare-and-swap against all of them
 *   <prefix>names/<name>/<node>/<owner>     a host's name record on a network with names (names.ts),
 *                                           attached to the host's lease
 */

export const DEFAULT_PREFIX = '/berth/';

/** An overlay network as every host sees it. */
export interface OverlayNetwork {
  readonly name: string;
  /** IPv4 CIDR, cut into blocks of blockPrefix. */
  readonly subnet: string;
  readonly blockPrefix: number;
  /** The VXLAN network identifier, 1 to 16777215, one per network. */
  readonly vni: number;
  /** The MTU of the sandboxes' interfaces; 0: each host's underlay MTU less VXLAN's 50 bytes. */
  readonly mtu: number;
  /** Names: each host's name service answers the names of every host's sandboxes on the network. */
  readonly dns?: { readonly domain?: string };
  readonly createdAt: string;
}

/** Who holds a block: the value of a block key. */
export interface BlockHolder {
  readonly node: string;
  /** The host's underlay address: where the others send its block's packets, VXLAN-encapsulated. */
  readonly address: string;
  /** The MAC of the host's VXLAN device on this network. */
  readonly vtepMac: string;
}

/** A held block as read from the store, with the lease that keeps it and its revision for a compare-and-swap. */
export interface HeldBlock extends BlockHolder {
  readonly network: string;
  readonly block: string;
  /** The etcd lease id, decimal. */
  readonly lease: string;
  readonly modRevision: string;
}

/** Everything under the prefix at one revision. */
export interface ClusterSnapshot {
  readonly networks: readonly OverlayNetwork[];
  readonly blocks: readonly HeldBlock[];
}

/** The keys of one prefix. */
export class ClusterKeys {
  constructor(readonly prefix = DEFAULT_PREFIX) {}

  get networks(): string {
    return `${this.prefix}networks/`;
  }
  get networksChanged(): string {
    return `${this.prefix}networks-changed`;
  }
  network(name: string): string {
    return `${this.networks}${name}`;
  }
  blocks(network?: string): string {
    return network === undefined ? `${this.prefix}blocks/` : `${this.prefix}blocks/${network}/`;
  }
  block(network: string, block: string): string {
    return `${this.blocks(network)}${block.replace('/', '-')}`;
  }

  names(network?: string): string {
    return network === undefined ? `${this.prefix}names/` : `${this.prefix}names/${network}/`;
  }
  /** The key of one node's names record on a network; `ownerKey` is ownerKeyOf(owner). */
  name(network: string, node: string, ownerKey: string): string {
    return `${this.names(network)}${node}/${ownerKey}`;
  }

  /** The network and node a name key names; undefined for any other key. */
  parseName(key: string): { network: string; node: string } | undefined {
    const m = /^([^/]+)\/([^/]+)\/([0-9a-f]+)$/.exec(
      key.startsWith(this.names()) ? key.slice(this.names().length) : '',
    );
    return m ? { network: m[1]!, node: m[2]! } : undefined;
  }

  /** The network and block a block key names; undefined for any other key. */
  parseBlock(key: string): { network: string; block: string } | undefined {
    const m = /^([^/]+)\/(\d+\.\d+\.\d+\.\d+)-(\d+)$/.exec(
      key.startsWith(this.blocks()) ? key.slice(this.blocks().length) : '',
    );
    return m ? { network: m[1]!, block: `${m[2]}/${m[3]}` } : undefined;
  }

  /** The network a network key names; undefined for any other key. */
  parseNetwork(key: string): string | undefined {
    if (!key.startsWith(this.networks)) return undefined;
    const name = key.slice(this.networks.length);
    return name && !name.includes('/') ? name : undefined;
  }
}
