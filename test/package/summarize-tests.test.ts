// scripts/summarize-tests.mjs, the last line of .ci/run: "N passed, N failed" from vitest's JSON
// report, on reports written here. A run that failed must never read "0 failed": a test whose
// worker died before it reported (a CI run lost one so, and the line said 0 failed) and an
// unhandled error with every test passed both count.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'dawnet-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Status = 'passed' | 'failed' | 'pending' | 'skipped';

/** A report of files, each a file status and its tests' statuses. */
function report(files: [Status, Status[]][], success: boolean, extra: { pending?: number } = {}): object {
  const tests = files.flatMap(([, t]) => t);
  const count = (s: Status) => tests.filter((t) => t === s).length;
  return {
    numTotalTests: tests.length,
    numPassedTests: count('passed'),
    numFailedTests: count('failed'),
    numPendingTests: extra.pending ?? count('skipped'),
    numTodoTests: 0,
    success,
    testResults: files.map(([status, t], i) => ({ name: `f${i}.test.ts`, status, assertionResults: t.map((a) => ({ status: a })) })),
  };
}

function summarize(r: object | null): { line: string; stderr: string; status: number | null } {
  const file = join(dir, `r${Math.random()}.json`);
  if (r) writeFileSync(file, JSON.stringify(r));
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts/summarize-tests.mjs'), file], { encoding: 'utf8' });
  return { line: run.stdout.trim().split('\n').at(-1)!, stderr: run.stderr, status: run.status };
}

describe('summarize-tests', () => {
  it('counts passes, failures and skips', () => {
    expect(summarize(report([['passed', ['passed', 'passed']], ['failed', ['passed', 'failed']]], false)).line).toBe('3 passed, 1 failed');
    expect(summarize(report([['passed', ['passed', 'skipped']]], true)).line).toBe('1 passed, 0 failed, 1 skipped');
  });

  it('counts a file that failed without a failed test (it did not load) once', () => {
    expect(summarize(report([['passed', ['passed']], ['failed', []]], false)).line).toBe('1 passed, 1 failed');
  });

  it('counts tests that never reported, their worker dead, as failed, and says so', () => {
    // As the CI run had it: the test left 'pending' but not counted as pending.
    const s = summarize(report([['passed', ['passed', 'passed', 'pending']]], false, { pending: 0 }));
    expect(s.line).toBe('2 passed, 1 failed');
    expect(s.stderr).toContain('1 test(s) never reported');
  });

  it('counts an unhandled error with every test passed as one failure', () => {
    const s = summarize(report([['passed', ['passed', 'passed']]], false));
    expect(s.line).toBe('2 passed, 1 failed');
    expect(s.stderr).toContain('an unhandled error');
  });

  it('a missing report reads 0 passed, 0 failed and exits 1', () => {
    const s = summarize(null);
    expect([s.line, s.status]).toEqual(['0 passed, 0 failed', 1]);
  });
});
