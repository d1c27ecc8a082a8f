// A `dawnet bench` selection that matches no case (a misspelt --only, --group e2e with --no-e2e)
// is a usage error raised before any GPU work: the run used to measure the peaks and save an empty
// record, and --list printed nothing. Each loaded case's group is one --group accepts.

import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/options.js';
import { GROUPS, loadCases, loadE2eCases } from '../../bench/registry.js';
import { runBenchRecord, selectCases } from '../../bench/run.js';
import { UsageError } from '../../src/cli/args.js';

const opts = (...args: string[]) => parseBenchArgs(args)!;

describe('bench case selection', () => {
  it('refuses a selection that matches nothing, naming it', async () => {
    await expect(selectCases(opts('--only', 'nomatch-xyz'), 32)).rejects.toThrow(UsageError);
    await expect(selectCases(opts('--group', 'elementwise', '--only', 'nomatch-xyz'), 32)).rejects.toThrow(/no case matches --group elementwise --only 'nomatch-xyz'/);
    await expect(selectCases(opts('--group', 'e2e', '--no-e2e'), 32)).rejects.toThrow(/no case matches --group e2e --no-e2e/);
  });

  it('returns what a selection matches', async () => {
    const s = await selectCases(opts('--group', 'elementwise,e2e', '--only', 'relu-1|unet.train/b'), 32);
    expect(s.kernels.map((c) => c.id)).toEqual(['launch/relu-1']);
    expect(s.e2e.map((c) => c.id).every((id) => id.startsWith('unet.train/b'))).toBe(true);
  });

  it('checks the selection before it measures anything', async () => {
    // No runtime exists here: anything measured first would fail with another error.
    const host = { opts: opts('--only', 'nomatch-xyz'), command: 'dawnet bench', report: {} as never, scale: 32, peer: null, ownsRuntime: true, out: null, save: () => { throw new Error('saved'); } };
    await expect(runBenchRecord(host)).rejects.toThrow(/no case matches --only 'nomatch-xyz'/);
  });

  it('every case belongs to a group that --group accepts', async () => {
    const groups = new Set([...loadE2eCases(32), ...(await loadCases(32, { naive: true }))].map((c) => c.group));
    expect([...groups].filter((g) => !GROUPS.includes(g))).toEqual([]);
    expect(groups.size).toBeGreaterThan(10);
  });
});
