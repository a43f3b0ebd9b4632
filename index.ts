/** berth as a library: libnetwork's model (Controller, Network, Endpoint, Sandbox) over Linux netns, veth, bridges and nftables/iptables. */

export { BerthError, ErrorCode } from './base/errors.js';
export { spawnInNetns, spawnSyncInNetns } from './base/exec.js';
export { connectDaemon, DaemonClient, type DaemonClientOptions } from './daemon/client.js';
export type { DriverName, NetworkConfig, NetworkOptions } from './network/config.js';
export { Controller, type ControllerOptions, type SandboxOptions } from './network/controller.js';
export { Endpoint, type JoinOptions } from './network/endpoint.js';
export type { AttachmentState, EndpointRecord, NetworkRecord, SandboxMode, SandboxRecord } from './network/model.js';
export { type EndpointOptions, Network } from './network/network.js';
export type { PortSpec, PortSpecInput } from './network/portspec.js';
export { Sandbox } from './network/sandbox.js';
export type { Bandwidth, RateLimit } from './network/shaping/limits.js';
export { formatRate, parseRate } from './network/shaping/units.js';
export type {
  BandwidthView,
  DnsView,
  EndpointView,
  LimitView,
  NameView,
  NetworkView,
  SandboxView,
} from './network/views.js';
