// The entry of dist/cni/berth-daemon.js, which a CNI client (or the library's, daemon/client.ts) starts
// detached when it finds no daemon: it serves the clients of its own folder. `berth daemon` runs the
// same in the foreground.
import './threadpool.js';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asBerthError } from '../base/errors.js';
import { DEFAULT_IDLE_MS, parseIdleMs, runDaemon } from './daemon.js';

const file = fileURLToPath(import.meta.url);

async function main(argv: readonly string[]): Promise<number> {
  const at = argv.indexOf('--idle-timeout');
  const idleMs = parseIdleMs(at >= 0 ? argv[at + 1] : process.env.BERTH_DAEMON_IDLE_MS) ?? DEFAULT_IDLE_MS;
  // The lock a client took for this daemon (netlink/src/cni-client.c); not for the processes it starts.
  const lockFd = process.env.BERTH_DAEMON_LOCK_FD;
  delete process.env.BERTH_DAEMON_LOCK_FD;
  return runDaemon({
    pluginDir: dirname(file),
    idleMs,
    codeFiles: [file],
    ...(lockFd && /^\d+$/.test(lockFd) ? { lockFd: Number(lockFd) } : {}),
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth daemon ${process.pid}: ${asBerthError(e).message}\n`);
    process.exit(1);
  },
);
