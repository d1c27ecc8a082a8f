// Prints "N passed, N failed" from vitest's JSON report, so a run that executed no test shows as
// "0 passed, 0 failed" rather than as silence. A run that failed is never summed up as 0 failed:
// tests that never reported (their worker died) and an unhandled error count as failures, said
// on stderr. Exits 1 when the report is missing.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.log('0 passed, 0 failed');
  console.error(`summarize-tests: no vitest report at ${file}: ${e.message}`);
  process.exit(1);
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// Tests that never reported: their worker died under them (vitest: "Worker exited unexpectedly").
const unreported = Math.max(0, (report.numTotalTests ?? 0) - report.numPassedTests - report.numFailedTests - skipped);
let failed = report.numFailedTests + countFilesFailedWithoutTests(report) + unreported;
if (unreported) console.error(`summarize-tests: ${unreported} test(s) never reported (a worker that exited under them): counted as failed`);
// An unhandled error fails the run though every test passed: the line must not say otherwise.
if (report.success === false && failed === 0) {
  failed = 1;
  console.error('summarize-tests: vitest reports the run failed (an unhandled error) with no test failed: counted as 1 failed');
}
console.log(`${report.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);

// A test file that fails to load (or in a hook) fails with no failed test in it: count it once.
// (numFailedTestSuites is no help: vitest counts a failing describe block there as well as its
// file, so one failed test inside a describe came out as 2 failed.)
function countFilesFailedWithoutTests(r) {
  return (r.testResults ?? []).filter(
    (s) => s.status === 'failed' && !(s.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
}
