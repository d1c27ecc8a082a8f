// eval's segmentation metrics with connected-component post-processing, on an evaluated set built by
// hand (no model, no GPU): planted false positives are removed per patient volume in 3-D and the
// metrics move the way the counts say; off by default, where the figures are segmentationReport's.
import { describe, expect, it } from 'vitest';
import { EVAL_CONNECTIVITY, segmentationMetrics } from '../../src/app/eval-job.js';
import type { EvalSet } from '../../src/train/fit.js';
import { segmentationReport } from '../../src/train/metrics.js';

const SIZE = 8;
const config = { size: SIZE, emptyPolicy: 'one' as const };
const at = (slice: number, y: number, x: number): number => slice * SIZE * SIZE + y * SIZE + x;

/**
 * Patient A, slices 0-2: a 2x2 lesion through all three (12 voxels), predicted exactly, plus a
 * 1-voxel false positive in slice 1's far corner. Patient B, slices 3-4: no lesion, and a 2-voxel
 * false positive in slice 3.
 */
function plantedSet(): EvalSet {
  const pred = new Float32Array(5 * SIZE * SIZE).fill(0.1);
  const target = new Float32Array(pred.length);
  for (let s = 0; s < 3; s++) {
    for (const [y, x] of [[2, 2], [2, 3], [3, 2], [3, 3]]) {
      pred[at(s, y, x)] = 0.9;
      target[at(s, y, x)] = 1;
    }
  }
  pred[at(1, 7, 7)] = 0.8;
  pred[at(3, 0, 0)] = pred[at(3, 0, 1)] = 0.6;
  return { pred, target, sampleSize: SIZE * SIZE, volumes: ['A', 'A', 'A', 'B', 'B'] };
}

const metrics = (opts: Parameters<typeof segmentationMetrics>[2]) => {
  const m = segmentationMetrics(plantedSet(), config, opts);
  return { ...m, r: m.json as Record<string, number> & { postprocess: Record<string, unknown>; surface: { perVolume: { hd95: number | null; assd: number | null }[] } } };
};

