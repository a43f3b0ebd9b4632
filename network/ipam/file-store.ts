import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { isSystemError } from '../../base/binding.js';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { fsyncDir, withFileLock, writeFileAtomic } from '../../base/files.js';
import { formatIp, parseIp } from './range.js';
import { compareIpText, heldBy, type Reservation, type Store, type StoreTx, toRelease } from './store.js';

/** host-local's default `dataDir`. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

/** host-local writes "<containerID>\r\n<ifname>" (disk/backend.go: LineBreak = "\r\n"). */
const LINE_BREAK = '\r\n';
const LAST_RESERVED_PREFIX = 'last_reserved_ip.';
const LOCK_FILE = 'lock';
// Modes as host-local creates them (os.MkdirAll 0755, reservation and last_reserved_ip files
// 0644, the lock file 0750 from go-filemutex), so a host can go back to host-local and the
// two can share a directory without anyone's files looking foreign.
const DIR_MODE = 0o755;
const FILE_MODE = 0o644;
const LOCK_MODE = 0o750;
// berth's temp files (the reservation's, and writeFileAtomic's for last_reserved_ip).
const TEMP_FILE = /^\.(berth-\d+-\d+|\d+\.\d+(\.[0-9a-z]+)?)\.tmp$/;

/** The bytes of a reservation file, exactly as host-local writes them. */
export function reservationFileContent(containerID: string, ifname: string): string {
  return `${containerID.trim()}${LINE_BREAK}${ifname}`;
}

/**
 * Reads a reservation file: "<id>\r\n<ifname>" since host-local recorded the
 * interface, the ID alone before that (then ifname is ''). Surrounding
 * whitespace is ignored as host-local's strings.TrimSpace does.
 */
export function parseReservationFile(text: string): { containerID: string; ifname: string } {
  const t = text.trim();
  const crlf = t.indexOf(LINE_BREAK);
  if (crlf >= 0) return { containerID: t.slice(0, crlf).trim(), ifname: t.slice(crlf + LINE_BREAK.length).trim() };
  // A bare "\n" is not host-local's, but a hand-edited file with one means the same.
  const lf = t.indexOf('\n');
  if (lf >= 0) return { containerID: t.slice(0, lf).trim(), ifname: t.slice(lf + 1).trim() };
  return { containerID: t, ifname: '' };
}

export interface FileStoreOptions {
  /** host-local's `dataDir`; the network's folder is `<dataDir>/<network>`. */
  readonly dataDir?: string;
  /**
   * A deadline for the wait for the lock, past which it fails with CNI code 11. Without it the wait
   * ends only when the lock is had or its holder is stuck (stopped, or holding it far too long).
   */
  readonly lockTimeoutMs?: number;
}

let tempSeq = 0;

/** Who holds each reserved address, by file name: what reading every reservation file gives. */
type Holders = Map<string, { readonly containerID: string; readonly ifname: string }>;

/**
 * berth's cache of the folder's reservations, beside it (the folder keeps exactly host-local's
 * files): the holders, and the folder's entry names and mtime when they were written. host-local
 * does not know it; any reservation it makes or frees adds or removes an entry and moves the mtime,
 * so the cache no longer matches and the files are read again. Only a free and a new reservation of
 * the same address, both within the clock tick after berth last wrote the cache (two host-local runs
 * in a few milliseconds), could go unseen.
 */
interface HoldersIndex {
  readonly version: 1;
  readonly mtimeNs: string;
  readonly entries: readonly string[];
  readonly holders: Readonly<Record<string, readonly [string, string]>>;
}

/**
 * Reservations on disk in host-local's layout, so berth and host-local can
 * take turns on a host without losing one: `<dataDir>/<network>/<ip>` holding
 * "<containerID>\r\n<ifname>", `last_reserved_ip.<rangeSetIndex>` holding the
 * address, and an flock on `<dataDir>/<network>/lock` around every change.
 */
export class FileStore implements Store {
  readonly dir: string;
  readonly lockPath: string;
  /** The holders cache (see HoldersIndex). */
  readonly indexPath: string;
  private readonly lockTimeoutMs: number | undefined;

