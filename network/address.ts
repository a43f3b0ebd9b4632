import ipaddr from 'ipaddr.js';

/** Address arithmetic shared by the network model and the plugins. */

export type Family = 4 | 6;

export const familyOf = (addressOrCidr: string): Family => (addressOrCidr.includes(':') ? 6 : 4);

/** The network address of an address with prefix: '10.1.2.3/24' -> 10.1.2.0. */
export function networkOf(cidr: string): ipaddr.IPv4 | ipaddr.IPv6 {
  return familyOf(cidr) === 4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
}

/** The subnet of an address with prefix: '10.1.2.3/24' -> '10.1.2.0/24'. */
export function subnetOf(cidr: string): string {
  return `${networkOf(cidr).toString()}/${cidr.split('/')[1]}`;
}

/** The IPv4 broadcast address of a subnet. */
export function broadcastOf(cidr: string): ipaddr.IPv4 {
  return ipaddr.IPv4.broadcastAddressFromCIDR(cidr);
}

/** addr + n, carrying across bytes. */
export function offsetAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, n: number): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = addr.toByteArray();
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = bytes[i]! + carry;
    bytes[i] = v & 0xff;
    carry = Math.floor(v / 256);
  }
  return ipaddr.fromByteArray(bytes);
}

/** The first host of a subnet, the conventional gateway: '10.1.2.3/24' -> '10.1.2.1'. */
export function firstHostOf(cidr: string): string {
  return offsetAddress(networkOf(cidr), 1).toString();
}
