import { isDeepStrictEqual } from 'node:util';
import { LOOK_NOW, serviceFiles, takeServiceLock, writeServiceStatus } from './instance.js';
import { NameService, type NameServiceStatus } from './server.js';
import { NamesStore } from './store.js';

/** How long a service with no network left to serve waits for one before it exits. */
export const DEFAULT_NAMES_IDLE_MS = 10_000;
/** How long a second service waits for the first's lock before it leaves the state dir to it. */
const LOCK_WAIT_MS = 2_000;

export interface RunNameServiceOptions {
  readonly stateDir: string;
  /** Exit after this long with no network with names; 0 never. */
  readonly idleMs?: number;
  readonly log: (line: string) => void;
}

/**
 * Runs the name service of a state dir in this process, in this netns (the host's), until it has
 * had nothing to serve for idleMs or is told to stop (SIGTERM, SIGINT). One per state dir: a second
 * one gives up to the first. Resolves with the exit code: 0 after a clean stop, 1 when another
 * service holds the state dir.
 */
export async function runNameService(options: RunNameServiceOptions): Promise<number> {
  const files = serviceFiles(options.stateDir);
  const idleMs = options.idleMs ?? DEFAULT_NAMES_IDLE_MS;
  const lock = await takeServiceLock(files, LOCK_WAIT_MS);
  if (!lock) {
    options.log(`another name service holds ${files.lock}; leaving it`);
    return 1;
  }
  let last: NameServiceStatus | undefined;
  let idleSince: number | undefined;
  let finish: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const service = new NameService({
    store: NamesStore.in(options.stateDir),
    log: (line) => options.log(`name service ${process.pid}: ${line}`),
    onChange: (status) => {
      if (!isDeepStrictEqual(status, last)) {
        writeServiceStatus(files, { pid: process.pid, ...status });
        last = status;
      }
      if (status.networks.length > 0 || idleMs === 0) idleSince = undefined;
      else if (idleSince === undefined) idleSince = Date.now();
      else if (Date.now() - idleSince >= idleMs) finish();
    },
  });
  const onSignal = () => finish();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // A caller that changed records asks for a look now rather than at the next poll.
  const onLook = () => void service.refresh();
  process.on(LOOK_NOW, onLook);
  try {
    await service.start();
    options.log(`name service ${process.pid}: serving ${options.stateDir}`);
    await stopped;
    await service.stop();
    options.log(`name service ${process.pid}: stopped`);
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off(LOOK_NOW, onLook);
    lock.release();
  }
}
