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
    (r.testResults ?? []).filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  skipped = r.numPendingTests + r.numTodoTests;
} catch (e) {
  console.error(`no test report at ${report}: ${e.message}`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
