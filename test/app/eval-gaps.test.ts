// eval's patient volumes placed by slice number (no model, no GPU): a volume missing a slice number
// (a slice the data scan skipped) is incomplete. Post-processing must not join lesions across its
// gap, its surface distances must not be measured on the shortened stack, and complete volumes
// score exactly as before.
import { describe, expect, it } from 'vitest';
import { incompleteVolumes, segmentationMetrics, VOLUME_RULE } from '../../src/app/eval-job.js';
import { ArgumentError } from '../../src/errors.js';
import type { EvalSet } from '../../src/train/fit.js';
import { segmentationReport, type SurfaceReport } from '../../src/train/metrics.js';

const SIZE = 8;
const PLANE = SIZE * SIZE;
const config = { size: SIZE, emptyPolicy: 'one' as const };

/** A set of `volumes.length` slices with the given predicted and true voxels [slice, y, x]. */
function setOf(volumes: string[], pred: number[][], truth: number[][]): EvalSet {
  const p = new Float32Array(volumes.length * PLANE).fill(0.1);
  const t = new Float32Array(p.length);
  for (const [z, y, x] of pred) p[z * PLANE + y * SIZE + x] = 0.9;
  for (const [z, y, x] of truth) t[z * PLANE + y * SIZE + x] = 1;
  return { pred: p, target: t, sampleSize: PLANE, volumes };
}

type Json = Record<string, number> & {
  postprocess: Record<string, number>;
  surface: SurfaceReport & { volumesIncomplete?: number; perVolume: { volume: string; incomplete?: boolean }[] };
  volumeGeometry?: { rule: string; complete: number; incomplete: unknown[] };
};
const json = (m: { json: Record<string, unknown> }): Json => m.json as Json;

describe('incompleteVolumes', () => {
  it('names what is missing: a middle slice, the first one, an order broken or a number repeated', () => {
    const volumes = ['A', 'A', 'A', 'B', 'B', 'C', 'C', 'C', 'D', 'D', 'D', 'E', 'E'];
    const numbers = [1, 2, 4, 2, 3, 2, 1, 3, 1, 2, 2, 1, 2];
    expect(incompleteVolumes(volumes, numbers)).toEqual([
      { volume: 'A', slices: 3, missing: [3], unordered: false },
      { volume: 'B', slices: 2, missing: [1], unordered: false },
      { volume: 'C', slices: 3, missing: [], unordered: true },
      { volume: 'D', slices: 3, missing: [], unordered: true },
    ]);
  });
});

describe('post-processing across a missing slice', () => {
  // Patient A's slices 1, 2, 4 and 5 (3 was skipped): a 2-voxel lesion in slice 2 and another at the
  // same place in slice 4. Stacked as if contiguous they touch at a face: one lesion of 4 voxels.
  const volumes = ['A', 'A', 'A', 'A'];
  const pieces = [[1, 3, 3], [1, 3, 4], [2, 3, 3], [2, 3, 4]];

  it('--min-lesion-size does not join lesions across the gap: both 2-voxel pieces go at 3', () => {
    const set = setOf(volumes, pieces, pieces);
    const gap = json(segmentationMetrics(set, config, { minLesionSize: 3 }, [1, 2, 4, 5]));
    expect(gap.postprocess).toMatchObject({ removedComponents: 2, removedVoxels: 4 });
    // The same slices numbered 1-4 are contiguous: one lesion of 4, kept.
    const whole = json(segmentationMetrics(set, config, { minLesionSize: 3 }, [1, 2, 3, 4]));
    expect(whole.postprocess).toMatchObject({ removedComponents: 0, removedVoxels: 0 });
  });

  it('--keep-largest compares the pieces on each side of the gap, not their false union', () => {
    // Slice 1 holds a 3-voxel lesion elsewhere: larger than either 2-voxel piece, smaller than both.
    const set = setOf(volumes, [...pieces, [0, 6, 0], [0, 6, 1], [0, 6, 2]], []);
    const m = segmentationMetrics(set, config, { keepLargest: true }, [1, 2, 4, 5]);
    expect(json(m).postprocess).toMatchObject({ removedComponents: 2, removedVoxels: 4 });
    expect(m.set.pred[6 * SIZE]).toBeCloseTo(0.9, 6);
    expect(m.set.pred[PLANE + 3 * SIZE + 3]).toBe(0);
    expect(m.rows.find(([k]) => k.startsWith('post-processing'))?.[0]).toBe('post-processing (per volume, 26-connected, not joined across 1 slice gap)');
  });

  it('slices given out of order are placed by number: neighbours by number join, a gap does not', () => {
    // Numbers 2, 1, 4: slice 1 (position 1) and 2 (position 0) touch; 4 stands alone.
    const set = setOf(['A', 'A', 'A'], [[0, 3, 3], [1, 3, 3], [2, 3, 3]], []);
    const r = json(segmentationMetrics(set, config, { minLesionSize: 2 }, [2, 1, 4]));
    expect(r.postprocess).toMatchObject({ removedComponents: 1, removedVoxels: 1 });
  });
});

