// max, min, argmax and argmin under extrema-rule.ts's CPU rule (a thread per output for rows of
// any length, rows past CPU_ROWS in parts whose states a second pass combines), on the shapes the
// rule moved off the 256-thread tree: the last axis past 64, middle axes whose B is not a multiple
// of 4, all axes, long rows in parts and few outputs over very long rows. Values and indices are
// selections, so they must equal the float64 reference exactly (NaN equal to NaN); gradients are
// dy / holders, one float32 division, within the default tolerance. NaNs and ties are placed in
// every part of a row, so a wrong combine order or a lost index offset moves an index.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { argmax, argmin, max, min, type ExtremumKind } from '../../src/kernels/extrema.js';
import { CPU_ROWS, setExtremaRule, SHORT_ROWS, type ExtremaRule } from '../../src/kernels/extrema-rule.js';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { nd } from '../../src/reference/array.js';
import { argExtremumRef, extremumBackwardRef, extremumRef } from '../../src/reference/extrema.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { rng, uniform } from '../helpers/rng.js';

useGpu();
afterEach(() => {
  setExtremaRule(null);
  vi.restoreAllMocks();
});

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** 'random' in [-1, 1); 'ties': integers 0..4 with -0 for some 0s; 'nan': ties with ~2% NaN. */
function data(n: number, seed: number, kind: 'random' | 'ties' | 'nan'): Float64Array {
  const r = rng(seed);
  if (kind === 'random') return Float64Array.from(Float32Array.from(uniform(n, seed)));
  return Float64Array.from({ length: n }, () => {
    const v = Math.floor(r() * 5);
    if (kind === 'nan' && r() < 0.02) return NaN;
    return v === 0 && r() < 0.5 ? -0 : v;
  });
}

