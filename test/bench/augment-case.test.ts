// The augmentation benchmark cases: both sides run and agree through the harness, and the tfjs
// elastic peer, written with tfjs ops, computes what dawnet's public elastic() computes (image and
// thresholded mask) from the same noise planes, on the mirrorPad path (radius 10 < side) and on the
// periodic fold-table path (radius 10 > side 8). Not a speed test.

import { describe, expect, it } from 'vitest';
import type * as TF from '@tensorflow/tfjs-core';
import { tensor } from '../../src/graph/tensor.js';
import { elastic } from '../../src/data/augment.js';
import { hostData, type BenchCase } from '../../bench/case.js';
import { augmentFamily } from '../../bench/cases/augment.js';
import { compareOutputs, runCase } from '../../bench/harness.js';
import { useGpu } from '../helpers/gpu.js';
import { useTfjsPeer } from '../helpers/tfjs-peer.js';

useGpu();

const peer = useTfjsPeer();

const SEED = 11;

async function caseAt(scale: number, id: string): Promise<BenchCase> {
  const c = (await augmentFamily.cases(scale))?.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id} at scale ${scale}`);
  return c;
}

describe('augment bench cases', () => {
  it('the flagship shapes at the default scale 8', async () => {
    const cases = (await augmentFamily.cases(8))!;
    expect(cases.map((c) => c.id)).toEqual(['augment.elastic/lgg-batch', 'augment.flip/lgg-batch']);
    const [el, fl] = cases;
    expect(el.inputs.map((i) => i.shape)).toEqual([[2, 32, 32, 3], [2, 32, 32, 1], [2, 32, 32, 2]]);
    expect(fl.inputs.map((i) => i.shape)).toEqual([[2, 32, 32, 3], [2, 32, 32, 1]]);
    // Read image, mask and noise, write image and mask; the flip reads and writes image and mask.
    expect(el.work).toBe(4 * 2048 * (3 + 1 + 2 + 3 + 1));
    expect(fl.work).toBe(4 * 2048 * (3 + 1 + 3 + 1));
  });

  // Scale 16: 1x16x16 (radius 10 < 16, tfjs pads with mirrorPad); scale 32: 1x8x8 (radius 10 > 8,
  // tfjs folds with gather tables).
  for (const scale of [16, 32]) {
    for (const id of ['augment.elastic/lgg-batch', 'augment.flip/lgg-batch']) {
      it(`${id} at scale ${scale}: timed on both sides, outputs agree`, async () => {
        const c = await caseAt(scale, id);
        const side = scale === 16 ? 16 : 8;
        expect(c.inputs[0].shape).toEqual([1, side, side, 3]);
        const row = await runCase(c, {
          timing: { warmup: 1, reps: 2, minSampleMs: 0, maxInner: 1 },
          peak: { gflops: 1, gbps: 1 },
          tfjs: peer(),
          check: true,
          seed: SEED,
        });
        if ('error' in row.dawnet) throw new Error(`dawnet failed: ${row.dawnet.error}`);
        if (!row.tfjs || 'error' in row.tfjs) throw new Error(`tfjs failed: ${row.tfjs ? row.tfjs.error : 'not run'}`);
        expect(row.dawnet.timing.medianMs).toBeGreaterThan(0);
        expect(row.tfjs.timing.medianMs).toBeGreaterThan(0);
        expect(row.check, 'outputs compared').not.toBeNull();
        expect(row.check!.ok, `max rel err ${row.check!.maxRelErr}`).toBe(true);
        // A flip copies values: bit-identical.
        if (id.startsWith('augment.flip')) expect(row.check!.maxRelErr).toBe(0);
      });
    }
  }

  // Scale 8: 2x32x32 (batch offsets in the flat indices); scale 32: 1x8x8 (the periodic fold).
  for (const scale of [8, 32]) {
    it(`tfjs elastic peer matches dawnet's elastic() at scale ${scale}: image and mask`, async () => {
      const tf = peer().tf;
      const c = await caseAt(scale, 'augment.elastic/lgg-batch');
      const host = c.inputs.map((spec, i) => hostData(spec, SEED + i));
      const [imageData, maskData, noiseData] = host;
      const [imageShape, maskShape] = [c.inputs[0].shape, c.inputs[1].shape];
      const pixels = maskData.length;

      // tfjs: the case's own setup and op.
      const xs = host.map((data, i) => tf.tensor(data, c.inputs[i].shape, 'float32'));
      const consts = tf.tidy(() => c.tfjsSetup!(tf, xs));
      const out = tf.tidy(() => c.tfjs!(tf, [...xs, ...consts])) as TF.Tensor[];
      const [tfImage, tfMask] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
      tf.dispose([...xs, ...consts, ...out]);

      // dawnet's public elastic() from the same noise planes; the mask also read as an image gives
      // the interpolated value before the threshold.
      const dx = Float32Array.from({ length: pixels }, (_, i) => noiseData[2 * i]);
      const dy = Float32Array.from({ length: pixels }, (_, i) => noiseData[2 * i + 1]);
      const opts = { alpha: 4, sigma: 2.5, noise: { dx, dy }, fillMode: 'reflect' as const };
      const image = tensor(imageData, imageShape);
      const mask = tensor(maskData, maskShape);
      const dn = elastic(image, { ...opts, mask });
      const raw = elastic(mask, opts);
      const [dnImage, dnMask, rawMask] = await Promise.all([dn.image.toArray(), dn.mask!.toArray(), raw.image.toArray()]);
      for (const t of [image, mask, dn.image, dn.mask!, raw.image]) t.dispose();

      const check = compareOutputs(dnImage, tfImage, 1e-4);
      expect(check.ok, `image max rel err ${check.maxRelErr}`).toBe(true);
      // The deformation is real: the image moved.
      expect(compareOutputs(dnImage, imageData, 1e-4).maxRelErr).toBeGreaterThan(0.05);

      let ones = 0;
      let mismatches = 0;
      for (let i = 0; i < pixels; i++) {
        expect([0, 1]).toContain(tfMask[i]);
        expect([0, 1]).toContain(dnMask[i]);
        ones += dnMask[i];
        // The threshold may only disagree where float32 rounding decides it.
        if (dnMask[i] !== tfMask[i]) {
          mismatches++;
          expect(Math.abs(rawMask[i] - 0.5), `mask pixel ${i} (interpolated ${rawMask[i]})`).toBeLessThanOrEqual(1e-5);
        }
      }
      expect(mismatches).toBeLessThanOrEqual(3);
      expect(ones / pixels).toBeGreaterThan(0.05);
      expect(ones / pixels).toBeLessThan(0.6);
    });
  }
});
