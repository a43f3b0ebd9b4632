import type { Argv, CommandModule } from 'yargs';
import { collectGarbage } from '../../network/doctor/repairs.js';
import { type GlobalArgs, openController } from '../context.js';
import { print, printJson } from '../output.js';

interface GcArgs extends GlobalArgs {
  json: boolean;
}

export const gcCommand: CommandModule<GlobalArgs, GcArgs> = {
  command: 'gc',
  describe: 'remove what berth doctor finds stale: sandboxes without netns, orphaned endpoints, reservations, rules',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print [{what, error, done}] as JSON' })
      .example('$0 gc', 'one line per removal; exit 1 when one of them failed')
      .example('$0 doctor --no-kernel || $0 gc', 'only when something is stale') as Argv<GcArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'gc');
    const results = await collectGarbage(ctl);
    if (argv.json) printJson(results);
    else if (results.length === 0) print('nothing stale');
    else
      print(
        results.map((r) => (r.error === null ? `${r.done}: ${r.what}` : `FAILED: ${r.what}: ${r.error}`)).join('\n'),
      );
    if (results.some((r) => r.error !== null)) process.exitCode = 1;
  },
};
