/** What `ip -j` prints, as far as tests read it (TestNetns.ipJson parses it). */

/** A link as `ip -j [-d] link show` prints it: the fields tests read. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  flags: string[];
  address?: string;
  master?: string;
  link_netnsid?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: { mode?: string };
    info_slave_kind?: string;
    info_slave_data?: { hairpin?: boolean } & Record<string, unknown>;
  };
}

/** A link's addresses as `ip -j address show` prints them. */
export interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string; address?: string }[];
}

/** A route as `ip -j route show` prints it. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
  flags?: string[];
}
