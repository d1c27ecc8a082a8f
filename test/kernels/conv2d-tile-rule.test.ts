// The GPU rules for an untuned conv (ruleConvAlgorithm's weight gradient, ruleGemmTile's tiles),
// at their edges, and against what tuning chose for every conv of the H200 run they were written
// from (bench/results/nvidia-h200-2026-11-27/run8-full.json), and the row-patch kernel's first
// conv against run 11 (bench/results/nvidia-h200-2026-11-28/run11-candidates.json).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { conv2dGeometry, type ConvGeometry } from '../../src/kernels/conv2d.js';
import { CONV_TILE, formatGemmTile, GRID_TILE, SLIM_DEEP_TILE, SQUARE_TILE, WIDE_TILE } from '../../src/kernels/conv2d-tiled.js';
import { GRID_TILE_MAX_WIDE_WORKGROUPS, ruleGemmTile } from '../../src/kernels/conv2d-tile-rule.js';
import { CPU_WINOGRAD_WGRAD_MIN_BLOCKS, ruleConvAlgorithm, WINOGRAD_WGRAD_MIN_CIN } from '../../src/kernels/conv2d-winograd-run.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const same = (n: number, h: number, w: number, cin: number, cout: number): ConvGeometry => conv2dGeometry([n, h, w, cin], [3, 3, cin, cout], { padding: 'same' });

describe('ruleGemmTile', () => {
  it("takes SQUARE_TILE for Winograd's weight gradient of 32 rows or columns, else CONV_TILE", () => {
    expect(ruleGemmTile('backwardWeight', same(16, 256, 256, 32, 32), 'winograd')).toBe(SQUARE_TILE);
    expect(ruleGemmTile('backwardWeight', same(16, 256, 256, 64, 32), 'winograd')).toBe(SQUARE_TILE);
    expect(ruleGemmTile('backwardWeight', same(16, 128, 128, 32, 64), 'winograd')).toBe(SQUARE_TILE);
    expect(ruleGemmTile('backwardWeight', same(16, 128, 128, 64, 64), 'winograd')).toBe(CONV_TILE);
    // tiledTileFor would give WIDE_TILE at 256 columns.
    expect(ruleGemmTile('backwardWeight', same(16, 32, 32, 256, 256), 'winograd')).toBe(CONV_TILE);
  });

  it('takes SQUARE_TILE for a direct weight gradient of at most 32 rows and 32 columns', () => {
    expect(ruleGemmTile('backwardWeight', same(16, 256, 256, 3, 32), 'direct')).toBe(SQUARE_TILE);
    // 36 rows, or 64 columns (VGG16's conv1_1): the rule by N.
    expect(ruleGemmTile('backwardWeight', same(16, 256, 256, 4, 32), 'direct')).toBe(SLIM_DEEP_TILE);
    expect(ruleGemmTile('backwardWeight', same(32, 256, 256, 3, 64), 'direct')).toBe(CONV_TILE);
  });

  it("takes GRID_TILE for Winograd's batched GEMM where WIDE_TILE would launch few workgroups", () => {
    // 16x16 images at batch 16: 256 blocks, 36 × 2 × 4 = 288 workgroups of 128x128.
    expect(ruleGemmTile('forward', same(16, 16, 16, 512, 512), 'winograd')).toBe(GRID_TILE);
    expect(GRID_TILE_MAX_WIDE_WORKGROUPS).toBe(288);
    // 257 blocks (one more row of blocks): 36 × 3 × 4 = 432.
    expect(ruleGemmTile('forward', same(1, 4, 4 * 257, 512, 512), 'winograd')).toBe(WIDE_TILE);
    // The backward input's columns are Cin: 256 at 512 blocks gives 36 × 4 × 2 = 288.
    expect(ruleGemmTile('backwardInput', same(8, 32, 32, 256, 512), 'winograd')).toBe(GRID_TILE);
    // The direct GEMM keeps WIDE_TILE; so do Winograd's GEMMs of many blocks.
    expect(ruleGemmTile('forward', same(16, 16, 16, 512, 512), 'direct')).toBe(WIDE_TILE);
    expect(ruleGemmTile('forward', same(16, 64, 64, 128, 128), 'winograd')).toBe(WIDE_TILE);
  });
});