describe('surface distances of an incomplete volume', () => {
  // A: slices 1, 2, 4 (3 skipped); truth in slice 2, prediction at the same place in slice 4: two
  // slices apart in the patient, one apart when stacked. B: slices 1-3, a true lesion predicted one
  // pixel off. C: complete, truth only (one mask empty). D: slices 2, 3, truth only. E: slices 1, 3,
  // both empty.
  const volumes = ['A', 'A', 'A', 'B', 'B', 'B', 'C', 'D', 'D', 'E', 'E'];
  const numbers = [1, 2, 4, 1, 2, 3, 1, 2, 3, 1, 3];
  const set = () => setOf(volumes, [[2, 3, 3], [4, 2, 2], [4, 2, 3], [4, 3, 2], [4, 3, 3]], [[1, 3, 3], [4, 2, 3], [4, 2, 4], [4, 3, 3], [4, 3, 4], [6, 1, 1], [7, 5, 5]]);

  it('leaves it out of HD95 and ASSD per volume, keeps its Dice, and counts and names it', () => {
    const m = segmentationMetrics(set(), config, {}, numbers);
    const r = json(m);
    const a = r.surface.perVolume.find((v) => v.volume === 'A')!;
    // Stacked, A's HD95 would be 1 slice; it is left out instead of reported so.
    expect(json(segmentationMetrics(set(), config)).surface.perVolume[0]).toMatchObject({ volume: 'A', hd95: 1 });
    expect(a).toMatchObject({ hd95: null, assd: null, incomplete: true, dice: 0 });
    expect(r.surface.volumesIncomplete).toBe(3);
    expect(r.volumeGeometry).toEqual({
      rule: VOLUME_RULE,
      complete: 2,
      incomplete: [
        { volume: 'A', slices: 3, missing: [3], unordered: false },
        { volume: 'D', slices: 2, missing: [1], unordered: false },
        { volume: 'E', slices: 2, missing: [2], unordered: false },
      ],
    });
    expect(m.rows).toContainEqual(['incomplete volumes: left out of HD95/ASSD per volume', '3 of 5: A (slice 3 missing), D (slice 1 missing), E (slice 2 missing)']);
    expect(m.rows.find(([k]) => k === 'Dice per volume (patient)')?.[1]).toMatch(/\(3 of 5 volumes incomplete: over the slices they have\)$/);
  });

  it('the per-volume figures are those of the complete volumes alone; the per-slice ones and Dice stay', () => {
    const whole = set();
    const r = json(segmentationMetrics(whole, config, {}, numbers));
    const keep = [3, 4, 5, 6];
    const alone = segmentationReport(
      Float32Array.from(keep.flatMap((s) => [...whole.pred.subarray(s * PLANE, (s + 1) * PLANE)])),
      Float32Array.from(keep.flatMap((s) => [...whole.target.subarray(s * PLANE, (s + 1) * PLANE)])),
      PLANE,
      { emptyPolicy: 'one', volumes: keep.map((s) => volumes[s]), surface: { sliceShape: [SIZE, SIZE] } },
    ).surface!;
    for (const k of ['hd95PerVolume', 'hd95PerVolumeMedian', 'assdPerVolume', 'assdPerVolumeMedian', 'volumesScored', 'volumesOneEmpty', 'volumesBothEmpty'] as const) {
      expect(r.surface[k], k).toBe(alone[k]);
    }
    expect(r.surface.volumesScored).toBe(1);
    const stacked = segmentationReport(whole.pred, whole.target, PLANE, { emptyPolicy: 'one', volumes, surface: { sliceShape: [SIZE, SIZE] } });
    expect(stacked.surface!.volumesScored).toBe(3);
    for (const k of ['hd95PerSlice', 'hd95PerSliceMedian', 'assdPerSlice', 'slicesScored', 'slicesOneEmpty'] as const) expect(r.surface[k], k).toBe(stacked.surface![k]);
    expect(r.dicePerVolume).toBe(stacked.dicePerVolume);
    expect(r.surface.perVolume.map((v) => v.dice)).toEqual(stacked.surface!.perVolume.map((v) => v.dice));
  });
});

describe('complete volumes', () => {
  it('score exactly as without slice numbers, which eval.json states as volumeGeometry', () => {
    const volumes = ['A', 'A', 'A', 'B', 'B'];
    const set = setOf(volumes, [[0, 2, 2], [1, 2, 2], [1, 7, 7], [2, 2, 2], [3, 0, 0], [3, 0, 1]], [[0, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 3]]);
    for (const opts of [{}, { minLesionSize: 2 }, { keepLargest: true }]) {
      const plain = segmentationMetrics(set, config, opts);
      const numbered = segmentationMetrics(set, config, opts, [1, 2, 3, 1, 2]);
      const { volumeGeometry, ...rest } = json(numbered);
      expect(rest).toEqual(plain.json);
      expect(volumeGeometry).toEqual({ rule: VOLUME_RULE, complete: 2, incomplete: [] });
      expect(numbered.rows).toEqual(plain.rows);
      expect(numbered.set.pred).toEqual(plain.set.pred);
    }
    expect(() => segmentationMetrics(set, config, {}, [1, 2, 3])).toThrow(ArgumentError);
  });
});
