import { readFileSync } from 'node:fs';

/**
 * The kernel's ID of the running boot, new at every boot. Records of kernel state (firewall rules,
 * published ports) carry it: one written in a boot that is over describes nothing the kernel holds.
 */
export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

let current: string | undefined;

/** This boot's ID, read once per process. */
export function bootId(): string {
  current ??= readFileSync(BOOT_ID_FILE, 'utf8').trim();
  return current;
}

/** Makes bootId() answer `id` from now on (undefined: the kernel's again), so a test can play a later boot. */
export function setBootId(id: string | undefined): void {
  current = id;
}

/** Whether a record was written in this boot; one without a boot ID predates them and counts as this boot's. */
export function ofThisBoot(record: { readonly boot?: string }): boolean {
  return record.boot === undefined || record.boot === bootId();
}
