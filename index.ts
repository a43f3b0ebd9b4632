/** berth as a library: libnetwork's model (Controller, Network, Endpoint, Sandbox) over Linux netns, veth, bridges and nftables/iptables. */
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
export { BerthError, ErrorCode } from './network/errors.js';
export { spawnInNetns, spawnSyncInNetns } from './network/exec.js';
export type { EndpointRecord, NetworkRecord, SandboxMode, SandboxRecord } from './network/model.js';
