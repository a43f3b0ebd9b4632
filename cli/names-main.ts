// The entry of dist/cni/berth-names.js: the name service of one state dir, which a call that
// attaches a sandbox to a network with names starts detached in the host netns when none runs.
// `berth names serve` runs the same in the foreground.
import { asBerthError } from '../base/errors.js';
import { runNameService } from '../network/names/run.js';
import { DEFAULT_STATE_DIR } from '../network/state.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

const argv = process.argv.slice(2);
const at = argv.indexOf('--state-dir');
const stateDir = at >= 0 && argv[at + 1] ? argv[at + 1]! : DEFAULT_STATE_DIR;

runNameService({ stateDir, log }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`name service ${process.pid}: ${asBerthError(e).message}`);
    process.exit(1);
  },
);
