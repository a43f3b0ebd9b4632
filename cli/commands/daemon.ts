import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_IDLE_MS, parseIdleMs, runDaemon } from '../../daemon/daemon.js';
import { DAEMON_BUNDLE } from '../../daemon/paths.js';
import { type GlobalArgs, requireRoot } from '../context.js';
import { defaultBuildDir } from '../install.js';
import { UsageError } from '../usage.js';

interface DaemonArgs extends GlobalArgs {
  dir?: string;
  'idle-timeout'?: string;
}

export const daemonCommand: CommandModule<GlobalArgs, DaemonArgs> = {
  command: 'daemon',
  describe:
    "serve the CNI plugins' calls and the library's (connectDaemon) in this process, in the foreground (for a service manager)",
  builder: (y) =>
    y
      .option('dir', {
        type: 'string',
        describe: "the folder of the plugins whose calls it serves (default: this berth's dist/cni)",
      })
      .option('idle-timeout', {
        type: 'string',
        describe: `exit after this many ms without a call; 0 never (default: $BERTH_DAEMON_IDLE_MS or ${DEFAULT_IDLE_MS})`,
      })
      .example('$0 daemon --dir /opt/cni/bin --idle-timeout 0', 'under systemd: serve /opt/cni/bin until stopped')
      .example('ip netns exec h1 $0 daemon', 'for plugins run inside the netns h1') as Argv<DaemonArgs>,
  handler: async (argv) => {
    requireRoot('daemon');
    if (argv['host-netns']) {
      throw new UsageError(
        '--host-netns does not apply to berth daemon: it serves the netns it runs in',
        'start it inside that netns, e.g. `ip netns exec NAME berth daemon`',
      );
    }
    let idleMs: number;
    try {
      idleMs = parseIdleMs(argv['idle-timeout'] ?? process.env.BERTH_DAEMON_IDLE_MS) ?? DEFAULT_IDLE_MS;
    } catch (e) {
      throw new UsageError((e as Error).message, 'give --idle-timeout a number of milliseconds, 0 for never');
    }
    const pluginDir = argv.dir ?? join(defaultBuildDir(), 'cni');
    const code = await runDaemon({
      pluginDir,
      idleMs,
      // This berth's code, and the clients' daemon: an upgrade of either ends it (a service manager restarts it).
      codeFiles: [fileURLToPath(import.meta.url), join(pluginDir, DAEMON_BUNDLE)],
    });
    process.exitCode = code;
  },
};
