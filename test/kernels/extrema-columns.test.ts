// The column path of max, min, argmax and argmin (src/kernels/extrema-columns.ts: [A, R, B] with B
// a multiple of 4) and the backward's vec4 mask, against the float64 reference and bit for bit
// against the per-output kernels (setExtremaColumns forces either route): values, first indices
// and gradients must not depend on the route, NaN payloads and the sign of a zero included.
// Shapes cover one pass and a second over the chunks' states, a = 1 and more, B of one, several
// and a partial column group; past the binding limit, chunks along A and along R.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { setExtremaColumns } from '../../src/kernels/extrema-columns.js';
import { argmax, argmin, max, min, type ExtremumKind } from '../../src/kernels/extrema.js';
import * as dn from '../../src/index.js';
import { nd } from '../../src/reference/array.js';
import { argExtremumRef, extremumBackwardRef, extremumRef } from '../../src/reference/extrema.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => {
  setExtremaColumns(null);
  runtime().setBindingLimit(null);
  vi.restoreAllMocks();
});

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
const reduceFn = { max, min } as const;
const argFn = { max: argmax, min: argmin } as const;

/** Quiet NaNs of both signs with payloads, infinities, zeros of both signs, a subnormal. */
const SPECIAL = [0x7fc00000, 0xffc00001, 0x7f800123, 0x7f800000, 0xff800000, 0x00000000, 0x80000000, 0x00000001, 0x80000001];

/**
 * Float32 data: 'random' in [-1, 1); 'ties', integers 0..4 with +0 and -0 alike; 'special', ties
 * with infinities, signed zeros and a few NaNs of different payloads.
 */
function data(n: number, seed: number, kind: 'random' | 'ties' | 'special'): Float32Array {
  const r = rng(seed);
  if (kind === 'random') return Float32Array.from(uniform(n, seed));
  const out = Float32Array.from({ length: n }, () => (r() < 0.2 ? -0 : Math.floor(r() * 5)));
  if (kind === 'special') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) if (r() < 0.05) bits[i] = SPECIAL[Math.floor(r() * SPECIAL.length)];
  }
  return out;
}

