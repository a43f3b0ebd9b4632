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

/** A name service this process runs: a resident process (berth daemon) can host several. */
export interface HostedNameService {
  /** Resolves once it has had no network to serve for idleMs (never with 0). */
  readonly idle: Promise<void>;
  /** Looks at the records now, as LOOK_NOW asks. */
  look(): void;
  /** Closes its sockets and lets its lock go. */
  stop(): Promise<void>;
}

/**
 * Starts the name service of a state dir in this process, in this netns (the host's); undefined
 * when another process serves the state dir already (one per state dir: its lock holds the PID).
 */
export async function startNameService(options: RunNameServiceOptions): Promise<HostedNameService | undefined> {
  const files = serviceFiles(options.stateDir);
  const idleMs = options.idleMs ?? DEFAULT_NAMES_IDLE_MS;
  const lock = await takeServiceLock(files, LOCK_WAIT_MS);
  if (!lock) {
    options.log(`another name service holds ${files.lock}; leaving it`);
    return undefined;
  }
  let last: NameServiceStatus | undefined;
  let idleSince: number | undefined;
  let becameIdle: () => void = () => {};
  const idle = new Promise<void>((resolve) => {
    becameIdle = resolve;
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
      else if (Date.now() - idleSince >= idleMs) becameIdle();
    },
  });
  try {
    await service.start();
  } catch (e) {
    lock.release();
    throw e;
  }
  options.log(`name service ${process.pid}: serving ${options.stateDir}`);
  let stopping: Promise<void> | undefined;
  return {
    idle,
    look: () => void service.refresh(),
    stop: () => {
      stopping ??= service.stop().finally(() => {
        lock.release();
        options.log(`name service ${process.pid}: stopped`);
      });
      return stopping;
    },
  };
}

/**
 * Runs the name service of a state dir as this process's work: until it has had nothing to serve
 * for idleMs or is told to stop (SIGTERM, SIGINT). Resolves with the exit code: 0 after a clean
 * stop, 1 when another service holds the state dir.
 */
export async function runNameService(options: RunNameServiceOptions): Promise<number> {
  let signalled: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => {
    signalled = resolve;
  });
  const onSignal = () => signalled();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let hosted: HostedNameService | undefined;
  // A caller that changed records asks for a look now rather than at the next poll.
  const onLook = () => hosted?.look();
  process.on(LOOK_NOW, onLook);
  try {
    hosted = await startNameService(options);
    if (!hosted) return 1;
    await Promise.race([hosted.idle, stopSignal]);
    await hosted.stop();
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off(LOOK_NOW, onLook);
  }
}
