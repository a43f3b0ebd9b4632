/**
 * MAC addresses: the parser returns undefined, as the address parsers do; each
 * caller words its own error (netlink's for a kernel request, a plugin's for its config).
 */

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** 'aa:bb:cc:dd:ee:ff' (either case) as six bytes, or undefined. */
export function tryParseMac(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !MAC.test(text)) return undefined;
  return Uint8Array.from(text.split(':'), (h) => Number.parseInt(h, 16));
}

/** Lower-case hex pairs joined by colons, as the kernel and `ip link` print them. */
export function formatMac(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += (i ? ':' : '') + bytes[i]!.toString(16).padStart(2, '0');
  return out;
}
