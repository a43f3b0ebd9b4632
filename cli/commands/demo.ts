import type { CommandModule } from 'yargs';
import { runDemo } from '../demo.js';

export const demoCommand: CommandModule = {
  command: 'demo',
  describe: "berth's main job end to end, in namespaces of its own, then removed",
  builder: (y) => y.example('$0 demo', 'a bridge network, two sandboxes, an HTTP request between them, teardown'),
  handler: async () => {
    let n = 0;
    await runDemo((step, proof) => {
      n += 1;
      process.stdout.write(`${String(n).padStart(2)}. ${step}\n${proof ? `    proves: ${proof}\n` : ''}`);
    });
    process.stdout.write('demo passed\n');
  },
};
