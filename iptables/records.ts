import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isSystemError } from '../base/binding.js';
import { bootId } from '../base/boot.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { ensurePrivateDir, readTextIfThere, writeFileAtomic, writeFileAtomicAsync } from '../base/files.js';
import { sha256Hex } from '../base/sha256.js';
import { type NormalizedRules, normalizeRules, type Owner, validateOwner } from './model.js';

export type Backend = 'nftables' | 'iptables';

/**
 * What the firewall layer added for one owner, so the owner's rules can be
 * removed or re-applied without the config that produced them. `previous` is
 * set while a change is in flight: if berth dies between the kernel change
 * and the final write, the record still covers both the old and the new rules. `boot` is the boot
 * it was written in (see base/boot.ts): a record of a boot that is over holds nothing in the kernel.
 */
export interface OwnerRecord {
  readonly version: 1;
  readonly backend: Backend;
  readonly boot?: string;
  readonly owner: Owner;
  readonly rules: NormalizedRules;
  readonly previous?: NormalizedRules;
}

const SAFE_FILE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$/;
const SUFFIX = '.json';

/** One file per owner; ids that are not safe as file names are hashed ('=' keeps the two forms apart). */
export function recordFileName(owner: Owner): string {
  return SAFE_FILE_ID.test(owner.id)
    ? `${owner.kind}-${owner.id}${SUFFIX}`
    : `${owner.kind}=${sha256Hex(owner.id)}${SUFFIX}`;
}

function decode(path: string, text: string): OwnerRecord {
  let raw: Partial<OwnerRecord>;
  try {
    raw = JSON.parse(text) as Partial<OwnerRecord>;
  } catch (e) {
    throw corrupt(path, (e as Error).message);
  }
  if (raw?.version !== 1 || (raw.backend !== 'nftables' && raw.backend !== 'iptables') || !raw.owner || !raw.rules) {
    throw corrupt(path, 'fields version 1, backend, owner and rules are required');
  }
  try {
    return {
      version: 1,
      backend: raw.backend,
      ...(typeof raw.boot === 'string' ? { boot: raw.boot } : {}),
      owner: validateOwner(raw.owner),
      rules: normalizeRules(raw.rules),
      ...(raw.previous ? { previous: normalizeRules(raw.previous) } : {}),
    };
  } catch (e) {
    throw corrupt(path, (e as Error).message);
  }
}

function corrupt(path: string, why: string): BerthError {
  return new BerthError(
    ErrorCode.DecodeFailure,
    `firewall record ${path} cannot be read: ${why}`,
    "delete the file and remove that owner's rules by hand (they carry the comment 'berth <kind> <id>')",
  );
}

export class RecordStore {
  constructor(readonly dir: string) {}

  /** The record dir's lock: every change holds it shared, a reload of all owners exclusive. */
  get lockPath(): string {
    return join(this.dir, '.lock');
  }

  /** One owner's lock: a change of the owner's rules and record holds it. */
  ownerLockPath(owner: Owner): string {
    return join(this.dir, '.locks', 'owners', `${recordFileName(owner).slice(0, -SUFFIX.length)}.lock`);
  }

  /** One bridge's lock, for the elements owners share: shared to take the bridge up, exclusive to let it go. */
  bridgeLockPath(bridge: string): string {
    return join(this.dir, '.locks', 'bridges', `${bridge}.lock`);
  }

  path(owner: Owner): string {
    return join(this.dir, recordFileName(owner));
  }

  read(owner: Owner): OwnerRecord | null {
    const path = this.path(owner);
    const text = readTextIfThere(path);
    return text === undefined ? null : decode(path, text);
  }

  /** Writes the record; one without a boot is stamped with this one (it describes what the kernel is given now). */
  write(record: OwnerRecord): void {
    ensurePrivateDir(this.dir);
    const stamped: OwnerRecord = { ...record, boot: record.boot ?? bootId() };
    writeFileAtomic(this.path(record.owner), `${JSON.stringify(stamped, null, 2)}\n`, 0o600);
  }

  /** write, with the disk's syncs off the thread. */
  async writeAsync(record: OwnerRecord): Promise<void> {
    ensurePrivateDir(this.dir);
    const stamped: OwnerRecord = { ...record, boot: record.boot ?? bootId() };
    await writeFileAtomicAsync(this.path(record.owner), `${JSON.stringify(stamped, null, 2)}\n`, 0o600);
  }

  delete(owner: Owner): void {
    rmSync(this.path(owner), { force: true });
  }

  /** Every record, and the files that could not be read (a bad file does not hide the others). */
  list(): { readonly records: OwnerRecord[]; readonly errors: BerthError[] } {
    const records: OwnerRecord[] = [];
    const errors: BerthError[] = [];
    for (const entry of this.entries()) {
      if (entry instanceof BerthError) errors.push(entry);
      else records.push(entry);
    }
    return { records, errors };
  }

  /** The records (or, for a file that cannot be read, why) one at a time in name order: a caller may stop early. */
  *entries(): Generator<OwnerRecord | BerthError> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if (isSystemError(e, 'ENOENT')) return;
      throw e;
    }
    for (const name of names.sort()) {
      if (!name.endsWith(SUFFIX) || name.startsWith('.')) continue;
      const path = join(this.dir, name);
      try {
        yield decode(path, readFileSync(path, 'utf8'));
      } catch (e) {
        if (isSystemError(e, 'ENOENT')) continue; // removed while listing
        yield e instanceof BerthError ? e : corrupt(path, (e as Error).message);
      }
    }
  }
}
