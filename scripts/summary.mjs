// Reads vitest's JSON report and prints the plain closing line CI looks for.
// A failed lint counts as one failed check.
import { readFileSync } from 'node:fs';

const [report, lintFailed] = process.argv.slice(2);
let passed = 0;
let failed = Number(lintFailed === '1');
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests;
  failed +=
    r.numFailedTests +
    // A file that failed outside its tests (an import, a beforeAll) has none failed, only skipped ones.
    (r.testResults ?? []).filter(
      (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
    ).length;
  skipped = r.numPendingTests + r.numTodoTests;
} catch (e) {
  console.error(`no test report at ${report}: ${e.message}`);
  failed += 1;
}
console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
