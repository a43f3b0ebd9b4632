import type { Argv, CommandModule } from 'yargs';
import { type Finding, isHealthy } from '../../network/doctor/findings.js';
import { checkKernel } from '../../network/doctor/kernel-checks.js';
import { checkState } from '../../network/doctor/state-gather.js';
import { checkOverlay } from '../../network/overlay/doctor.js';
import { type GlobalArgs, openController } from '../context.js';
import { print, printJson } from '../output.js';

interface DoctorArgs extends GlobalArgs {
  json: boolean;
  kernel: boolean;
  state: boolean;
}

const LABELS: Readonly<Record<Finding['severity'], string>> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

export const findingLine = (f: Finding) =>
  `${LABELS[f.severity]} ${f.area}: ${f.message}${f.fix ? `; fix: ${f.fix}` : ''}`;

export const doctorCommand: CommandModule<GlobalArgs, DoctorArgs> = {
  command: 'doctor',
  describe: "check the kernel features berth needs and berth's state against the kernel; exit 1 when unhealthy",
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print {healthy, findings} as JSON' })
      .option('kernel', {
        type: 'boolean',
        default: true,
        describe: 'try the kernel features (--no-kernel skips them)',
      })
      .option('state', { type: 'boolean', default: true, describe: 'check the records (--no-state skips them)' })
      .example('$0 doctor', 'one line per check; FAIL lines say how to fix them')
      .example('$0 doctor --no-kernel && echo healthy', 'only the state, for a script')
      .example('$0 doctor || $0 gc', 'remove what is stale') as Argv<DoctorArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'doctor');
    const findings: Finding[] = [];
    if (argv.kernel) {
      const bridgeNetworks = ctl
        .networks()
        .filter((n) => n.driver === 'bridge' || n.driver === 'overlay')
        .map((n) => n.name);
      findings.push(...(await checkKernel({ hostNetnsPath: ctl.hostNetnsPath, bridgeNetworks })));
    }
    if (argv.state) findings.push(...(await checkState(ctl)), ...(await checkOverlay(ctl)));
    const healthy = isHealthy(findings);
    if (argv.json) printJson({ healthy, findings });
    else print(findings.map(findingLine).join('\n'));
    if (!healthy) process.exitCode = 1;
  },
};
