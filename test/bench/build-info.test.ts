// scripts/build-info.mjs: the commit a bundle names in its benchmark records.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script, without types
import { buildCommit, buildDefine } from '../../scripts/build-info.mjs';
import { markdownReport } from '../../bench/markdown.js';
import type { BenchRecord } from '../../bench/report.js';

const inGit = spawnSync('git', ['rev-parse', 'HEAD']).status === 0;

describe('build info', () => {
  it.skipIf(!inGit)("names this checkout's commit, marked when tracked files differ, and 'unknown' outside git", () => {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no']).toString().trim() !== '';
    expect(buildCommit()).toBe(dirty ? `${head}+changes` : head);
    expect(buildDefine()).toEqual({ __DAWNET_BUILD__: JSON.stringify(buildCommit()) });
    const outside = mkdtempSync(join(tmpdir(), 'dawnet-no-git-'));
    try {
      expect(buildCommit(outside)).toBe('unknown');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('a record that names its commit says so in the README section', () => {
    const rec = { date: '2026-11-27T00:00:00Z', adapter: 'some gpu', command: 'dawnet bench', scale: 1, timing: { reps: 5, warmup: 2 }, tfjs: null, peak: null, rows: [], e2e: [], skipped: [] } as unknown as BenchRecord;
    expect(markdownReport({ ...rec, commit: 'abc1234' })).toContain('Measured on **some gpu** on 2026-11-27 (dawnet at abc1234) with');
    expect(markdownReport(rec)).toContain('Measured on **some gpu** on 2026-11-27 with');
  });
});
