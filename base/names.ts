import { invalidConfig, invalidEnv } from './errors.js';

/** Interface names and container IDs: one rule each, and the words that explain it. */

/** IFNAMSIZ less the NUL. */
const MAX_IFNAME_BYTES = 15;

export const IFNAME_RULE = `an interface name is 1 to ${MAX_IFNAME_BYTES} bytes, not "." or "..", without "/", ":", white space, quotes, backslashes or control characters`;

// The kernel (dev_valid_name) refuses '/', ':' and white space. Quotes, backslashes and control
// characters it would take, but a name goes into firewall rules as text, so berth refuses them too.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const IFNAME_REFUSED = /[/:\s"'\\\x00-\x1f\x7f]/;

/** What is wrong with an interface name, said after it ('is empty', 'contains ":" at 4'), or '' when nothing is. */
export function ifNameProblem(name: string): string {
  if (typeof name !== 'string') return 'is not a string';
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) return 'is empty';
  if (bytes > MAX_IFNAME_BYTES) return `is ${bytes} bytes long`;
  if (name === '.' || name === '..') return 'is not a usable name';
  const refused = IFNAME_REFUSED.exec(name);
  // JSON escapes every control character but DEL.
  if (refused) return `contains ${JSON.stringify(refused[0]).replace('\x7f', '\\u007f')} at ${refused.index}`;
  return '';
}

export const isValidIfName = (name: string): boolean => ifNameProblem(name) === '';

/** An interface name that the kernel and the firewall both take, or InvalidConfig naming it and what is wrong. */
export function validateIfName(name: string, what = 'interface name'): string {
  const problem = ifNameProblem(name);
  if (problem) throw invalidConfig(`invalid ${what} ${JSON.stringify(name)}`, `it ${problem}; ${IFNAME_RULE}`);
  return name;
}

// The CNI spec's pattern for container IDs and network names.
const CNI_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const CNI_NAME_RULE = 'it must start with a letter or digit, followed by letters, digits, "_", "." or "-"';

/** Whether text is a container ID or a network name as the CNI spec allows them. */
export const isCniName = (text: unknown): text is string => typeof text === 'string' && CNI_NAME.test(text);

/** A container ID as the CNI spec allows it; code 4, as runtimes pass it in CNI_CONTAINERID. */
export function validateContainerId(value: string): string {
  if (!isCniName(value)) throw invalidEnv(`invalid CNI_CONTAINERID "${value}"`, CNI_NAME_RULE);
  return value;
}

/** Longest DNS name in text form without the final dot (RFC 1035: 255 bytes on the wire). */
const MAX_DNS_NAME = 253;
const DNS_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export const DNS_NAME_RULE =
  'a name is labels of 1 to 63 letters, digits, "_" or "-" (not at either end) joined by ".", at most 253 in all';

/**
 * A name that berth's name service answers (a sandbox's name, an alias), lower-cased: DNS labels
 * as hostnames have them, and "_" that Docker's container names carry. Anything else is code 7.
 */
export function validateDnsName(name: unknown, what = 'name'): string {
  const lower = typeof name === 'string' ? name.toLowerCase() : '';
  if (lower.length === 0 || lower.length > MAX_DNS_NAME || !lower.split('.').every((l) => DNS_LABEL.test(l))) {
    throw invalidConfig(`invalid ${what} ${JSON.stringify(name)}: not a DNS name`, DNS_NAME_RULE);
  }
  return lower;
}
