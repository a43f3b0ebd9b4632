import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import {
  ensurePrivateDir,
  readTextIfThere,
  withFileLock,
  writeFileAtomic,
  writeFileAtomicAsync,
} from '../base/files.js';

/** Where berth keeps its state unless told otherwise: the library, the command and the plugins share it. */
export const DEFAULT_STATE_DIR = '/var/lib/berth';

/** The kinds of record berth keeps; each is a folder of `<name>.json` files under stateDir. */
export type RecordKind = 'networks' | 'endpoints' | 'sandboxes' | 'ports';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * berth's on-disk truth, shared by the plugins, the CLI and library users in
 * separate processes: one JSON file per record (0600, in 0700 folders), written
 * atomically; changes that read-modify-write run under `locked`.
 */
export class StateStore {
  constructor(readonly dir: string) {}

  private path(kind: RecordKind, name: string): string {
    if (!NAME.test(name) || name.length > 200) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `invalid record name ${JSON.stringify(name)}`,
        'names start with a letter or digit and hold only letters, digits, "_", "." and "-"',
      );
    }
    return join(this.dir, kind, `${name}.json`);
  }

  read<T>(kind: RecordKind, name: string): T | null {
    const path = this.path(kind, name);
    const text = readTextIfThere(path);
    if (text === undefined) return null;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new BerthError(
        ErrorCode.DecodeFailure,
        `berth's record ${path} is not valid JSON: ${(e as Error).message}`,
        'move the file away (berth doctor lists what it described), then recreate that object',
      );
    }
  }

  list<T>(kind: RecordKind): T[] {
    let files: string[];
    try {
      files = readdirSync(join(this.dir, kind));
    } catch (e) {
      if (isSystemError(e, 'ENOENT')) return [];
      throw e;
    }
    const out: T[] = [];
    for (const f of files.sort()) {
      if (!f.endsWith('.json')) continue;
      try {
        const record = this.read<T>(kind, f.slice(0, -5));
        if (record !== null) out.push(record);
      } catch (e) {
        // One damaged file must not stop every listing (and every ADD that lists); read() names it.
        if (!(e instanceof BerthError && e.code === ErrorCode.DecodeFailure)) throw e;
      }
    }
    return out;
  }

  write(kind: RecordKind, name: string, value: unknown): void {
    const path = this.path(kind, name);
    ensurePrivateDir(join(this.dir, kind));
    writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, 0o600);
  }

  /** write, with the disk's syncs off the thread. */
  async writeAsync(kind: RecordKind, name: string, value: unknown): Promise<void> {
    const path = this.path(kind, name);
    ensurePrivateDir(join(this.dir, kind));
    await writeFileAtomicAsync(path, `${JSON.stringify(value, null, 2)}\n`, 0o600);
  }

  exists(kind: RecordKind, name: string): boolean {
    return existsSync(this.path(kind, name));
  }

  /** Removing a record that is not there is success. */
  remove(kind: RecordKind, name: string): void {
    rmSync(this.path(kind, name), { force: true });
  }

  /**
   * Runs fn holding the store's exclusive lock, so a read-check-write of networks, endpoints and
   * sandboxes is one step for every process. Published ports take locks of their own (ports.ts).
   */
  locked<T>(fn: () => T | Promise<T>): Promise<T> {
    ensurePrivateDir(this.dir);
    return withFileLock(join(this.dir, 'lock'), fn, { label: "berth's state lock" });
  }
}
