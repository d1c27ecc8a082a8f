// `dawnet bench --tuning` (bench/tuning-summary.ts) on made-up records: each conv case's tuned side
// against what the row ran, with the tfjs ratios it would make; each end-to-end step's tuned time
// against the untuned one interleaved with it, and the convs tuned away from the rule's way.

import { describe, expect, it } from 'vitest';
import type { E2eResult, TuningChoice } from '../../bench/e2e.js';
import type { CaseResult, SideResult } from '../../bench/harness.js';
import { parseBenchArgs } from '../../bench/options.js';
import type { BenchRecord } from '../../bench/report.js';
import { summarise } from '../../bench/timing.js';
import { tuningLines, tuningSummary } from '../../bench/tuning-summary.js';

function side(ms: number): SideResult {
  const t = summarise([ms, ms, ms]);
  return { timing: t, wall: t, clock: 'gpu-timestamp', rate: 1 / ms, pctPeak: null };
}

function convRow(id: string, ran: string, dnMs: number, tfMs: number | null, alternatives: { algorithm: string; ms: number }[]): CaseResult {
  return {
    id, group: 'conv2d', shape: '16x256x256x32 k3 ->32', metric: 'flops', work: 1, algorithm: ran, alternatives,
    dawnet: side(dnMs), tfjs: tfMs === null ? null : side(tfMs), ratio: null, ratioClock: 'gpu-timestamp', check: null,
  };
}

const choice = (conv: string, algorithm: TuningChoice['algorithm'], rule: string | undefined, tile?: string): TuningChoice => ({
  conv, algorithm, ...(tile ? { tile } : {}), ms: { [algorithm]: 1 }, ...(rule ? { rule, ruleMs: 2 } : {}),
});

function step(id: string, tuning: TuningChoice[], tunedMs: number, untunedMs: number): E2eResult {
  return {
    ...convRow(id, 'auto', untunedMs, null, [{ algorithm: 'direct', ms: 9 }, { algorithm: 'tuned', ms: tunedMs, pairedMs: untunedMs } as never]),
    group: 'e2e', batch: 16, flops: 1, memory: null, tfjsMemory: null, tuning,
  } as E2eResult;
}

function record(rows: CaseResult[], e2e: E2eResult[] = []): BenchRecord {
  return {
    date: '2026-01-01T00:00:00.000Z', adapter: 'gpu (test)', adapterReport: {}, command: 'dawnet bench', scale: 1,
    timing: { reps: 5, warmup: 1 }, tfjs: { version: '4.22.0', adapter: 'test' }, syncOverheadMs: { dawnet: 0, tfjs: 0 },
    peak: null, rows, e2e,
  };
}

describe('bench --tuning', () => {
  it('gives each conv case its tuned way, speedup and tfjs ratios; leaves out rows without a tuned side', () => {
    const rec = record([
      convRow('conv2d.forward/unet-l1', 'winograd', 0.667, 1.14, [{ algorithm: 'direct', ms: 0.9 }, { algorithm: 'tuned: winograd-fused', ms: 0.3 }]),
      convRow('conv2d.forward/unet-l2', 'winograd', 0.42, null, [{ algorithm: 'tuned: winograd 64x32x32/4x4', ms: 0.4 }]),
      convRow('conv2d.backwardWeight/unet-l1', 'direct', 1, 2, []),
    ]);
    const { cases } = tuningSummary(rec);
    expect(cases.map((c) => [c.id, c.ran, c.tuned])).toEqual([
      ['conv2d.forward/unet-l1', 'winograd', 'winograd-fused'],
      ['conv2d.forward/unet-l2', 'winograd', 'winograd 64x32x32/4x4'],
    ]);
    expect(cases[0].speedup).toBeCloseTo(0.667 / 0.3, 10);
    expect(cases[0].tfjsOverTuned).toBeCloseTo(1.14 / 0.3, 10);
    expect(cases[0].tfjsOverRan).toBeCloseTo(1.14 / 0.667, 10);
    expect(cases[1].tfjsOverTuned).toBeNull();
    expect(tuningLines(rec, 'r.json')).toMatch(/^conv2d\.forward\/unet-l1 +winograd +0\.667 +winograd-fused +0\.300 +2\.22x +3\.80x \(1\.71x\)$/m);
  });

  it('gives each step its speedup and the convs tuned away from the rule, or says the record cannot tell', () => {
    const rec = record([], [
      step('unet.train/b16', [
        choice('forward 16x256x256 32->32', 'winograd-fused', 'winograd 128x32x8/8x4'),
        choice('forward 16x128x128 64->64', 'winograd', 'winograd 128x64x8/8x4', '128x64x8/8x4'),
        choice('backwardInput 16x128x128 64->32', 'direct', 'winograd 128x32x8/8x4', '256x32x8/8x4'),
      ], 40, 50),
      step('vgg16.forward/b32', [choice('forward 32x256x256 64->64', 'winograd', undefined)], 20, 20),
    ]);
    const { steps } = tuningSummary(rec);
    expect(steps[0].speedup).toBeCloseTo(1.25, 10);
    expect(steps[0].changed!.map((c) => c.conv)).toEqual(['forward 16x256x256 32->32', 'backwardInput 16x128x128 64->32']);
    expect(steps[1].changed).toBeNull();
    const text = tuningLines(rec, 'r.json');
    expect(text).toContain('unet.train/b16: tuned 1.25x as fast as untuned (interleaved); 2 of 3 convs tuned away from the rule:');
    expect(text).toContain('  backwardInput 16x128x128 64->32: winograd 128x32x8/8x4 2.00 ms -> direct 256x32x8/8x4 1.00 ms');
    expect(text).toContain("vgg16.forward/b32: tuned 1.00x as fast as untuned (interleaved); tuning timed 1 conv(s) (the record does not name the rule's ways)");
  });

  it('says so when a record has no tuned sides, and parses --tuning RECORD', () => {
    expect(tuningLines(record([convRow('c', 'direct', 1, 2, [])]), 'r.json')).toMatch(/no tuned sides in this record/);
    expect(parseBenchArgs(['--tuning', 'r.json'])!.tuning).toBe('r.json');
    expect(parseBenchArgs([])!.tuning).toBeNull();
    expect(() => parseBenchArgs(['--tuning'])).toThrow(/--tuning needs a record file/);
  });
});
