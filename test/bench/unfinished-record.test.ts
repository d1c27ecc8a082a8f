// A run stopped part-way (Ctrl-C, a crash) keeps the record of its last save: that record lists the
// selected cases it had not run yet ('unfinished'), and --markdown says so, where it used to read as
// the whole selection; the record of a finished run has no such list.

import { describe, expect, it } from 'vitest';
import { markdownReport } from '../../bench/markdown.js';
import { parseBenchArgs } from '../../bench/options.js';
import type { BenchRecord } from '../../bench/report.js';
import { runBenchRecord } from '../../bench/run.js';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('bench record of a run stopped part-way', () => {
  it('lists the cases not yet run at each save, and none at the end', async () => {
    const opts = parseBenchArgs(['--only', '^(relu|add)/unet-l1$', '--no-e2e', '--no-peak', '--no-tfjs', '--no-beside', '--reps', '1', '--warmup', '0', '--min-sample-ms', '0', '--clock', 'wall'])!;
    const saves: BenchRecord[] = [];
    const log = console.log;
    console.log = () => {};
    try {
      await runBenchRecord({ opts, command: 'dawnet bench', report: runtime().ctx.report, scale: 32, peer: null, ownsRuntime: false, out: null, save: (r) => saves.push(structuredClone(r)) });
    } finally {
      console.log = log;
    }
    expect(saves.map((r) => r.unfinished)).toEqual([['add/unet-l1'], undefined, undefined]);
    expect(markdownReport(saves[0])).toMatch(/Not run \(the run stopped before them\): `add\/unet-l1`/);
    expect(markdownReport(saves.at(-1)!)).not.toMatch(/the run stopped/);
  }, 60_000);
});
