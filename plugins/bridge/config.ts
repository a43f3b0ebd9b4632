import { BerthError, ErrorCode } from '../../base/errors.js';
import { validateIfName } from '../../base/names.js';
import { DEFAULT_STATE_DIR } from '../../network/state.js';
import { bool, detachConfOf, dnsOf, invalid, ipamTypeOf, mac, mtuOf, str } from '../keys.js';
import type { CniArgs, CniDns, NetConf } from '../types.js';

/** The bridge plugin's config: the reference plugin's keys with its defaults, plus berth's own. */
export interface BridgeConf {
  readonly bridge: string;
  readonly isGateway: boolean;
  readonly isDefaultGateway: boolean;
  readonly forceAddress: boolean;
  readonly ipMasq: boolean;
  readonly ipMasqBackend?: 'nftables' | 'iptables';
  /** 0: the kernel's default. */
  readonly mtu: number;
  readonly hairpinMode: boolean;
  readonly promiscMode: boolean;
  readonly enableDad: boolean;
  readonly disableContainerInterface: boolean;
  readonly portIsolation: boolean;
  /** berth's own: drop traffic to and from other isolated berth bridges. Off by default, as the reference. */
  readonly isolate: boolean;
  /** berth's own: where the firewall records live. */
  readonly stateDir: string;
  /** berth's own: also bring up lo in the container, as a loopback plugin after it would (one process less). */
  readonly loopback: boolean;
  readonly mac?: string;
  /** The IPAM section as given, passed whole to a delegated IPAM plugin; absent for a layer-2-only network. */
  readonly ipamType?: string;
  readonly dns?: CniDns;
}

export const DEFAULT_BRIDGE = 'cni0';

/** Keys of the reference bridge that berth does not implement: refused, never silently ignored. */
const UNSUPPORTED: Readonly<Record<string, (v: unknown) => boolean>> = {
  vlan: (v) => v !== undefined && v !== 0,
  vlanTrunk: (v) => v !== undefined && !(Array.isArray(v) && v.length === 0),
  preserveDefaultVlan: (v) => v === false,
  macspoofchk: (v) => v === true,
};

export function parseBridgeConf(config: NetConf, args: CniArgs): BridgeConf {
  const raw = config.raw;
  for (const [key, used] of Object.entries(UNSUPPORTED)) {
    if (used(raw[key])) {
      throw new BerthError(
        ErrorCode.UnsupportedField,
        `berth-bridge does not support "${key}" (${JSON.stringify(raw[key])})`,
        'remove it, or use the reference bridge plugin for VLANs and MAC spoof checking',
      );
    }
  }
  const bridge = str(raw, 'bridge') ?? DEFAULT_BRIDGE;
  validateIfName(bridge, 'bridge name');
  const mtu = mtuOf(raw, 'mtu', 'mtu', 'give a whole number from 68 to 65535, or leave it out for the default');
  const isDefaultGateway = bool(raw, 'isDefaultGateway');
  const hairpinMode = bool(raw, 'hairpinMode');
  const promiscMode = bool(raw, 'promiscMode');
  if (hairpinMode && promiscMode) {
    throw invalid(
      '"hairpinMode" and "promiscMode" are both true',
      'set at most one: both make the bridge send a frame back where it came from',
    );
  }
  const backend = str(raw, 'ipMasqBackend');
  if (backend !== undefined && backend !== 'nftables' && backend !== 'iptables') {
    throw invalid(
      `invalid "ipMasqBackend" ${JSON.stringify(backend)}`,
      'use "nftables" or "iptables", or leave it out to detect',
    );
  }
  const ipamType = ipamTypeOf(raw);
  // The reference's order: CNI_ARGS, then args.cni.mac, then runtimeConfig.mac, the last one given wins.
  let chosenMac: string | undefined;
  const argMac = args.get('MAC');
  if (argMac) chosenMac = mac(argMac, 'CNI_ARGS MAC');
  const cniArgs = (config.args as { cni?: { mac?: unknown } }).cni;
  if (typeof cniArgs?.mac === 'string' && cniArgs.mac) chosenMac = mac(cniArgs.mac, 'args.cni.mac');
  const rtMac = config.runtimeConfig.mac;
  if (typeof rtMac === 'string' && rtMac) chosenMac = mac(rtMac, 'runtimeConfig.mac');

  const dns = dnsOf(raw);
  return {
    bridge,
    isGateway: bool(raw, 'isGateway') || isDefaultGateway,
    isDefaultGateway,
    forceAddress: bool(raw, 'forceAddress'),
    ipMasq: bool(raw, 'ipMasq'),
    ...(backend ? { ipMasqBackend: backend } : {}),
    mtu,
    hairpinMode,
    promiscMode,
    enableDad: bool(raw, 'enabledad'),
    disableContainerInterface: bool(raw, 'disableContainerInterface'),
    portIsolation: bool(raw, 'portIsolation'),
    isolate: bool(raw, 'isolate'),
    stateDir: str(raw, 'stateDir') ?? DEFAULT_STATE_DIR,
    loopback: bool(raw, 'loopback'),
    ...(chosenMac ? { mac: chosenMac } : {}),
    ...(ipamType ? { ipamType } : {}),
    ...(dns ? { dns } : {}),
  };
}

/** What DEL needs, read without judging the rest (a config that failed ADD must not fail DEL). */
export function parseBridgeConfForDel(config: NetConf): Pick<BridgeConf, 'stateDir' | 'ipamType' | 'loopback'> {
  return detachConfOf(config.raw);
}
