import yargs, { type Argv } from 'yargs';
import { asBerthError } from '../base/errors.js';
import { agentCommand } from './commands/agent.js';
import { connectCommand, disconnectCommand } from './commands/connect.js';
import { daemonCommand } from './commands/daemon.js';
import { demoCommand } from './commands/demo.js';
import { doctorCommand } from './commands/doctor.js';
import { firewallCommand } from './commands/firewall.js';
import { gcCommand } from './commands/gc.js';
import { inspectCommand } from './commands/inspect.js';
import { installPluginsCommand } from './commands/install-plugins.js';
import { namesCommand } from './commands/names.js';
import { networkCommand } from './commands/network.js';
import { portCommand } from './commands/port.js';
import { runCommand } from './commands/run.js';
import { sandboxCommand } from './commands/sandbox.js';
import { closeControllers, DEFAULT_STATE_DIR } from './context.js';
import { UsageError } from './usage.js';

/**
 * Exit statuses: 0 success; 1 an operation failed (an unknown network, a name
 * taken, no root, a kernel error; nothing was left half made); 2 bad usage (an
 * unknown command or option, a malformed value; nothing was changed).
 * `berth run` exits with its command's status instead: 126 it could not be
 * executed, 127 it was not found, 128+N it was killed by signal N.
 * `berth doctor` exits 1 when it finds a problem, `berth gc` when a removal failed.
 */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error as one line that names the fix: "berth: <what was wrong> (<how to fix it>)". */
export function errorLine(e: unknown): string {
  const err = asBerthError(e);
  const line = `berth: ${err.msg}${err.details ? ` (${err.details})` : ''}`;
  return line.replace(/\s*\n\s*/g, ' ');
}

export async function main(argv: readonly string[]): Promise<number> {
  let suggestion = '';
  process.exitCode = undefined;
  const parser: Argv = yargs([...argv])
    .scriptName('berth')
    .usage(
      '$0 <command> [options]\n\nContainer networking for Linux: bridge networks, sandboxes (network namespaces), processes run in them.',
    )
    .option('state-dir', {
      type: 'string',
      global: true,
      default: process.env.BERTH_STATE_DIR || DEFAULT_STATE_DIR,
      defaultDescription: `$BERTH_STATE_DIR or ${DEFAULT_STATE_DIR}`,
      describe: 'where berth keeps its records',
    })
    .option('etcd', {
      type: 'string',
      global: true,
      default: process.env.BERTH_ETCD || '',
      defaultDescription: '$BERTH_ETCD',
      describe: "the cluster's store for overlay networks: etcd's client URL(s), comma-separated",
    })
    .option('host-netns', {
      type: 'string',
      global: true,
      default: process.env.BERTH_HOST_NETNS || '',
      defaultDescription: '$BERTH_HOST_NETNS or the current netns',
      describe: 'the netns that plays the host (a path, or a name in /run/netns): bridges and rules go there',
    })
    .command(networkCommand)
    .command(sandboxCommand)
    .command(connectCommand)
    .command(disconnectCommand)
    .command(runCommand)
    .command(portCommand)
    .command(firewallCommand)
    .command(namesCommand)
    .command(inspectCommand)
    .command(doctorCommand)
    .command(gcCommand)
    .command(agentCommand)
    .command(installPluginsCommand)
    .command(daemonCommand)
    .command(demoCommand)
    .command({
      command: 'completion',
      describe: 'print a bash/zsh completion script for berth',
      builder: (y) =>
        y
          .example('$0 completion >> ~/.bashrc', 'complete commands, options and choices in bash')
          .example('$0 completion >> ~/.zshrc', 'the same in zsh'),
      handler: (): void => {
        parser.showCompletionScript();
      },
    })
    // The answers the script asks for (`berth --get-yargs-completions ...`); the command above prints the script.
    .completion('__completion', false)
    .example('$0 network create web', 'a bridge network with a free /24')
    .example('$0 run --network web -- ip addr', 'a process in a new sandbox on it')
    .example('$0 sandbox create app && $0 connect web app', 'a sandbox that stays, then connected')
    .example('$0 inspect --graph | dot -Tsvg > berth.svg', 'the topology as a picture')
    .example('$0 doctor', 'what is missing or stale, and how to fix it')
    .demandCommand(1, 'name a command; see berth --help')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .epilogue('Exit status: 0 ok, 1 failed, 2 bad usage. Reference: docs/cli/README.md')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      // yargs suggests a command first, then fails on the unknown word: both go in one line.
      if (msg.startsWith('Did you mean')) {
        suggestion = ` (${msg})`;
        return;
      }
      const hint =
        /Unknown arguments?:/.test(msg) && argv.includes('run') && !argv.includes('--')
          ? ' (put -- before the command: berth run [options] -- COMMAND...)'
          : suggestion;
      // Thrown, not printed: yargs would otherwise go on and run the command.
      throw new UsageError(`${msg.replace(/\s*\n\s*/g, ' ')}${hint}`);
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    process.stderr.write(`${errorLine(e)}\n`);
    return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    await closeControllers();
  }
  return Number(process.exitCode ?? 0);
}