describe("ruleConvAlgorithm's weight gradient", () => {
  it(`takes Winograd on GPUs from Cin = ${WINOGRAD_WGRAD_MIN_CIN} and 4x4 outputs, on 8-lane CPU adapters from ${CPU_WINOGRAD_WGRAD_MIN_BLOCKS} blocks`, () => {
    const wgrad = (g: ConvGeometry, cpu = false) => ruleConvAlgorithm('backwardWeight', g, 'tiled', cpu);
    expect(wgrad(same(2, 16, 16, 32, 8))).toBe('winograd');
    expect(wgrad(same(2, 16, 16, 31, 8))).toBe('direct');
    expect(wgrad(same(2, 16, 16, 32, 8), true)).toBe('direct');
    // The bench's U-Net l1 at scale 8: 2 x 8 x 8 = 128 blocks, left direct; 256 blocks and more by Winograd.
    expect(wgrad(same(2, 32, 32, 32, 32), true)).toBe('direct');
    expect(wgrad(same(4, 32, 32, 32, 32), true)).toBe('winograd');
    expect(wgrad(same(255, 4, 4, 64, 64), true)).toBe('direct');
    expect(wgrad(same(256, 4, 4, 64, 64), true)).toBe('winograd');
    expect(wgrad(same(16, 256, 256, 32, 32), true)).toBe('winograd');
    // winogradWeightGradPays still has the last word: Cin under 32, or outputs under 4x4.
    expect(wgrad(same(16, 256, 256, 16, 32), true)).toBe('direct');
    expect(wgrad(same(1024, 2, 2, 64, 64), true)).toBe('direct');
    // A 2x2 output fills a quarter of its 4x4 block: 36 products a block for 4 outputs.
    expect(wgrad(same(2, 2, 2, 64, 64))).toBe('direct');
    expect(wgrad(conv2dGeometry([2, 16, 16, 64], [3, 3, 64, 64], { padding: 'same', stride: 2 }))).toBe('direct');
  });
});

interface TunedEntry {
  conv: string;
  algorithm: string;
  tile?: string;
  ms: Record<string, number>;
}

describe('the rules against the H200 run they come from', () => {
  it('pick what tuning picked at each of its 100 3x3 stride-1 convs, but the 3-channel forwards, now row-patch (run 11)', () => {
    const rec = JSON.parse(readFileSync(new URL('../../bench/results/nvidia-h200-2026-11-27/run8-full.json', import.meta.url), 'utf8')) as { e2e: { id: string; tuning: TunedEntry[] }[] };
    const differ: string[] = [];
    const rowPatch: string[] = [];
    let convs = 0;
    for (const step of rec.e2e) {
      for (const t of step.tuning) {
        const m = /^(forward|backwardInput|backwardWeight) (\d+)x(\d+)x(\d+) (\d+)->(\d+)$/.exec(t.conv);
        expect(m, t.conv).not.toBeNull();
        // Not a 3x3 stride-1 conv (the record leaves out kernel and stride): no Winograd was timed.
        if (t.ms.winograd === undefined) continue;
        const dir = m![1] as 'forward' | 'backwardInput' | 'backwardWeight';
        // The channels each direction goes from and to: dx from Cout to Cin (bench/e2e.ts).
        const [n, h, w, from, to] = m!.slice(2).map(Number);
        const [cin, cout] = dir === 'backwardInput' ? [to, from] : [from, to];
        const g = same(n, h, w, cin, cout);
        const algorithm = ruleConvAlgorithm(dir, g, 'tiled', false);
        convs++;
        // The row-patch kernel came after run 8, which tuned without it: run 11 timed it (below).
        if (algorithm === 'row-patch') {
          rowPatch.push(`${step.id} ${t.conv}`);
          continue;
        }
        const tile = formatGemmTile(ruleGemmTile(dir, g, algorithm));
        if (algorithm !== t.algorithm || tile !== t.tile) differ.push(`${step.id} ${t.conv}: rule ${algorithm} ${tile}, tuned ${t.algorithm} ${t.tile}`);
      }
    }
    expect(convs).toBe(100);
    expect(differ).toEqual([]);
    // Each of the four steps' first conv (3 channels in) and nothing else.
    expect(rowPatch).toEqual(rec.e2e.map((s) => expect.stringMatching(new RegExp(`^${s.id.replace('.', '\\.')} forward \\d+x256x256 3->(32|64)$`))));
  });

  it("run 11 (2026-11-28): at VGG16's conv1_1 row-patch beat every other way and tuning chose it", () => {
    const rec = JSON.parse(readFileSync(new URL('../../bench/results/nvidia-h200-2026-11-28/run11-candidates.json', import.meta.url), 'utf8')) as { rows: { id: string; algorithm: string; dawnet: { timing: { medianMs: number } }; alternatives: { algorithm: string; ms: number }[] }[] };
    const row = rec.rows.find((r) => r.id === 'conv2d.forward/vgg-conv1_1')!;
    expect(row.algorithm, 'the rule before row-patch').toBe('direct');
    const ms = new Map(row.alternatives.map((a) => [a.algorithm, a.ms]));
    const rowPatch = Math.min(ms.get('row-patch')!, ms.get('row-patch P=4')!);
    for (const [a, t] of [['direct', row.dawnet.timing.medianMs], ...ms] as [string, number][]) {
      if (!a.startsWith('row-patch') && !a.startsWith('tuned')) expect(rowPatch, a).toBeLessThan(t);
    }
    expect(rowPatch / row.dawnet.timing.medianMs).toBeLessThan(0.6);
    expect(ms.has('tuned: row-patch')).toBe(true);
  });
});