  constructor(network: string, options: FileStoreOptions = {}) {
    if (network === '' || network === '.' || network === '..' || /[/\0]/.test(network)) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `network name ${JSON.stringify(network)} cannot name a folder of IPAM reservations`,
        'give the network a "name" of letters, digits, "_", "." and "-"',
      );
    }
    this.dir = join(options.dataDir ?? DEFAULT_DATA_DIR, network);
    this.lockPath = join(this.dir, LOCK_FILE);
    this.indexPath = join(dirname(this.dir), `.${network}.berth-index`);
    this.lockTimeoutMs = options.lockTimeoutMs;
  }

  async transaction<T>(fn: (tx: StoreTx) => T): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
    try {
      closeSync(openSync(this.lockPath, 'wx', LOCK_MODE));
    } catch (e) {
      if (!isSystemError(e, 'EEXIST')) throw e;
    }
    return withFileLock(
      this.lockPath,
      () => {
        const session = this.session();
        try {
          return fn(session.tx);
        } finally {
          session.settle();
        }
      },
      {
        label: 'the IPAM lock',
        // host-local's file: berth writes nothing into it (its holders are found by /proc/locks alone).
        announce: false,
        ...(this.lockTimeoutMs === undefined ? {} : { timeoutMs: this.lockTimeoutMs }),
      },
    );
  }

  private path(ip: string): string {
    const addr = parseIp(ip);
    if (!addr || formatIp(addr) !== ip) {
      throw new BerthError(
        ErrorCode.Internal,
        `IPAM store given ${JSON.stringify(ip)}, not an address in canonical form`,
      );
    }
    return join(this.dir, ip);
  }

  /** The names of the reservation files; other files (lock, last_reserved_ip.*, foreign ones) are not reservations. */
  private reservationNames(): string[] {
    return readdirSync(this.dir, { withFileTypes: true })
      .filter((entry) => {
        if (!entry.isFile()) return false;
        const addr = parseIp(entry.name);
        return addr !== undefined && formatIp(addr) === entry.name;
      })
      .map((entry) => entry.name);
  }

  /** Reads every reservation file. */
  private readAll(): Reservation[] {
    const out: Reservation[] = [];
    for (const name of this.reservationNames()) {
      let text: string;
      try {
        text = readFileSync(join(this.dir, name), 'utf8');
      } catch (e) {
        if (isSystemError(e, 'ENOENT')) continue;
        throw e;
      }
      out.push({ ip: name, ...parseReservationFile(text) });
    }
    return out.sort((a, b) => compareIpText(a.ip, b.ip));
  }

  /** The holders from the cache when the folder is as the cache saw it, else undefined. */
  private readIndex(): Holders | undefined {
    let index: HoldersIndex;
    try {
      index = JSON.parse(readFileSync(this.indexPath, 'utf8')) as HoldersIndex;
    } catch {
      return undefined; // absent, or torn by a crash: the files are the truth
    }
    if (index?.version !== 1 || typeof index.holders !== 'object' || !Array.isArray(index.entries)) return undefined;
    const mtimeNs = String(statSync(this.dir, { bigint: true }).mtimeNs);
    if (mtimeNs !== index.mtimeNs) return undefined;
    const entries = readdirSync(this.dir).sort();
    if (entries.length !== index.entries.length || entries.some((e, i) => e !== index.entries[i])) return undefined;
    return new Map(Object.entries(index.holders).map(([ip, [containerID, ifname]]) => [ip, { containerID, ifname }]));
  }

  /**
   * Writes the cache in place: the file is made (if new) before the folder is looked at, and is not
   * renamed into the folder, so the mtime it records is the folder's last change. Not synced: a
   * cache lost or torn by a crash is only read again from the files.
   */
  private writeIndex(holders: Holders): void {
    let fd: number;
    try {
      fd = openSync(this.indexPath, 'r+');
    } catch (e) {
      if (!isSystemError(e, 'ENOENT')) throw e;
      fd = openSync(this.indexPath, 'w+', FILE_MODE);
    }
    try {
      const index: HoldersIndex = {
        version: 1,
        mtimeNs: String(statSync(this.dir, { bigint: true }).mtimeNs),
        entries: readdirSync(this.dir).sort(),
        holders: Object.fromEntries([...holders].map(([ip, h]) => [ip, [h.containerID, h.ifname] as const])),
      };
      const data = Buffer.from(JSON.stringify(index));
      writeSync(fd, data, 0, data.length, 0);
      ftruncateSync(fd, data.length);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * One transaction's view: the holders are read once (from the cache when it still matches the
   * folder, else from every file), kept up to date by the transaction's own changes, and written
   * back to the cache at the end.
   */
  private session(): { tx: StoreTx; settle: () => void } {
    let holders: Holders | undefined;
    let fromCache = false;
    let changed = false;
    const load = (): Holders => {
      if (holders) return holders;
      holders = this.readIndex();
      fromCache = holders !== undefined;
      holders ??= new Map(this.readAll().map((r) => [r.ip, { containerID: r.containerID, ifname: r.ifname }]));
      return holders;
    };
    const reservations = (): Reservation[] =>
      [...load()].map(([ip, h]) => ({ ip, ...h })).sort((a, b) => compareIpText(a.ip, b.ip));
    const tx: StoreTx = {
      reserve: (containerID, ifname, ip, rangeSetIndex) => {
        if (!this.reserve(containerID, ifname, ip, rangeSetIndex)) return false;
        holders?.set(ip, parseReservationFile(reservationFileContent(containerID, ifname)));
        changed = true;
        return true;
      },
      lastReservedIP: (rangeSetIndex) => this.lastReservedIP(rangeSetIndex),
      isReserved: (ip) => exists(this.path(ip)),
      // A release is not synced to disk: a power cut can only bring back a whole reservation of a
      // container that the cut ended too, which GC (or the runtime's DEL, again) releases; a reserve is.
      release: (ip) => {
        const gone = unlinkIfThere(this.path(ip));
        holders?.delete(ip);
        changed = true;
        return gone;
      },
      releaseByID: (containerID, ifname) => {
        const released = toRelease(reservations(), containerID, ifname).filter((r) =>
          unlinkIfThere(join(this.dir, r.ip)),
        );
        for (const r of released) holders?.delete(r.ip);
        if (released.length > 0) changed = true;
        return released.map((r) => r.ip);
      },
      getByID: (containerID, ifname) => heldBy(reservations(), containerID, ifname).map((r) => r.ip),
      list: () => {
        this.sweepTempFiles();
        const all = this.readAll();
        holders = new Map(all.map((r) => [r.ip, { containerID: r.containerID, ifname: r.ifname }]));
        fromCache = false;
        return all;
      },
    };
    const settle = () => {
      if (!holders || (fromCache && !changed)) return;
      try {
        this.writeIndex(holders);
      } catch {
        // Only a cache: without it (or with a torn one) the next transaction reads the files.
        try {
          rmSync(this.indexPath, { force: true });
        } catch {}
      }
    };
    return { tx, settle };
  }

  /** Temp files left by a crash: every writer holds the lock, so while we hold it none is live. */
  private sweepTempFiles(): void {
    for (const name of readdirSync(this.dir)) {
      if (TEMP_FILE.test(name)) unlinkIfThere(join(this.dir, name));
    }
  }

  private reserve(containerID: string, ifname: string, ip: string, rangeSetIndex: number): boolean {
    const target = this.path(ip);
    if (exists(target)) return false;
    // The file must appear whole or not at all, and must not replace one that is
    // there. host-local's O_EXCL create can leave an empty file after a crash (an
    // address nobody holds and nobody frees); writing a temp file and link()ing it
    // into place is both atomic and exclusive: link fails with EEXIST.
    const temp = join(this.dir, `.berth-${process.pid}-${tempSeq++}.tmp`);
    const fd = openSync(temp, 'wx', FILE_MODE);
    try {
      try {
        writeSync(fd, reservationFileContent(containerID, ifname));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      linkSync(temp, target);
    } catch (e) {
      if (isSystemError(e, 'EEXIST')) return false;
      throw e;
    } finally {
      unlinkIfThere(temp);
    }
    // Only a hint where the next search starts: lost or torn by a crash, the search starts at the
    // range's start (lastReservedIP takes what is no address as none). So not synced itself; the
    // folder's sync below makes the link above durable, and the hint's rename with it.
    writeFileAtomic(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), ip, FILE_MODE, { durable: false });
    fsyncDir(this.dir);
    return true;
  }

  private lastReservedIP(rangeSetIndex: number): string | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), 'utf8');
    } catch (e) {
      if (isSystemError(e, 'ENOENT')) return undefined;
      throw e;
    }
    const addr = parseIp(text.trim());
    return addr ? formatIp(addr) : undefined;
  }
}

function exists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

function unlinkIfThere(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if (isSystemError(e, 'ENOENT')) return false;
    throw e;
  }
}
