import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { BerthError, ErrorCode } from '../../base/errors.js';
import { withFileLock } from '../../base/files.js';
import type { NameRecord, NamesNetwork } from './model.js';
import type { NamesStore } from './store.js';

/**
 * The names of CNI attachments: a CNI network has no record of berth's own, so the first
 * attachment writes its settings and the last one out removes its folder. Each change holds the
 * network's lock, so an ADD never writes into a folder that a DEL is removing.
 */

const lockOf = (store: NamesStore, network: string) => join(store.dir, `${network}.lock`);

/** Writes the settings when they are new or changed, then the record. */
export function registerCniNames(store: NamesStore, settings: NamesNetwork, record: NameRecord): Promise<void> {
  return withFileLock(lockOf(store, settings.network), () => {
    const current = store.network(settings.network);
    if (current && !current.cni) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `berth has a network of its own named ${JSON.stringify(settings.network)} with names`,
        'give the CNI network another name, or use a state dir of its own (stateDir)',
      );
    }
    const wanted: NamesNetwork = { ...settings, cni: true };
    if (!isDeepStrictEqual(current, wanted)) store.setNetwork(wanted);
    store.put(settings.network, record);
  });
}

/** Removes the owner's record, and the network's folder with its last record; gone is success. */
export function unregisterCniNames(store: NamesStore, network: string, owner: string): Promise<void> {
  return withFileLock(lockOf(store, network), () => {
    store.remove(network, owner);
    dropWhenEmpty(store, network);
  });
}

/** Removes the records of the network whose owner is not in `keep` (CNI GC); the owners removed. */
export function collectCniNames(store: NamesStore, network: string, keep: ReadonlySet<string>): Promise<string[]> {
  return withFileLock(lockOf(store, network), () => {
    if (!store.network(network)?.cni) return [];
    const stale = store.records(network).filter((r) => !keep.has(r.owner));
    for (const r of stale) store.remove(network, r.owner);
    dropWhenEmpty(store, network);
    return stale.map((r) => r.owner);
  });
}

function dropWhenEmpty(store: NamesStore, network: string): void {
  if (store.network(network)?.cni && store.records(network).length === 0) store.removeNetwork(network);
}
