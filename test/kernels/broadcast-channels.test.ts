// mulOverChannels (x [..., C] times s [..., 1], s broadcast over the channels) against a float64
// reference written here from the definition, its backward checked by central differences; the
// vec4 path (C a multiple of 4) and the scalar one, C = 1, ranks 2 to 4; the chunked path under a
// lowered binding limit, which must give the same bits (every output is computed per pixel).

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { mulOverChannels } from '../../src/kernels/broadcast-channels.js';
import { nd, ndZeros, type NdArray } from '../../src/reference/array.js';
import { expectClose } from '../helpers/close.js';
import { checkGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

/** y[p, c] = x[p, c] · s[p], p running over every position but the last axis. */
function mulOverChannelsRef(x: NdArray, s: NdArray): NdArray {
  const c = x.shape[x.shape.length - 1];
  const y = ndZeros(x.shape);
  for (let p = 0; p < s.data.length; p++) {
    for (let k = 0; k < c; k++) y.data[p * c + k] = x.data[p * c + k] * s.data[p];
  }
  return y;
}

/** dx[p, c] = dy[p, c] · s[p]; ds[p] = Σ_c dy[p, c] · x[p, c]. */
function mulOverChannelsBackwardRef(x: NdArray, s: NdArray, dy: NdArray): { dx: NdArray; ds: NdArray } {
  const c = x.shape[x.shape.length - 1];
  const dx = ndZeros(x.shape);
  const ds = ndZeros(s.shape);
  for (let p = 0; p < s.data.length; p++) {
    for (let k = 0; k < c; k++) {
      dx.data[p * c + k] = dy.data[p * c + k] * s.data[p];
      ds.data[p] += dy.data[p * c + k] * x.data[p * c + k];
    }
  }
  return { dx, ds };
}

const CASES = [
  { name: 'NHWC, C = 8 (vec4)', shape: [2, 3, 5, 8] },
  { name: 'NHWC, C = 3 (scalar), odd sizes', shape: [3, 5, 7, 3] },
  { name: 'C = 1', shape: [2, 4, 4, 1] },
  { name: 'rank 2, C = 12', shape: [7, 12] },
  { name: 'rank 3, C = 5', shape: [2, 3, 5] },
] as const;

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

interface Run {
  dispatches: number;
  y: Float32Array;
  dx: Float32Array;
  ds: Float32Array;
}

/** Forward and backward on the GPU for one case's data. */
async function runGpu(x: NdArray, s: NdArray, dy: NdArray): Promise<Run> {
  const xt = fromNd(x.data, x.shape, true);
  const st = fromNd(s.data, s.shape, true);
  const dyt = fromNd(dy.data, dy.shape);
  const before = runtime().dispatchCount;
  const y = mulOverChannels(xt, st);
  y.backward(dyt);
  const dispatches = runtime().dispatchCount - before;
  const out = { dispatches, y: await y.toArray(), dx: await xt.grad!.toArray(), ds: await st.grad!.toArray() };
  for (const t of [xt, st, dyt, y]) t.dispose();
  return out;
}

describe('mulOverChannels', () => {
  CASES.forEach(({ name, shape }, i) => {
    const sShape = [...shape.slice(0, -1), 1];
    // float32-representable data, so the reference sees exactly what the GPU sees.
    const x = nd(Float32Array.from(uniform(size(shape), 10 + i)), [...shape]);
    const s = nd(Float32Array.from(uniform(size(sShape), 20 + i, 0, 1)), sShape);
    const dy = nd(Float32Array.from(uniform(size(shape), 30 + i)), [...shape]);
    const want = mulOverChannelsRef(x, s);
    const grads = mulOverChannelsBackwardRef(x, s, dy);

    it(`${name}: reference backward matches finite differences`, () => {
      checkGrad(`${name} dx`, (v) => mulOverChannelsRef(nd(v, x.shape), s), x.data, dy.data, grads.dx.data);
      checkGrad(`${name} ds`, (v) => mulOverChannelsRef(x, nd(v, s.shape)), s.data, dy.data, grads.ds.data);
    });

    it(`${name}: GPU forward and backward match the reference; chunked runs give the same bits`, async () => {
      const whole = await runGpu(x, s, dy);
      expectClose(`${name} y`, whole.y, want.data);
      expectClose(`${name} dx`, whole.dx, grads.dx.data);
      expectClose(`${name} ds`, whole.ds, grads.ds.data);
      // Room for about two pixels of x per binding: many chunks, most of them staged copies.
      runtime().setBindingLimit(Math.max(16, 2 * shape[shape.length - 1] * 4));
      const chunked = await runGpu(x, s, dy);
      runtime().setBindingLimit(null);
      expect(chunked.dispatches, `${name}: dispatches when chunked`).toBeGreaterThan(whole.dispatches);
      for (const k of ['y', 'dx', 'ds'] as const) expect(Array.from(chunked[k]), `${name} ${k} chunked`).toEqual(Array.from(whole[k]));
    });
  });

  it('only the input that needs a gradient gets one', async () => {
    const x = dn.tensor(Float32Array.from(uniform(24, 5)), [2, 3, 4]);
    const s = dn.tensor(Float32Array.from(uniform(6, 6)), [2, 3, 1], { requiresGrad: true });
    const y = mulOverChannels(x, s);
    const total = dn.sum(y);
    total.backward();
    expect(x.grad).toBeNull();
    expectClose('ds of sum', await s.grad!.toArray(), Array.from({ length: 6 }, (_, p) => {
      let acc = 0;
      for (let k = 0; k < 4; k++) acc += Math.fround(uniform(24, 5)[p * 4 + k]);
      return acc;
    }));
    for (const t of [x, s, y, total]) t.dispose();
  });

  it('s of any shape but x\'s with one channel is a ShapeError naming the op', () => {
    const x = dn.zeros([2, 4, 4, 3]);
    for (const shape of [[2, 4, 4, 3], [2, 4, 4], [1, 4, 4, 1], [2, 4, 1, 1], [4, 4, 1]]) {
      const s = dn.zeros(shape);
      expect(() => mulOverChannels(x, s)).toThrow(dn.ShapeError);
      expect(() => mulOverChannels(x, s)).toThrow(/^mulOverChannels: /);
      s.dispose();
    }
    x.dispose();
  });
});
