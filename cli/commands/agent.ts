import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { tryParseIp } from '../../base/address.js';
import { runDaemon } from '../../daemon/daemon.js';
import { DAEMON_BUNDLE } from '../../daemon/paths.js';
import { validateName } from '../../network/config.js';
import { controllerAgent } from '../../network/overlay/local.js';
import { type GlobalArgs, openController } from '../context.js';
import { defaultBuildDir } from '../install.js';
import { UsageError } from '../usage.js';

interface AgentArgs extends GlobalArgs {
  node?: string;
  address?: string;
  ttl: number;
  'release-on-exit': boolean;
  serve: boolean;
  dir?: string;
}

export const agentCommand: CommandModule<GlobalArgs, AgentArgs> = {
  command: 'agent',
  describe:
    "keep this host in the overlay networks, in the foreground: hold its blocks in etcd, route to the other hosts'",
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: "this host's name in the cluster (default: the host name)" })
      .option('address', {
        type: 'string',
        describe: "this host's underlay IPv4 address, where the other hosts reach it (required)",
      })
      .option('ttl', {
        type: 'number',
        default: 30,
        describe: "the lease's time to live in seconds: a host whose agent stops loses its blocks this long after",
      })
      .option('release-on-exit', {
        type: 'boolean',
        default: false,
        describe:
          'give the blocks back at once on SIGTERM/SIGINT (the host leaves), instead of when the lease runs out',
      })
      .option('serve', {
        type: 'boolean',
        default: true,
        describe:
          "also serve the CNI plugins' calls, as berth daemon does (never idle): one resident process per host; --no-serve for the agent alone",
      })
      .option('dir', {
        type: 'string',
        describe: "the folder of the plugins whose calls it serves (default: this berth's dist/cni)",
      })
      .example(
        '$0 --etcd http://10.0.0.1:2379 agent --node n1 --address 10.0.0.11',
        'under a service manager, on every host of the cluster',
      )
      .example(
        'ip netns exec h1 $0 --etcd http://192.168.77.1:2379 agent --address 192.168.77.1',
        'a host played by a netns',
      ) as Argv<AgentArgs>,
  handler: async (argv) => {
    if (!argv.etcd) {
      throw new UsageError(
        "berth agent needs the cluster's store",
        'give --etcd URL (or set BERTH_ETCD), e.g. --etcd http://10.0.0.1:2379',
      );
    }
    const address = argv.address;
    if (!address || tryParseIp(address)?.family !== 4) {
      throw new UsageError(
        address ? `--address ${address} is not an IPv4 address` : 'berth agent needs --address',
        "give this host's underlay IPv4 address, the one the other hosts reach it at, e.g. --address 10.0.0.11",
      );
    }
    if (!Number.isInteger(argv.ttl) || argv.ttl < 2 || argv.ttl > 86_400) {
      throw new UsageError(`--ttl ${argv.ttl} is not a whole number of seconds from 2 to 86400`, 'e.g. --ttl 30');
    }
    const node = validateName(argv.node ?? hostname(), 'node');
    const ctl = await openController(argv, 'agent');
    const log = (line: string) => process.stderr.write(`berth agent: ${line}\n`);
    const agent = await controllerAgent(ctl, { node, address, ttlSeconds: argv.ttl, log });
    await agent.start();
    const { blocks, lease } = agent.status();
    const held = Object.entries(blocks).map(([net, block]) => `${block} of ${net}`);
    log(
      `${node} at ${address}, lease ${lease}: ${held.length ? `holds ${held.join(', ')}` : 'no overlay network yet'}`,
    );
    const signalled = new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    let why: string | undefined;
    // The daemon serves the netns it runs in: with --host-netns the calls are another netns's.
    if (argv.serve && !ctl.hostNetnsPath) {
      const pluginDir = argv.dir ?? join(defaultBuildDir(), 'cni');
      // Until a signal, or an upgrade of this berth or of the clients' daemon (a service manager restarts it).
      const code = await runDaemon({
        pluginDir,
        idleMs: 0,
        codeFiles: [fileURLToPath(import.meta.url), join(pluginDir, DAEMON_BUNDLE)],
        log,
      });
      if (code === 0) why = 'the CNI call server stopped';
      else log('the CNI calls stay with that daemon; this process keeps the overlay only');
    } else if (argv.serve) {
      log('not serving CNI calls: --host-netns names another netns, and a daemon serves the one it runs in');
    }
    why ??= await signalled;
    log(`${why}: stopping${argv['release-on-exit'] ? ', giving the blocks back' : ''}`);
    await agent.stop({ revoke: argv['release-on-exit'] });
  },
};
