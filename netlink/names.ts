import { IFNAME_RULE, ifNameProblem } from '../base/names.js';
import { InvalidArgumentError } from './errors.js';

export function validateIfName(name: string, what = 'interface name'): string {
  const problem = ifNameProblem(name);
  if (problem) throw new InvalidArgumentError(`invalid ${what} '${name}': it ${problem}; ${IFNAME_RULE}`);
  return name;
}

export function validateIfIndex(index: number): number {
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) {
    throw new InvalidArgumentError(`invalid interface index ${index}: must be a positive integer`);
  }
  return index;
}
