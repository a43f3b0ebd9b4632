/** berth's kernel layer: links, addresses, routes, neighbours and FDB entries, traffic control, sysctls, namespaces (rtnetlink) and conntrack (ctnetlink). */

export { formatMac } from '../base/mac.js';
export type { Address, AddressOptions } from './addresses.js';
// The codec and the numbers, for requests the handle has no method for (over handle.socket).
export { type Attr, Attrs, align4, NlMsg, NlWriter, parseMessages } from './codec.js';
export {
  type ConntrackEntry,
  type ConntrackFilter,
  ConntrackHandle,
  type ConntrackKey,
  type ConntrackProtocol,
  type ConntrackTuple,
} from './conntrack.js';
export * as rtnl from './constants.js';
export { InvalidArgumentError, NetlinkError } from './errors.js';
export {
  type CreateLinkOptions,
  type CreateMacvlanOptions,
  type CreateVethOptions,
  type CreateVxlanOptions,
  NetlinkHandle,
} from './handle.js';
export { parseCidr, parseIp, parseMac } from './ip.js';
export type { BridgePortOptions, Link, LinkRef, OperState } from './links.js';
export { MACVLAN_MODES, type MacvlanInfo, type MacvlanMode } from './macvlan.js';
export { validateIfName } from './names.js';
export type { FdbEntry, Neighbour, NudState } from './neighbours.js';
export { createNamedNetns, deleteNamedNetns, NETNS_DIR, netnsExists } from './netns.js';
export type { Route, RouteFilter, RouteSpec } from './routes.js';
export type { Scope, ScopeName } from './scopes.js';
export { DEFAULT_TIMEOUT_MS, NetlinkSocket, type NetlinkSocketOptions, type NetlinkTransport } from './socket.js';
export {
  type ClsactSpec,
  type Filter,
  type FilterAction,
  type FilterProtocol,
  type FilterSpec,
  type IngressSpec,
  type MirredAction,
  type Qdisc,
  type QdiscSpec,
  type TbfSpec,
  type TbfState,
  tbfDifferences,
  type U32Spec,
} from './tc.js';
export { MAX_VNI, VXLAN_PORT, type VxlanInfo } from './vxlan.js';