/** Exact equality, NaN equal to NaN: names the first difference. */
function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) expect.fail(`${what}: index ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

/** The same float32 bits: NaN payloads and the sign of zero count. */
function expectBits(what: string, got: Float32Array, want: Float32Array): void {
  const [g, w] = [new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length)];
  expect(g.length, what).toBe(w.length);
  for (let i = 0; i < w.length; i++) if (g[i] !== w[i]) expect.fail(`${what}: index ${i}: got bits ${g[i].toString(16)}, want ${w[i].toString(16)}`);
}

/**
 * Max and min over `axes` with their gradients, argmax and argmin along axis 1, each against the
 * reference; returns every output and the names of the reduce kernels dispatched.
 */
async function runAll(x: Float32Array, shape: number[], axes: number[]): Promise<{ out: Float32Array[]; kernels: string[] }> {
  const dispatch = vi.spyOn(runtime(), 'dispatch');
  const x64 = nd(Float64Array.from(x), shape);
  const out: Float32Array[] = [];
  for (const kind of ['max', 'min'] as const satisfies readonly ExtremumKind[]) {
    const want = extremumRef(kind, x64, axes);
    const xt = dn.tensor(x, shape, { requiresGrad: true });
    const y = reduceFn[kind](xt, axes);
    const got = await y.toArray();
    expectSame(`${kind} forward`, got, want.value.data);
    const dy = uniform(want.value.data.length, 7);
    const dyt = dn.tensor(Float32Array.from(dy), [...y.shape]);
    y.backward(dyt);
    const dx = await xt.grad!.toArray();
    expectClose(`${kind} backward`, dx, extremumBackwardRef(kind, x64, nd(dy, want.value.shape), axes).data);
    const i = argFn[kind](xt, 1);
    const index = await i.toArray();
    expectSame(`arg${kind}`, index, argExtremumRef(kind, x64, 1).data);
    out.push(got, dx, index);
    for (const t of [xt, y, dyt, i]) t.dispose();
  }
  const kernels = dispatch.mock.calls.map(([spec]) => `${spec.name}:${spec.key}`).filter((k) => /^(max|min)\.|backward/.test(k));
  dispatch.mockRestore();
  return { out, kernels };
}

/** [a, r, b] over axis 1: r = 100 is one pass, 700 and 5000 chunks of rows combined by a second. */
const SHAPES = [
  [1, 100, 4],
  [2, 700, 32],
  [5, 100, 36],
  [1, 5000, 36],
  [5, 700, 4],
  [2, 3, 32], // short rows: routed to a thread per output unless forced
] as const;

describe('max and min over columns', () => {
  for (const [k, s] of SHAPES.entries()) {
    for (const kind of ['random', 'ties', 'special'] as const) {
      it(`${JSON.stringify(s)} over [1], ${kind} data: matches CPU and the per-output kernels bit for bit`, async () => {
        const shape = [...s];
        const x = data(size(shape), 900 + k, kind);
        setExtremaColumns(true);
        const columns = await runAll(x, shape, [1]);
        setExtremaColumns(false);
        const old = await runAll(x, shape, [1]);
        expect(columns.kernels.some((n) => n.startsWith('max.columns')), 'the column kernel ran').toBe(true);
        expect(old.kernels.some((n) => n.includes('.columns')), 'the old route ran').toBe(false);
        expect(columns.kernels).toContain(`extrema.backward:4`);
        columns.out.forEach((got, i) => expectBits(`output ${i} columns vs per output`, got, old.out[i]));
        setExtremaColumns(null);
        const routed = await runAll(x, shape, [1]);
        expect(routed.kernels.some((n) => n.includes('.columns')), 'routed to columns').toBe(shape[1] > 64);
      });
    }
  }

  it('a global max pool (NHWC over H and W) and a reduction over all axes, with a states pass', async () => {
    for (const [shape, axes] of [
      [[2, 16, 16, 32], [1, 2]],
      [[3, 8, 20, 4], [0, 2]], // axis 2 over columns, then axis 0 over the states of [3, 8 * 4]
    ] as const) {
      const x = data(size(shape), 31, 'special');
      const outs: Float32Array[][] = [];
      for (const on of [true, false]) {
        setExtremaColumns(on);
        const run: Float32Array[] = [];
        for (const kind of ['max', 'min'] as const) {
          const xt = dn.tensor(x, [...shape], { requiresGrad: true });
          const y = reduceFn[kind](xt, [...axes]);
          const got = await y.toArray();
          expectSame(`${kind} ${JSON.stringify(shape)}`, got, extremumRef(kind, nd(Float64Array.from(x), [...shape]), [...axes]).value.data);
          const ones = dn.full(y.shape, 1);
          y.backward(ones);
          run.push(got, await xt.grad!.toArray());
          for (const t of [xt, y, ones]) t.dispose();
        }
        outs.push(run);
      }
      outs[0].forEach((got, i) => expectBits(`${JSON.stringify(shape)} output ${i}`, got, outs[1][i]));
    }
  });
});

// Past the storage binding limit the column path splits along A (a chunk of whole [r, b] rows per
// dispatch, misaligned ones staged) and rows that do not fit are split along R by extrema.ts, whose
// states the column kernel then combines. Forced columns, under a lowered limit and without, and
// the old route: all bit-identical.
const SPLIT_CASES = [
  { shape: [9, 70, 4], limit: 2048 }, // one [r, b] row per chunk, one pass
  { shape: [4, 600, 4], limit: 16384 }, // one row per chunk, chunks of rows and a second pass
  { shape: [3, 500, 8], limit: 1024 }, // a row does not fit: states per chunk of R, combined over columns
] as const;

describe('past the binding limit', () => {
  for (const [k, cs] of SPLIT_CASES.entries()) {
    it(`${JSON.stringify(cs.shape)} over [1] under ${cs.limit} bytes: split matches whole, old route and CPU`, async () => {
      const shape = [...cs.shape];
      const x = data(size(shape), 950 + k, 'special');
      setExtremaColumns(true);
      const before = runtime().dispatchCount;
      const whole = await runAll(x, shape, [1]);
      const wholeDispatches = runtime().dispatchCount - before;
      runtime().setBindingLimit(cs.limit);
      const mid = runtime().dispatchCount;
      const split = await runAll(x, shape, [1]);
      expect(runtime().dispatchCount - mid, 'the lowered limit splits the work').toBeGreaterThan(wholeDispatches);
      expect(split.kernels.some((n) => n.startsWith('max.columns')), 'the column kernel ran').toBe(true);
      setExtremaColumns(false);
      const old = await runAll(x, shape, [1]);
      split.out.forEach((got, i) => {
        expectBits(`output ${i} split vs whole`, got, whole.out[i]);
        expectBits(`output ${i} split vs old route`, got, old.out[i]);
      });
    });
  }
});
