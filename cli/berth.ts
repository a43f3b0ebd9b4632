import yargs from 'yargs';
import { asBerthError } from '../network/errors.js';
import { demoCommand } from './commands/demo.js';

/** Exit statuses: 0 success, 1 an operation failed, 2 bad usage. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export async function main(argv: readonly string[]): Promise<number> {
  let status = 0;
  const parser = yargs([...argv])
    .scriptName('berth')
    .usage('$0 <command> [options]\n\nContainer networking for Linux: bridge networks, sandboxes, published ports.')
    .command(demoCommand)
    .demandCommand(1, 'name a command; see berth --help')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`berth: ${msg}\n`);
      status = EXIT_USAGE;
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    const err = asBerthError(e);
    process.stderr.write(`berth: ${err.msg}${err.details ? ` (${err.details})` : ''}\n`);
    return EXIT_FAILURE;
  }
  return status || Number(process.exitCode ?? 0);
}
