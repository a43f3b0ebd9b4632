/** berth's kernel layer: links, addresses, routes, sysctls, namespaces (rtnetlink) and conntrack (ctnetlink). */
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
export { type CreateBridgeOptions, type CreateVethOptions, NetlinkHandle } from './handle.js';
export { formatMac, parseCidr, parseIp, parseMac } from './ip.js';
export type { BridgePortOptions, Link, LinkRef, OperState } from './links.js';
export { validateIfName } from './names.js';
export { createNamedNetns, deleteNamedNetns, NETNS_DIR, netnsExists } from './netns.js';
export type { Route, RouteFilter, RouteSpec } from './routes.js';
export type { Scope, ScopeName } from './scopes.js';
export { DEFAULT_TIMEOUT_MS, NetlinkSocket, type NetlinkSocketOptions, type NetlinkTransport } from './socket.js';
