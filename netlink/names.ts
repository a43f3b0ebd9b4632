import { InvalidArgumentError } from './errors.js';

/** IFNAMSIZ less the NUL. */
export const MAX_IFNAME_BYTES = 15;

/** The kernel's dev_valid_name(): 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
export function isValidIfName(name: string): boolean {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..') return false;
  if (Buffer.byteLength(name) > MAX_IFNAME_BYTES) return false;
  return !/[/:\s\0]/.test(name);
}

export function validateIfName(name: string, what = 'interface name'): string {
  if (!isValidIfName(name)) {
    throw new InvalidArgumentError(
      `invalid ${what} '${name}': must be 1-${MAX_IFNAME_BYTES} bytes without '/', ':' or whitespace, and not '.' or '..'`,
    );
  }
  return name;
}

export function validateIfIndex(index: number): number {
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) {
    throw new InvalidArgumentError(`invalid interface index ${index}: must be a positive integer`);
  }
  return index;
}
