import { Allocator } from './allocator.js';
import type { IpamConfig } from './config.js';
import { FileStore } from './file-store.js';
import type { Store } from './store.js';

export { type Allocation, Allocator, type Candidate, candidates } from './allocator.js';
export { type IpamConfig, parseIpamConfig, type Route, requestedIpFromArgs } from './config.js';
export { type Dns, parseResolvConf, readResolvConf } from './dns.js';
export {
  DEFAULT_DATA_DIR,
  FileStore,
  type FileStoreOptions,
  parseReservationFile,
  reservationFileContent,
} from './file-store.js';
export { MemoryStore } from './memory-store.js';
export {
  formatIp,
  type IpAddr,
  parseCidr,
  parseIp,
  parseRange,
  parseRangeSet,
  type Range,
  type RangeConfig,
  type RangeSet,
  rangeText,
} from './range.js';
export type { Attachment, Reservation, Store, StoreTx } from './store.js';

/** The allocator for a parsed config, over host-local's files at `<dataDir>/<name>` unless given another store. */
export function openAllocator(config: IpamConfig, options: { store?: Store; lockTimeoutMs?: number } = {}): Allocator {
  const store =
    options.store ??
    new FileStore(config.name, {
      dataDir: config.dataDir,
      ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    });
  return new Allocator(store, config.rangeSets);
}
