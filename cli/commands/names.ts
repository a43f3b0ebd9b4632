import type { Argv, CommandModule } from 'yargs';
import { runNameService } from '../../network/names/run.js';
import { type GlobalArgs, requireRoot } from '../context.js';
import { UsageError } from '../usage.js';

interface ServeArgs extends GlobalArgs {
  'idle-timeout': number;
}

const serve: CommandModule<GlobalArgs, ServeArgs> = {
  command: 'serve',
  describe: "run the state dir's name service in the foreground, in this netns (for a service manager)",
  builder: (y) =>
    y
      .option('idle-timeout', {
        type: 'number',
        default: 0,
        describe: 'exit after this many ms with no network with names; 0 never',
      })
      .example('$0 names serve', 'until SIGTERM; a berth call finds it and starts no other')
      .example(
        'ip netns exec lab $0 names serve --state-dir /var/lib/berth-lab',
        'for a host netns of its own',
      ) as Argv<ServeArgs>,
  handler: async (argv) => {
    requireRoot('names serve');
    if (argv['host-netns']) {
      throw new UsageError(
        'berth names serve listens in the netns it runs in, and --host-netns names another',
        `start it there: ip netns exec NAME berth names serve --state-dir ${argv['state-dir']}`,
      );
    }
    const idleMs = argv['idle-timeout'];
    if (!Number.isInteger(idleMs) || idleMs < 0) {
      throw new UsageError(`--idle-timeout ${idleMs} is not a whole number of ms`, 'give 0 (never) or more');
    }
    const log = (line: string) => process.stderr.write(`${line}\n`);
    process.exitCode = await runNameService({ stateDir: argv['state-dir'], idleMs, log });
  },
};

export const namesCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'names <command>',
  describe: 'the name service of networks with names',
  builder: (y) =>
    y
      .command(serve)
      .demandCommand(1, 'name a names command: serve')
      .example('$0 names serve', 'the name service in the foreground; otherwise the first join starts it detached'),
  handler: () => {},
};
