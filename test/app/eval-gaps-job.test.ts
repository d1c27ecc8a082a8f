// evaluateRun through the real data loading, on the GPU: a slice damaged on disk is skipped by the
// scan, and its patient's volume is then scored as incomplete (slice numbers reach eval from the
// scan), not stacked as if its neighbours were adjacent. The logic itself is tested without a GPU
// in eval-gaps.test.ts.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { defaultConfig, type TrainConfig } from '../../src/app/config.js';
import { evaluateRun } from '../../src/app/eval-job.js';
import { loadSlice, scanLgg, type LggSlice } from '../../src/data/lgg.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { Module } from '../../src/nn/module.js';
import { tempDir } from '../cli/helpers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const S = 16;
let work = '';
let config: TrainConfig;
let slices: LggSlice[] = [];
let damaged = '';

beforeAll(async () => {
  work = tempDir('dawnet-eval-gaps-');
  await writeSyntheticDataset(join(work, 'data'), { patients: 2, seed: 5, size: S, slicesPerPatient: [6, 6] });
  const whole = (await scanLgg(join(work, 'data'), { size: S })).slices;
  const third = whole.find((s) => s.index === 3)!;
  damaged = third.patient;
  writeFileSync(third.imagePath, Buffer.from('not a tiff'));
  const scan = await scanLgg(join(work, 'data'), { size: S });
  expect(scan.summary.problems.map((p) => p.file)).toEqual([third.imagePath]);
  slices = scan.slices;
  config = { ...defaultConfig('segment'), data: join(work, 'data'), out: join(work, 'run'), size: S, features: 4, depth: 2, batch: 4, workers: 0 };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Predicts each slice's true mask, in evaluation order (the test split is not shuffled). */
class Truth extends Module {
  private next = 0;
  constructor(private readonly masks: Float32Array) {
    super();
  }
  forward(x: dn.Tensor): dn.Tensor {
    const n = x.shape[0];
    const out = dn.tensor(this.masks.slice(this.next * S * S, (this.next + n) * S * S), [n, S, S, 1]);
    this.next += n;
    return out;
  }
}

describe('evaluateRun over a slice the scan skipped', () => {
  it("scores its patient's volume as incomplete: named, left out of the per-volume surface distances", async () => {
    const truth = new Float32Array(slices.length * S * S);
    for (const [i, s] of slices.entries()) truth.set((await loadSlice(s, S)).mask, i * S * S);
    const { json, table } = await evaluateRun(config, new Truth(truth), slices, () => undefined);
    const geometry = json.volumeGeometry as { complete: number; incomplete: unknown[] };
    expect(geometry.complete).toBe(1);
    expect(geometry.incomplete).toEqual([{ volume: damaged, slices: 5, missing: [3], unordered: false }]);
    const surface = json.surface as { volumesIncomplete: number; perVolume: { volume: string; dice: number | null; hd95: number | null; incomplete?: boolean }[] };
    expect(surface.volumesIncomplete).toBe(1);
    expect(surface.perVolume.find((v) => v.volume === damaged)).toMatchObject({ hd95: null, assd: null, incomplete: true });
    expect(surface.perVolume.find((v) => v.volume !== damaged)?.incomplete).toBeUndefined();
    expect(table).toContain(`incomplete volumes: left out of HD95/ASSD per volume  1 of 2: ${damaged} (slice 3 missing)`);
  });
});
