// countedPlanes (src/train/counted-planes.ts): an evaluation batch's planes cut to those its
// `counted` flags keep, for val_loss (the end-to-end check is test/app/volume-run.test.ts).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { ArgumentError } from '../../src/errors.js';
import { countedPlanes } from '../../src/train/counted-planes.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('countedPlanes', () => {
  it('keeps the flagged planes of every sample, in order, as one sample; null where every plane counts', async () => {
    // 2 samples of 3 planes of 2x1 pixels: plane p of sample s holds 10·(3s + p) and one more.
    const values = Float32Array.from({ length: 12 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    const pred = dn.tensor(values, [2, 3, 2, 1, 1]);
    const target = dn.tensor(values.map((v) => -v), [2, 3, 2, 1, 1]);
    expect(countedPlanes(pred, target, undefined)).toBeNull();
    expect(countedPlanes(pred, target, [true, true, true, true, true, true])).toBeNull();
    const part = dn.scope(() => countedPlanes(pred, target, [true, false, true, false, true, false]))!;
    expect(part.pred.shape).toEqual([1, 3, 2, 1, 1]);
    expect(part.planes).toBe(3);
    expect(part.samples).toBe(1);
    expect(Array.from(await part.pred.toArray())).toEqual([0, 1, 20, 21, 40, 41]);
    expect(Array.from(await part.target.toArray())).toEqual([-0, -1, -20, -21, -40, -41]);
    for (const t of [pred, target, part.pred, part.target]) t.dispose();
  });

  it('refuses flags that do not match the batch, naming both counts', () => {
    const pred = dn.zeros([2, 3, 2, 1, 1]);
    expect(() => countedPlanes(pred, pred, [true, false])).toThrow(ArgumentError);
    expect(() => countedPlanes(pred, pred, [true, false])).toThrow(/2 flags .* holds 2·3 planes/);
    pred.dispose();
  });
});
