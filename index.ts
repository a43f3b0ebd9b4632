/** berth as a library: libnetwork's model (Controller, Network, Endpoint, Sandbox) over Linux netns, veth, bridges and nftables/iptables. */

export { BerthError, ErrorCode } from './base/errors.js';
export { spawnInNetns, spawnSyncInNetns } from './base/exec.js';
export type { DriverName, NetworkConfig, NetworkOptions } from './network/config.js';
export {
  Controller,
  type ControllerOptions,
  Endpoint,
  type EndpointOptions,
  type JoinOptions,
  Network,
  Sandbox,
  type SandboxOptions,
} from './network/controller.js';
export type { EndpointRecord, NetworkRecord, SandboxMode, SandboxRecord } from './network/model.js';