function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) expect.fail(`${what}: index ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

/** The reduce kernels (strategy, values or states in) that f dispatches, in order. */
function paths(f: () => Promise<void>): Promise<string[]> {
  const spy = vi.spyOn(runtime(), 'dispatch');
  return f().then(() => {
    const keys = spy.mock.calls.filter(([spec]) => /^(max|min)\.reduce$/.test(spec.name)).map(([spec]) => spec.key);
    spy.mockRestore();
    return keys;
  });
}

async function checkAll(x: Float64Array, shape: number[], axes: number[] | undefined): Promise<void> {
  for (const kind of ['max', 'min'] as ExtremumKind[]) {
    const want = extremumRef(kind, nd(x, shape), axes);
    const xt = fromNd(x, shape, true);
    const y = (kind === 'max' ? max : min)(xt, axes);
    expectSame(`${kind} ${JSON.stringify(shape)}`, await y.toArray(), want.value.data);
    const dy = uniform(want.value.data.length, 7);
    const dyt = fromNd(dy, [...y.shape]);
    y.backward(dyt);
    expectClose(`${kind} backward ${JSON.stringify(shape)}`, await xt.grad!.toArray(), extremumBackwardRef(kind, nd(x, shape), nd(dy, want.value.shape), axes).data);
    for (const t of [xt, y, dyt]) t.dispose();
    if (axes?.length === 1) {
      const xa = fromNd(x, shape);
      const i = (kind === 'max' ? argmax : argmin)(xa, axes[0]);
      expectSame(`arg${kind} ${JSON.stringify(shape)}`, await i.toArray(), argExtremumRef(kind, nd(x, shape), axes[0]).data);
      for (const t of [xa, i]) t.dispose();
    }
  }
}

/** `cpu`: max's reduce kernels under the CPU rule; all of them took the tree under the GPU rule. */
const CASES = [
  { shape: [7, 300], axes: [1], cpu: ['threads,values'] }, // the last axis past SHORT_ROWS
  { shape: [6, 70, 3], axes: [1], cpu: ['threads,values'] }, // B = 3: no column path
  { shape: [5, 99, 6], axes: [1], cpu: ['threads,values'] }, // B = 6
  { shape: [2, 3, 4, 5], axes: undefined, cpu: ['threads,values'] },
  { shape: [3, 1000], axes: undefined, cpu: ['threads,values'] },
  // Rows past CPU_ROWS: two parts, then their states.
  { shape: [3, CPU_ROWS + 904, 7], axes: [1], cpu: ['threads,values', 'threads,states'] },
  { shape: [9, CPU_ROWS + 1], axes: [1], cpu: ['threads,values', 'threads,states'] },
  // Few outputs over very long rows: chunks of at most CPU_ROWS rows, then their states.
  { shape: [3, 20000, 5], axes: [1], cpu: ['threads,values', 'threads,states'] },
  { shape: [40000], axes: [0], cpu: ['threads,values', 'threads,states'] },
] as const;

describe('extrema under the CPU rule', () => {
  for (const [k, cs] of CASES.entries()) {
    for (const kind of ['random', 'ties', 'nan'] as const) {
      it(`${JSON.stringify(cs.shape)} over ${JSON.stringify(cs.axes)}, ${kind} data: values, indices and gradients match float64`, async () => {
        setExtremaRule('cpu');
        const shape = [...cs.shape];
        const axes = cs.axes && [...cs.axes];
        await checkAll(data(size(shape), 500 + k, kind), shape, axes);
      });
    }
  }

  it('a NaN or a tie in a later part: the first index wins, NaN beats every number', async () => {
    // Row 0: the maximum 5 at 10 and again in the second part; row 1: NaN only in the second part
    // (at 4500 and 4600), which argmax must name; row 2: all equal, so index 0 and every holder.
    setExtremaRule('cpu');
    const r = CPU_ROWS + 904;
    const x = new Float64Array(3 * r);
    x[10] = 5;
    x[4200] = 5;
    x[r + 4500] = NaN;
    x[r + 4600] = NaN;
    x[r + 3] = 9;
    await checkAll(x, [3, r], [1]);
    const xt = fromNd(x, [3, r]);
    const [i, j] = [argmax(xt, 1), argmin(xt, 1)];
    expect(Array.from(await i.toArray())).toEqual([10, 4500, 0]);
    expect(Array.from(await j.toArray())).toEqual([0, 4500, 0]);
    for (const t of [xt, i, j]) t.dispose();
  });
});

describe('which kernel reduces', () => {
  for (const cs of CASES) {
    it(`${JSON.stringify(cs.shape)} over ${JSON.stringify(cs.axes)}: a thread per output on CPU adapters, the tree on GPUs`, async () => {
      const shape = [...cs.shape];
      const run = async (rule: ExtremaRule) => {
        setExtremaRule(rule);
        const x = fromNd(new Float64Array(size(shape)), shape);
        const y = max(x, cs.axes && [...cs.axes]);
        await y.toArray();
        for (const t of [x, y]) t.dispose();
      };
      expect(await paths(() => run('cpu'))).toEqual(cs.cpu);
      expect((await paths(() => run('gpu'))).some((p) => p.startsWith('tree'))).toBe(true);
    });
  }

  it('rows of SHORT_ROWS take a thread per output on both rules; B a multiple of 4 takes the columns', async () => {
    for (const rule of ['cpu', 'gpu'] as const) {
      setExtremaRule(rule);
      const x = fromNd(new Float64Array(100 * SHORT_ROWS), [100, SHORT_ROWS]);
      const c = fromNd(new Float64Array(2 * 100 * 8), [2, 100, 8]);
      const spy = vi.spyOn(runtime(), 'dispatch');
      const [y, z] = [max(x, 1), max(c, 1)];
      expect(spy.mock.calls.map(([spec]) => `${spec.name}:${spec.key}`)).toEqual(['max.reduce:threads,values', 'max.columns:values']);
      spy.mockRestore();
      for (const t of [x, c, y, z]) t.dispose();
    }
  });

  it('this adapter takes its own rule', async () => {
    const cpu = isCpuAdapterReport(runtime().ctx.report);
    const x = fromNd(new Float64Array(7 * 300), [7, 300]);
    const keys = await paths(async () => {
      // max: argmax over the last axis takes argmax-rows.ts's kernel where a thread would.
      const y = max(x, 1);
      await y.toArray();
      y.dispose();
    });
    expect(keys).toEqual([cpu ? 'threads,values' : 'tree,values']);
    x.dispose();
  });
});
