// argmax and argmin along the last axis by a thread per row (src/kernels/argmax-rows.ts): rows in
// vec4s and in floats, under the GPU's and the CPU adapters' routing, against the float64
// reference exactly (indices are selections); NaN and signed zeros in every lane of a vec4; rows
// chunked past the binding limit, staged where a chunk's offset is misaligned.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { argExtremumRows } from '../../src/kernels/argmax-rows.js';
import { argmax, argmin, type ExtremumKind } from '../../src/kernels/extrema.js';
import { setExtremaRule, type ExtremaRule } from '../../src/kernels/extrema-rule.js';
import { nd } from '../../src/reference/array.js';
import { argExtremumRef } from '../../src/reference/extrema.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();
afterEach(() => {
  runtime().setBindingLimit(null);
  setExtremaRule(null);
  vi.restoreAllMocks();
});

const argFn = { max: argmax, min: argmin } as const;

/** Small integers (most rows tie), float32-exact. */
function ties(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.floor(r() * 5) - 2);
}

/** GPU arg over the last axis against the reference; the kernels it dispatched, by 'name|key'. */
async function check(kind: ExtremumKind, x: Float64Array, shape: number[]): Promise<{ got: Float32Array; kernels: string[] }> {
  const dispatch = vi.spyOn(runtime(), 'dispatch');
  const xt = fromNd(x, shape);
  const i = argFn[kind](xt, -1);
  const kernels = dispatch.mock.calls.map(([spec]) => `${spec.name}|${spec.key}`);
  dispatch.mockRestore();
  const want = argExtremumRef(kind, nd(x, shape), shape.length - 1);
  expect(i.shape).toEqual(want.shape);
  const got = await i.toArray();
  expect(Array.from(got), `arg${kind} of ${JSON.stringify(shape)}`).toEqual(Array.from(want.data));
  xt.dispose();
  i.dispose();
  return { got, kernels };
}

describe('argmax and argmin over the last axis, a thread per row', () => {
  for (const rule of ['gpu', 'cpu'] as const satisfies readonly ExtremaRule[]) {
    it(`rows of 4, 8, 3 and 5 classes, ties included, match CPU (${rule} routing), writing the index alone`, async () => {
      setExtremaRule(rule);
      for (const [shape, key] of [
        [[2, 9, 7, 4], 'vec4'],
        [[37, 8], 'vec4'],
        [[5, 11, 3], 'scalar'],
        [[301, 5], 'scalar'],
      ] as const) {
        for (const kind of ['max', 'min'] as const) {
          const { kernels } = await check(kind, ties(shape.reduce((p, d) => p * d, 1), shape.length + shape[shape.length - 1]), [...shape]);
          expect(kernels, 'one dispatch of the row kernel').toEqual([`arg${kind}.rows|${key}`]);
        }
      }
    });
  }

  it('a NaN in any lane wins, the first of several; -0 ties +0; infinities are values (by hand)', async () => {
    for (let lane = 0; lane < 8; lane++) {
      const row = [1, 2, 3, 4, 5, 6, 7, 8].map((v, i) => (i === lane ? NaN : v));
      const twice = row.map((v, i) => (i === 7 ? NaN : v)); // a second NaN after it
      const x = Float64Array.from([...row, ...twice]);
      const { got } = await check('max', x, [2, 8]);
      expect(Array.from(got)).toEqual([lane, lane]);
      expect(Array.from((await check('min', x, [2, 8])).got)).toEqual([lane, lane]);
    }
    const signed = Float64Array.from([-0, 0, -1, -0, 0, -0, -Infinity, Infinity]);
    expect(Array.from((await check('max', signed, [2, 4])).got)).toEqual([0, 3]);
    expect(Array.from((await check('min', signed, [2, 4])).got)).toEqual([2, 2]);
  });

  it('rows chunked past the binding limit, misaligned chunks staged, match the whole', async () => {
    for (const [shape, limit] of [
      [[300, 8], 1024], // 32 rows a chunk, 1 KiB apart: aligned
      [[300, 3], 600], // 50 rows of 12 bytes: 64 rows (768 bytes) would align a chunk, and do not fit: staged
    ] as const) {
      const x = ties(shape[0] * shape[1], 900 + shape[1]);
      const whole = await check('max', x, [...shape]);
      runtime().setBindingLimit(limit);
      const split = await check('max', x, [...shape]);
      runtime().setBindingLimit(null);
      expect(split.kernels.length, `${JSON.stringify(shape)} under ${limit} bytes`).toBeGreaterThan(1);
      expect(Array.from(split.got)).toEqual(Array.from(whole.got));
    }
  });

  it('called directly on rows longer than the routing gives it (300 classes), it still finds the first maximum', async () => {
    const x = ties(7 * 300, 21);
    const xt = fromNd(x, [7, 300]);
    const i = argExtremumRows('max', xt, 7, 300, [7]);
    expect(Array.from(await i.toArray())).toEqual(Array.from(argExtremumRef('max', nd(x, [7, 300]), 1).data));
    xt.dispose();
    i.dispose();
  });

  it("keepDims keeps the axis with size 1 (PyTorch's keepdim), on either path; anything but a boolean is refused", async () => {
    const x = ties(2 * 3 * 4, 31);
    const xt = fromNd(x, [2, 3, 4]);
    for (const [axis, shape] of [[-1, [2, 3, 1]], [1, [2, 1, 4]]] as const) {
      const [kept, flat] = [argmax(xt, axis, true), argmax(xt, axis)];
      expect(kept.shape).toEqual(shape);
      expect(Array.from(await kept.toArray())).toEqual(Array.from(await flat.toArray()));
      for (const t of [kept, flat]) t.dispose();
    }
    expect(() => argmin(xt, -1, 1 as never)).toThrow(/^argmin: keepDims must be a boolean, got the number 1/);
    xt.dispose();
  });

  it('other axes and long rows keep the general reduction', async () => {
    const x = ties(6 * 70 * 4, 3);
    expect((await check('max', x, [6, 70, 4])).kernels).toEqual(['argmax.rows|vec4']);
    // Axis 1 of [6, 70, 3]: strided rows, the general states (columns need B in vec4s).
    const xt = fromNd(ties(6 * 70 * 3, 5), [6, 70, 3]);
    const dispatch = vi.spyOn(runtime(), 'dispatch');
    argmax(xt, 1).dispose();
    expect(dispatch.mock.calls.map(([spec]) => spec.name)).toEqual(['max.reduce']);
    dispatch.mockRestore();
    xt.dispose();
    // Rows past a thread's (GPU routing: more than 64): a workgroup per row.
    setExtremaRule('gpu');
    expect((await check('max', ties(3 * 300, 4), [3, 300])).kernels).toEqual(['max.reduce|tree,values']);
  });
});
