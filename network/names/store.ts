import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isSystemError } from '../../base/binding.js';
import { ensurePrivateDir, subfolders, writeFileAtomic } from '../../base/files.js';
import { sha256Hex } from '../../base/sha256.js';
import type { NameRecord, NamesNetwork, NamesView } from './model.js';

const SETTINGS = 'network.json';
const RECORD_PREFIX = 'r-';
/** Records another host published (an overlay network's): answered, but not this host's to collect. */
const IMPORTED_PREFIX = 'i-';

/**
 * The name service's records in the state dir: a folder per network with names, holding its
 * settings (network.json) and one file per attachment. Every change is one atomic file write or
 * removal, so writers need no lock and the folder's mtime tells the service what changed.
 */
export class NamesStore {
  constructor(readonly dir: string) {}

  static in(stateDir: string): NamesStore {
    return new NamesStore(join(stateDir, 'names'));
  }

  networkDir(network: string): string {
    return join(this.dir, network);
  }

  setNetwork(settings: NamesNetwork): void {
    ensurePrivateDir(this.networkDir(settings.network));
    writeFileAtomic(join(this.networkDir(settings.network), SETTINGS), `${JSON.stringify(settings, null, 2)}\n`);
  }

  /** The network's settings, or null when names are off on it. */
  network(network: string): NamesNetwork | null {
    return readJson<NamesNetwork>(join(this.networkDir(network), SETTINGS));
  }

  /** Removes the network's settings and records; gone is success. */
  removeNetwork(network: string): void {
    rmSync(this.networkDir(network), { recursive: true, force: true });
  }

  /** Adds or replaces the record of record.owner on the network. */
  put(network: string, record: NameRecord): void {
    writeFileAtomic(this.recordPath(network, record.owner), `${JSON.stringify(record)}\n`);
  }

  /** Removes the owner's record on the network; gone is success. */
  remove(network: string, owner: string): void {
    rmSync(this.recordPath(network, owner), { force: true });
  }

  /** This host's records of the network. */
  records(network: string): NameRecord[] {
    return this.read(network, RECORD_PREFIX);
  }

  /** Adds or replaces a record another host published; its owner names that host. */
  putImported(network: string, record: NameRecord): void {
    writeFileAtomic(this.recordPath(network, record.owner, IMPORTED_PREFIX), `${JSON.stringify(record)}\n`);
  }

  /** Removes an imported record; gone is success. */
  removeImported(network: string, owner: string): void {
    rmSync(this.recordPath(network, owner, IMPORTED_PREFIX), { force: true });
  }

  /** The records of the network that other hosts published. */
  imported(network: string): NameRecord[] {
    return this.read(network, IMPORTED_PREFIX);
  }

  /** The networks with names, by folder. */
  networks(): string[] {
    return subfolders(this.dir);
  }

  /** A network's settings with its records; null when it has no settings (names off, or removed meanwhile). */
  view(network: string): NamesView | null {
    const settings = this.network(network);
    return settings ? { ...settings, records: [...this.records(network), ...this.imported(network)] } : null;
  }

  /** The time the network's folder last changed (a record written or removed), or undefined when it is gone. */
  changedAt(network: string): number | undefined {
    try {
      return statSync(this.networkDir(network)).mtimeMs;
    } catch (e) {
      if (isSystemError(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  private recordPath(network: string, owner: string, prefix = RECORD_PREFIX): string {
    return join(this.networkDir(network), `${prefix}${sha256Hex(owner).slice(0, 24)}.json`);
  }

  private read(network: string, prefix: string): NameRecord[] {
    return this.files(network)
      .filter((f) => f.startsWith(prefix))
      .flatMap((f) => readJson<NameRecord>(join(this.networkDir(network), f)) ?? []);
  }

  private files(network: string): string[] {
    try {
      return readdirSync(this.networkDir(network)).filter((f) => f.endsWith('.json'));
    } catch (e) {
      if (isSystemError(e, 'ENOENT')) return [];
      throw e;
    }
  }
}

/** A record file's JSON; null when it is gone or damaged (a damaged record answers nothing rather than stopping all). */
function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    if (isSystemError(e, 'ENOENT') || e instanceof SyntaxError) return null;
    throw e;
  }
}
