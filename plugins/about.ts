/**
 * berth's CNI plugins by executable name, each with the line it prints on stderr when someone runs
 * it by hand (no CNI_COMMAND). The thin client (netlink/src/cni-client.c) knows the same names.
 */
export const PLUGIN_ABOUT = {
  berth: 'berth: bridge, IPAM, masquerade, published ports and bandwidth limits in one CNI plugin',
  'berth-bandwidth':
    "berth-bandwidth: limits a container's bandwidth, config-compatible with the reference bandwidth plugin",
  'berth-dns':
    "berth-dns: names of a bridge network's containers answered on its gateway, chained after the bridge plugin",
  'berth-bridge':
    'berth-bridge: a Linux bridge and a veth pair per container, config-compatible with the reference bridge plugin',
  'berth-ipam': 'berth-ipam: host-local compatible IPAM',
  'berth-loopback': 'berth-loopback: brings up lo in a container network namespace',
  'berth-macvlan':
    'berth-macvlan: a container on the LAN of a parent device, config-compatible with the reference macvlan plugin',
  'berth-portmap':
    'berth-portmap: publishes container ports on the host, config-compatible with the reference portmap plugin',
} as const;

export type PluginName = keyof typeof PLUGIN_ABOUT;

export const PLUGIN_NAMES = Object.keys(PLUGIN_ABOUT) as PluginName[];