describe('eval post-processing (segmentationMetrics)', () => {
  it('off by default: the figures are segmentationReport of the raw predictions, and the settings are recorded', () => {
    const set = plantedSet();
    const m = segmentationMetrics(set, config);
    const direct = segmentationReport(set.pred, set.target, set.sampleSize, { emptyPolicy: 'one', volumes: set.volumes, surface: { sliceShape: [SIZE, SIZE] } });
    expect(m.json).toEqual({ postprocess: { minLesionSize: 0, keepLargest: false, connectivity: EVAL_CONNECTIVITY, removedComponents: 0, removedVoxels: 0 }, ...direct });
    expect(m.set).toBe(set);
    expect(m.rows.some(([k]) => k.startsWith('post-processing'))).toBe(false);
    // Patient B's two slices have empty truth; only slice 4's prediction is empty too.
    expect(m.rows).toContainEqual(['slices / empty truth / both empty', '5 / 2 / 1']);
    expect(metrics({ minLesionSize: 3 }).rows, 'slice 3 false positive removed').toContainEqual(['slices / empty truth / both empty', '5 / 2 / 2']);
    // With planted false positives: precision 12/15, Dice A 24/25, Dice B 0 (empty truth, 2 predicted).
    expect(direct.precision).toBeCloseTo(12 / 15, 12);
    expect(direct.dicePerVolume).toBeCloseTo(0.48, 12);
  });

  it('--min-lesion-size 3 removes both planted false positives: precision and per-volume Dice go to 1, recall stays', () => {
    const { r, rows, set } = metrics({ minLesionSize: 3 });
    expect(r.postprocess).toEqual({ minLesionSize: 3, keepLargest: false, connectivity: 26, removedComponents: 2, removedVoxels: 3 });
    expect(r.precision).toBe(1);
    expect(r.recall).toBe(1);
    expect(r.dicePerVolume).toBe(1);
    // Volume A's far voxel is 1 of 25 surface voxels, under HD95's 5%, but it moves ASSD above 0;
    // without it prediction and truth coincide.
    expect(metrics({}).r.surface.perVolume[0].assd).toBeGreaterThan(0);
    expect(r.surface.perVolume[0]).toMatchObject({ hd95: 0, assd: 0 });
    expect(set.pred[at(1, 7, 7)]).toBe(0);
    expect(set.pred[at(0, 2, 2)]).toBeCloseTo(0.9, 6);
    expect(rows.find(([k]) => k.startsWith('post-processing'))?.[1]).toMatch(/under 3 voxels.*2 lesions, 3 voxels removed/);
  });

  it('a false positive of exactly minLesionSize stays: at 2, only A\'s single voxel goes', () => {
    const { r } = metrics({ minLesionSize: 2 });
    expect(r.postprocess).toMatchObject({ removedComponents: 1, removedVoxels: 1 });
    expect(r.precision).toBeCloseTo(12 / 14, 12);
    expect(r.dicePerVolume).toBeCloseTo(0.5, 12);
  });

  it('keepLargest works per patient: A keeps its lesion, B keeps its false positive (its largest)', () => {
    const { r } = metrics({ keepLargest: true });
    expect(r.postprocess).toMatchObject({ minLesionSize: 0, keepLargest: true, removedComponents: 1, removedVoxels: 1 });
    expect(r.precision).toBeCloseTo(12 / 14, 12);
    const both = metrics({ keepLargest: true, minLesionSize: 3 }).r;
    expect(both.postprocess).toMatchObject({ removedComponents: 2, removedVoxels: 3 });
    expect(both.dicePerVolume).toBe(1);
  });

  it('a threshold above the true lesion removes it too: recall falls to 0', () => {
    const { r } = metrics({ minLesionSize: 13 });
    expect(r.postprocess).toMatchObject({ removedComponents: 3, removedVoxels: 15 });
    expect(r.recall).toBe(0);
    expect(r.dicePerVolume).toBeCloseTo(0.5, 12);
  });

  it('lesions are 26-connected across slices: two 2-voxel pieces meeting only at a corner are one lesion of 4', () => {
    // Slice 0: (2, 2), (2, 3); slice 1: (3, 4), (3, 5). (2, 3) and (3, 4) in the next slice differ by
    // one on every axis: a corner, which 6-connectivity would not join (and minLesionSize 3 would
    // then delete both pieces of the one obliquely cut lesion).
    const pred = new Float32Array(2 * SIZE * SIZE);
    for (const [z, y, x] of [[0, 2, 2], [0, 2, 3], [1, 3, 4], [1, 3, 5]]) pred[at(z, y, x)] = 0.9;
    const set: EvalSet = { pred, target: Float32Array.from(pred, (p) => (p > 0.5 ? 1 : 0)), sampleSize: SIZE * SIZE, volumes: ['A', 'A'] };
    const r = segmentationMetrics(set, config, { minLesionSize: 3 }).json as Record<string, number> & { postprocess: Record<string, number> };
    expect(r.postprocess).toMatchObject({ connectivity: 26, removedComponents: 0, removedVoxels: 0 });
    expect(r.dicePerVolume).toBe(1);
  });

  it('keepLargest: of two equal lesions, the one starting in the earlier slice stays', () => {
    // Two 2-voxel lesions: slice 0's at the far end of its slice, slice 1's at the start of its own.
    const pred = new Float32Array(2 * SIZE * SIZE);
    for (const [z, y, x] of [[0, 7, 6], [0, 7, 7], [1, 0, 0], [1, 0, 1]]) pred[at(z, y, x)] = 0.9;
    const set: EvalSet = { pred, target: new Float32Array(pred.length), sampleSize: SIZE * SIZE, volumes: ['A', 'A'] };
    const kept = segmentationMetrics(set, config, { keepLargest: true }).set.pred;
    expect([kept[at(0, 7, 6)], kept[at(0, 7, 7)], kept[at(1, 0, 0)], kept[at(1, 0, 1)]]).toEqual([pred[at(0, 7, 6)], pred[at(0, 7, 7)], 0, 0]);
  });

  it('does not touch the caller\'s predictions', () => {
    const set = plantedSet();
    const before = Float32Array.from(set.pred);
    segmentationMetrics(set, config, { minLesionSize: 3, keepLargest: true });
    expect(set.pred).toEqual(before);
  });
});
