// avgPool2d's backward where the windows tile the image (stride = size) runs one thread per window
// ('avgPool2d.backwardDisjoint'), every other stride the per-pixel gather ('avgPool2d.backward').
// Cases: vec4 and scalar channels, odd sizes, 'valid' leftovers (rows and columns no window
// reaches, whose dx must be written as zeros), 'same' padding on either side (windows clipped at the
// top and left as well as the bottom and right, divided by their real pixels only), rectangular
// windows, batch > 1, and one window over the whole image.

import { describe, expect, it } from 'vitest';
import { avgPool2d, avgPool2dBackward, pool2dGeometry, type Pool2dOptions } from '../../src/kernels/pool.js';
import { nd } from '../../src/reference/array.js';
import { avgPool2dBackwardRef, avgPool2dRef } from '../../src/reference/pool.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { dispatched } from '../helpers/dispatched.js';

useGpu();

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

const CASES = [
  { shape: [2, 6, 8, 4], opts: { size: 2 } },
  { shape: [1, 7, 9, 3], opts: { size: 2 } },
  { shape: [2, 11, 10, 8], opts: { size: [3, 4] } },
  { shape: [2, 7, 7, 5], opts: { size: 3, padding: 'same' } },
  { shape: [1, 8, 11, 4], opts: { size: 3, padding: 'same' } },
  { shape: [1, 5, 9, 8], opts: { size: [2, 3], stride: [2, 3], padding: 'same' } },
  { shape: [3, 4, 4, 1], opts: { size: 4 } },
  { shape: [1, 9, 6, 2], opts: { size: [4, 1] } },
] as const satisfies readonly { shape: number[]; opts: Pool2dOptions }[];

describe('avgPool2d backward with windows that tile the image', () => {
  for (const [k, cs] of CASES.entries()) {
    it(`${JSON.stringify(cs.shape)} ${JSON.stringify(cs.opts)}: the disjoint kernel matches float64, zeros where no window reaches`, async () => {
      const shape = [...cs.shape];
      const opts = cs.opts as Pool2dOptions;
      const g = pool2dGeometry('avgPool2d', shape, opts);
      const yShape = [g.n, g.outH, g.outW, g.c];
      const dy = uniform(size(yShape), 400 + k);
      // A buffer of dx's size full of NaN goes back to the pool first: a pixel the kernel does not
      // write would most likely show it.
      const dirty = fromNd(new Float64Array(size(shape)).fill(NaN), shape);
      await dirty.toArray();
      dirty.dispose();
      const dyT = fromNd(dy, yShape);
      let dx: Awaited<ReturnType<typeof avgPool2dBackward>> | undefined;
      expect(dispatched(() => (dx = avgPool2dBackward(dyT, shape, opts)))).toEqual(['avgPool2d.backwardDisjoint']);
      // dy over a count of 1 to 16 pixels: one division, within an ulp of float64.
      expectClose(`avg disjoint ${k}`, await dx!.toArray(), avgPool2dBackwardRef(shape, nd(dy, yShape), opts).data);
      dx!.dispose();
      dyT.dispose();
    });
  }

  it('autograd through avgPool2d takes the disjoint kernel, and overlapping windows the gather', async () => {
    const shape = [2, 7, 9, 4];
    const x = uniform(size(shape), 450);
    for (const [opts, kernel] of [[{ size: 2 }, 'avgPool2d.backwardDisjoint'], [{ size: 3, stride: 2, padding: 'same' }, 'avgPool2d.backward']] as const) {
      const xt = fromNd(x, shape, true);
      const y = avgPool2d(xt, opts);
      const dy = uniform(y.size, 451);
      const dyT = fromNd(dy, [...y.shape]);
      expect(dispatched(() => y.backward(dyT))).toContain(kernel);
      expect(dispatched(() => avgPool2dBackward(dyT, shape, opts).dispose())).toEqual([kernel]);
      expectClose(`avg ${JSON.stringify(opts)} forward`, await y.toArray(), avgPool2dRef(nd(x, shape), opts).data);
      expectClose(`avg ${JSON.stringify(opts)} backward`, await xt.grad!.toArray(), avgPool2dBackwardRef(shape, nd(dy, [...y.shape]), opts).data);
      for (const t of [xt, y, dyT]) t.dispose();
    }
  });
});
