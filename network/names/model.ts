/** What the name service knows, as its records keep it (one folder per network under <stateDir>/names). */

/** One attachment's names on a network: the sandbox's name and its aliases, lower-case. */
export interface NameRecord {
  /** The attachment it belongs to: an endpoint's id, or a CNI container's ID and ifname. */
  readonly owner: string;
  readonly names: readonly string[];
  /** Without prefix. */
  readonly addresses: readonly string[];
  /** The sandbox's netns: one sandbox on two networks sees the names of both. */
  readonly netns?: string;
  /** The node that published it, on a record imported from another host of an overlay network. */
  readonly node?: string;
}

/** A network with names: where its service listens, and the domain its sandboxes search. */
export interface NamesNetwork {
  readonly network: string;
  /** The gateway addresses, where the service listens on port 53. */
  readonly listen: readonly string[];
  /** The subnets, canonical CIDR: reverse lookups inside them are the network's to answer. */
  readonly subnets: readonly string[];
  /** A domain that names are also answered under (web.dns.berth), and that sandboxes search. */
  readonly domain?: string;
  /** A CNI network (berth-dns, the all-in-one plugin's dns key): its folder goes with its last attachment. */
  readonly cni?: boolean;
}

/** A network's settings with its records, as the service serves them. */
export interface NamesView extends NamesNetwork {
  readonly records: readonly NameRecord[];
}
