import { formatIp, type IpAddress } from '../base/address.js';
import type { Attrs, NlWriter } from './codec.js';
import {
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  IFLA_VXLAN_TTL,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';

/** The IFLA_INFO_DATA of a VXLAN link (IFLA_VXLAN_*), as pure functions over the codec. */

/** A VNI is 24 bits on the wire (RFC 7348). */
export const MAX_VNI = 0xffffff;
/** The IANA port for VXLAN (RFC 7348); the kernel's own default is Linux's older 8472. */
export const VXLAN_PORT = 4789;

export interface VxlanData {
  vni: number;
  /** The source address of the encapsulated packets, on the underlay. */
  local?: IpAddress;
  /** The underlay link's ifindex. */
  underlay?: number;
  /** The UDP destination port; VXLAN_PORT when absent. */
  port?: number;
  /** Learning of remote MACs from arriving packets; off unless asked, since the FDB is programmed. */
  learning?: boolean;
  /** The outer packets' TTL; absent or 0 leaves the route's hop limit. */
  ttl?: number;
}

/** What a VXLAN link reports of itself. */
export interface VxlanInfo {
  readonly vni: number;
  readonly local?: string;
  readonly port: number;
  readonly learning: boolean;
  readonly ttl: number;
}

function checkRange(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`invalid ${what} ${value}: must be an integer from 0 to ${max}`);
  }
}

/** Refuses what the kernel would refuse less clearly, or would take wrongly (a VNI cut to 24 bits). */
export function checkVxlanData(data: VxlanData): void {
  checkRange(data.vni, MAX_VNI, 'VXLAN VNI');
  if (data.port !== undefined) checkRange(data.port, 0xffff, 'VXLAN port');
  if (data.ttl !== undefined) checkRange(data.ttl, 255, 'VXLAN TTL');
}

export function writeVxlanData(w: NlWriter, data: VxlanData): void {
  checkVxlanData(data);
  w.u32(IFLA_VXLAN_ID, data.vni);
  if (data.local) w.bytes(data.local.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, data.local.bytes);
  if (data.underlay !== undefined) w.u32(IFLA_VXLAN_LINK, data.underlay);
  w.u16be(IFLA_VXLAN_PORT, data.port ?? VXLAN_PORT);
  w.u8(IFLA_VXLAN_LEARNING, data.learning ? 1 : 0);
  if (data.ttl !== undefined) w.u8(IFLA_VXLAN_TTL, data.ttl);
}

export function parseVxlanData(data: Attrs): VxlanInfo {
  const local = data.raw(IFLA_VXLAN_LOCAL) ?? data.raw(IFLA_VXLAN_LOCAL6);
  return {
    vni: data.u32(IFLA_VXLAN_ID) ?? 0,
    ...(local ? { local: formatIp(local) } : {}),
    port: data.u16be(IFLA_VXLAN_PORT) ?? 0,
    learning: data.u8(IFLA_VXLAN_LEARNING) === 1,
    ttl: data.u8(IFLA_VXLAN_TTL) ?? 0,
  };
}

/** The underlay's ifindex, which the kernel reports inside IFLA_INFO_DATA rather than in IFLA_LINK. */
export function vxlanUnderlay(data: Attrs): number | undefined {
  const index = data.u32(IFLA_VXLAN_LINK);
  return index ? index : undefined;
}
