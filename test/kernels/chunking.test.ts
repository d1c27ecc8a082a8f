// Kernels split their work when a tensor exceeds the storage binding limit (src/kernels/chunking.ts).
// Each op runs twice, once with the device's limit and once with runtime().setBindingLimit() lowered
// to a few hundred bytes or KiB, on odd batch sizes whose chunk counts do not divide N. Outputs whose
// arithmetic order does not change with the chunking (everything computed per element or per sample)
// must be bit-identical; sums across the split axis (weight and bias gradients, batch statistics)
// are added in another order and compared within tolerance. Both runs must match the CPU reference.
// Chunk offsets must be multiples of minStorageBufferOffsetAlignment, WebGPU's default of 256 bytes
// (dawnet does not ask for less): the odd sizes cannot be aligned, so their chunks are staged through
// copies; the cases with 256-byte samples or rows bind their chunks in place.

import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dn from '../../src/index.js';
import { LimitError } from '../../src/errors.js';
import { runtime } from '../../src/gpu/runtime.js';
import { chunkItems, part, planned } from '../../src/kernels/chunking.js';
import { backwardInputGemm, backwardWeightGemm, conv2dGeometry, forwardGemm } from '../../src/kernels/conv2d.js';
import type { ConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import type { ConvFamily } from '../../src/kernels/conv2d-gemm.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { randomUniformRef } from '../../src/kernels/dropout.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { batchNormBackwardRef, batchNormForwardRef } from '../../src/reference/batchnorm.js';
import { concatRef } from '../../src/reference/concat.js';
import { conv2dBackwardRef, conv2dForwardRef, convTranspose2dBackwardRef, convTranspose2dForwardRef } from '../../src/reference/conv.js';
import { binaryBackwardRef, binaryForwardRef, sumRef, unaryBackwardRef, unaryForwardRef } from '../../src/reference/elementwise.js';
import {
  avgPool2dBackwardRef,
  avgPool2dRef,
  globalAvgPool2dBackwardRef,
  globalAvgPool2dRef,
  maxPool2dBackwardRef,
  maxPool2dRef,
} from '../../src/reference/pool.js';
import { upsample2dBackwardRef, upsample2dRef } from '../../src/reference/upsample.js';
import { expectClose, winogradTolerance, type Tolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { awayFromZero, uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** Seeded float32-representable data of a shape, as an NdArray. */
function data(shape: number[], seed: number, gen = uniform): NdArray {
  return nd(Float32Array.from(gen(size(shape), seed)), shape);
}

type Outputs = Record<string, dn.Tensor>;

/** Runs fn in a scope, reads and disposes what it returns; counts its dispatches and buffer copies. */
async function run(fn: () => Outputs): Promise<{ values: Record<string, Float32Array>; dispatches: number; copies: number }> {
  const rt = runtime();
  const before = rt.dispatchCount;
  const copy = vi.spyOn(rt, 'copy');
  const outs = dn.scope(fn);
  const [dispatches, copies] = [rt.dispatchCount - before, copy.mock.calls.length];
  copy.mockRestore();
  const values: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(outs)) {
    values[k] = await t.toArray();
    t.dispose();
  }
  return { values, dispatches, copies };
}

/** t.grad, detached so that disposing t at the end of the scope leaves it to the caller. */
function grad(t: dn.Tensor): dn.Tensor {
  const g = t.grad!;
  t.grad = null;
  return g;
}

function expectBitEqual(what: string, got: Float32Array, want: Float32Array): void {
  expect(got.length, what).toBe(want.length);
  const [a, b] = [new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length)];
  const i = a.findIndex((v, k) => v !== b[k]);
  if (i >= 0) expect.fail(`${what}: differs at index ${i}: ${got[i]} vs ${want[i]} without the limit`);
}

interface SplitCase {
  name: string;
  /** Binding limit in bytes for the split run. */
  limit: number;
  /** GPU outputs of the op under test, forward and backward. */
  gpu: () => Outputs;
  /** Float64 references of the same outputs. */
  cpu: () => Record<string, ArrayLike<number>>;
  /** Outputs that must be bit-identical with and without the limit; the rest within `tol`. */
  exact: readonly string[];
  tol?: Tolerance;
  /** The split run uses buffer copies instead of (more) dispatches. */
  copies?: boolean;
}

async function checkSplit(cs: SplitCase): Promise<void> {
  const whole = await run(cs.gpu);
  runtime().setBindingLimit(cs.limit);
  const split = await run(cs.gpu);
  runtime().setBindingLimit(null);
  if (cs.copies) expect(split.dispatches, 'the lowered limit turns slab copies into buffer copies').toBeLessThan(whole.dispatches);
  else expect(split.dispatches, 'the lowered limit splits the work').toBeGreaterThan(whole.dispatches);
  const cpu = cs.cpu();
  for (const [k, got] of Object.entries(split.values)) {
    if (cs.exact.includes(k)) expectBitEqual(`${cs.name} ${k}`, got, whole.values[k]);
    else expectClose(`${cs.name} ${k} (split vs whole)`, got, whole.values[k], cs.tol);
    expectClose(`${cs.name} ${k} (vs CPU)`, got, cpu[k], cs.tol);
  }
}

// Conv sums of up to a few hundred float32 products, summed in another order: see conv2d.test.ts.
const CONV_TOL = { atol: 1e-4, rtol: 1e-4 };

// ---------------------------------------------------------------------------------------------
// Cases

let nextSeed = 100;

/** An op of one input: y = f(x) and dx for a seeded dy, against ref(x) = y and its dx(dy). */
function oneInput(
  name: string,
  xShape: number[],
  limit: number,
  f: (x: dn.Tensor) => dn.Tensor,
  ref: (x: NdArray) => { y: NdArray; dx: (dy: NdArray) => ArrayLike<number> },
  gen = uniform,
): SplitCase {
  const x = data(xShape, nextSeed++, gen);
  const want = ref(x);
  const dy = data(want.y.shape, nextSeed++);
  return {
    name: `${name} [${xShape}] under ${limit} bytes: forward and backward`,
    limit,
    gpu: () => {
      const xt = fromNd(x.data, xShape, true);
      const y = f(xt);
      y.backward(fromNd(dy.data, want.y.shape));
      return { y, dx: grad(xt) };
    },
    cpu: () => ({ y: want.y.data, dx: want.dx(dy) }),
    exact: ['y', 'dx'],
  };
}

const X = [3, 5, 7, 3];

const elementwiseCases: SplitCase[] = [
  ...(['relu', 'sigmoid'] as const).map((op) =>
    oneInput(op, X, 256, (x) => dn[op](x), (x) => ({ y: unaryForwardRef(op, x), dx: (dy) => unaryBackwardRef(op, x, dy).data }), awayFromZero)),
  ...([
    { op: 'mul', b: [3], why: 'a per-channel [3]' },
    { op: 'sub', b: [7, 3], why: 'a [7, 3] suffix (chunks of 192 floats)' },
    { op: 'div', b: [1], why: 'a scalar' },
  ] as const).map(({ op, b: bShape, why }): SplitCase => {
    const [a, b, dy] = [data(X, 21, awayFromZero), data([...bShape], 22, awayFromZero), data(X, 23)];
    return {
      name: `${op} broadcasting ${why}: forward and both gradients`,
      limit: 1024,
      gpu: () => {
        const [at, bt] = [fromNd(a.data, X, true), fromNd(b.data, [...bShape], true)];
        const out = dn[op](at, bt);
        out.backward(fromNd(dy.data, X));
        return { out, da: grad(at), db: grad(bt) };
      },
      cpu: () => {
        const [da, db] = binaryBackwardRef(op, a, b, dy);
        return { out: binaryForwardRef(op, a, b).data, da: da.data, db: db.data };
      },
      // db sums the broadcast gradient over the split elements: another order.
      exact: ['out', 'da'],
    };
  }),
  (() => {
    const [x, dyS, dyM] = [data(X, 31), data([3], 32), data([3, 3], 33)];
    return {
      name: 'sum over [N, H, W] (split along R) and mean over [H, W] (rows of 105 floats, staged)',
      limit: 256,
      gpu: () => {
        const xt = fromNd(x.data, X, true);
        const [s, m] = [dn.sum(xt, [0, 1, 2]), dn.mean(xt, [1, 2])];
        dn.add(dn.sum(dn.mul(s, fromNd(dyS.data, [3]))), dn.sum(dn.mul(m, fromNd(dyM.data, [3, 3])))).backward();
        return { s, m, dx: grad(xt) };
      },
      cpu: () => ({
        s: sumRef(x, [0, 1, 2]).data,
        m: sumRef(x, [1, 2]).data.map((v) => v / 35),
        dx: x.data.map((_, i) => dyS.data[i % 3] + dyM.data[Math.floor(i / 105) * 3 + (i % 3)] / 35),
      }),
      exact: ['dx'],
    };
  })(),
];

function convCase(family: ConvFamily | 'autograd', xShape: number[], k: number, cout: number, opts: dn.Conv2dOptions, limit: number, algorithm: ConvAlgorithm = 'direct'): SplitCase {
  const wShape = [k, k, xShape[3], cout];
  const g = conv2dGeometry(xShape, wShape, opts);
  const yShape = [g.n, g.ho, g.wo, g.cout];
  const [x, w, b, dy] = [data(xShape, 41), data(wShape, 42), data([cout], 43), data(yShape, 44)];
  return {
    name: `conv2d ${family}${algorithm === 'winograd' ? ' by Winograd' : algorithm === 'winograd-fused' ? ' by fused Winograd' : ''} x [${xShape}] k${k} ${JSON.stringify(opts)} under ${limit} bytes: forward and gradients`,
    limit,
    gpu: (): Outputs => {
      const [xt, wt, bt, dyt] = [fromNd(x.data, xShape, true), fromNd(w.data, wShape, true), fromNd(b.data, [cout], true), fromNd(dy.data, yShape)];
      if (family !== 'autograd') {
        return { y: forwardGemm(g, xt, wt, bt, family, algorithm), dx: backwardInputGemm(g, dyt, wt, null, family, algorithm), dw: backwardWeightGemm(g, dyt, xt, family) };
      }
      const y = dn.conv2d(xt, wt, bt, opts);
      y.backward(dyt);
      return { y, dx: grad(xt), dw: grad(wt), db: grad(bt) };
    },
    cpu: () => {
      const grads = conv2dBackwardRef(x, w, dy, opts);
      return { y: conv2dForwardRef(x, w, b, opts).data, dx: grads.dx.data, dw: grads.dw.data, db: grads.db.data };
    },
    exact: ['y', 'dx'],
    tol: algorithm === 'direct' ? CONV_TOL : winogradTolerance(Math.max(xShape[3], cout)),
  };
}

const convCases: SplitCase[] = [
  // 504 and 672 bytes per sample, 2 KiB: chunks of 3 and 2 samples (staged).
  convCase('autograd', [5, 6, 7, 3], 3, 4, { padding: 'same' }, 2048),
  // 1 KiB per sample: chunks of 2 and 1 samples bound in place.
  convCase('autograd', [3, 8, 8, 4], 3, 4, { padding: 'same' }, 2048),
  // One sample per chunk, stride-phase backward input; the default family (subgroup on lavapipe)
  // through autograd, and the tiled one.
  convCase('autograd', [3, 9, 8, 2], 3, 5, { stride: 2, padding: 'same' }, 1024),
  convCase('tiled', [3, 9, 8, 2], 3, 5, { stride: 2, padding: 'same' }, 1024),
  // The tiled family's vec4 stores (4 and 8 channels) into staged chunks: y is 1344 bytes a
  // sample and x 672, neither a multiple of the 256-byte offset alignment.
  convCase('tiled', [5, 6, 7, 4], 3, 8, { padding: 'same' }, 2048),
  // Winograd (tiled family: blocks padded to 64-row tiles): per sample x is 32 KiB (bound in
  // place), 64 blocks, whose V and M take 72 KiB each; the 160 KiB limit holds one sample's V and
  // M together, so each sample is a chunk. U (36 x 8 x 8) is bound whole.
  convCase('tiled', [3, 32, 32, 8], 3, 8, { padding: 'same' }, 160 * 1024, 'winograd'),
  // Fused Winograd (no workspace, the family unused; U, 4.5 KiB, bound whole): one sample per
  // chunk, y 11520 bytes a sample (bound in place) and x 5760 (staged, off the 256-byte alignment).
  convCase('tiled', [3, 20, 18, 4], 3, 8, { padding: 'same' }, 12 * 1024, 'winograd-fused'),
  // Chunks of 2 and 1 samples: the first with two split-K slices, both added into dw.
  convCase('autograd', [3, 24, 24, 2], 3, 4, { padding: 'same' }, 20 * 1024),
  (() => {
    const [xShape, wShape, yShape] = [[5, 4, 3, 4], [2, 2, 3, 4], [5, 8, 6, 3]];
    const opts = { stride: 2, padding: 'valid' } as const;
    const [x, w, b, dy] = [data(xShape, 51), data(wShape, 52), data([3], 53), data(yShape, 54)];
    return {
      name: 'convTranspose2d 2x2 stride 2, one sample per chunk: forward and gradients',
      limit: 1024,
      gpu: () => {
        const [xt, wt, bt] = [fromNd(x.data, xShape, true), fromNd(w.data, wShape, true), fromNd(b.data, [3], true)];
        const y = dn.convTranspose2d(xt, wt, bt, opts);
        y.backward(fromNd(dy.data, yShape));
        return { y, dx: grad(xt), dw: grad(wt), db: grad(bt) };
      },
      cpu: () => {
        const g = convTranspose2dBackwardRef(x, w, dy, opts);
        return { y: convTranspose2dForwardRef(x, w, b, opts).data, dx: g.dx.data, dw: g.dw.data, db: g.db.data };
      },
      exact: ['y', 'dx'],
      tol: CONV_TOL,
    };
  })(),
];

const maxCase = (xShape: number[], opts: dn.Pool2dOptions, limit: number): SplitCase =>
  oneInput(`maxPool2d ${JSON.stringify(opts)}`, xShape, limit, (x) => dn.maxPool2d(x, opts), (x) => ({ y: maxPool2dRef(x, opts), dx: (dy) => maxPool2dBackwardRef(x, dy, opts).data }));
const upsampleCase = (xShape: number[], mode: 'nearest' | 'bilinear', limit: number): SplitCase =>
  oneInput(`upsample2d x2 ${mode}`, xShape, limit, (x) => dn.upsample2d(x, { scale: 2, mode }), (x) => ({
    y: upsample2dRef(x, 2 * xShape[1], 2 * xShape[2], mode),
    dx: (dy) => upsample2dBackwardRef(xShape, dy, mode).data,
  }));
const AVG = { size: 3, stride: 2, padding: 'same' } as const;

const poolCases: SplitCase[] = [
  // 432-byte samples: one per chunk, staged. Then 1 KiB samples, bound in place.
  maxCase([5, 6, 6, 3], { size: 2, stride: 2 }, 512),
  maxCase([5, 6, 6, 3], { size: 3, stride: 2, padding: 'same' }, 512),
  maxCase([5, 8, 8, 4], { size: 2, stride: 2 }, 1024),
  oneInput('avgPool2d 3x3 stride 2 same', [5, 6, 6, 3], 512, (x) => dn.avgPool2d(x, AVG), (x) => ({ y: avgPool2dRef(x, AVG), dx: (dy) => avgPool2dBackwardRef(x.shape, dy, AVG).data })),
  oneInput('globalAvgPool2d', [5, 6, 6, 3], 512, (x) => dn.globalAvgPool2d(x), (x) => ({ y: globalAvgPool2dRef(x), dx: (dy) => globalAvgPool2dBackwardRef(x.shape, dy).data })),
  upsampleCase([5, 4, 3, 3], 'nearest', 1024),
  upsampleCase([5, 4, 3, 3], 'bilinear', 1024),
  upsampleCase([5, 4, 4, 4], 'bilinear', 2048),
];

function concatCase(aShape: number[], bShape: number[], axis: number, why: string, copies = false): SplitCase {
  const [a, b] = [data(aShape, 71), data(bShape, 72)];
  const outShape = concatRef([a, b], axis).shape;
  const dy = data(outShape, 73);
  return {
    name: `concat ${why}: forward and backward`,
    limit: 256,
    gpu: () => {
      const [at, bt] = [fromNd(a.data, aShape, true), fromNd(b.data, bShape, true)];
      const y = dn.concat([at, bt], axis);
      y.backward(fromNd(dy.data, outShape));
      return { y, da: grad(at), db: grad(bt) };
    },
    cpu: () => {
      // concat's backward hands each input its slab of dy: the forward's map, inverted.
      const index = concatRef([nd(a.data.map((_, i) => i), aShape), nd(b.data.map((_, i) => -1 - i), bShape)], axis).data;
      const [da, db] = [new Float64Array(a.data.length), new Float64Array(b.data.length)];
      index.forEach((v, o) => (v >= 0 ? (da[v] = dy.data[o]) : (db[-1 - v] = dy.data[o])));
      return { y: concatRef([a, b], axis).data, da, db };
    },
    exact: ['y', 'da', 'db'],
    copies,
  };
}

const concatCases: SplitCase[] = [
  concatCase([5, 4, 4, 3], [5, 4, 4, 5], -1, 'along channels (chunks of rows, staged keeping the other slab)'),
  concatCase([5, 2, 2, 32], [5, 2, 2, 32], -1, 'along channels (256-byte rows, bound in place)'),
  concatCase([2, 4, 4, 3], [3, 4, 4, 3], 0, 'along N (rows wider than a binding: buffer copies)', true),
  (() => {
    const x = data([5, 4, 4, 8], 74);
    const [d0, d1] = [data([5, 4, 4, 3], 75), data([5, 4, 4, 5], 76)];
    return {
      name: 'split along channels: forward and backward (split.backward in chunks of rows)',
      limit: 256,
      gpu: () => {
        const xt = fromNd(x.data, x.shape, true);
        const [p0, p1] = dn.split(xt, [3, 5], -1);
        dn.add(dn.sum(dn.mul(p0, fromNd(d0.data, d0.shape))), dn.sum(dn.mul(p1, fromNd(d1.data, d1.shape)))).backward();
        return { p0, p1, dx: grad(xt) };
      },
      cpu: () => ({
        p0: x.data.filter((_, i) => i % 8 < 3),
        p1: x.data.filter((_, i) => i % 8 >= 3),
        dx: x.data.map((_, i) => (i % 8 < 3 ? d0.data[Math.floor(i / 8) * 3 + (i % 8)] : d1.data[Math.floor(i / 8) * 5 + (i % 8) - 3])),
      }),
      // dx adds the two parts' gradients (each zero outside its slab): exact either way.
      exact: ['p0', 'p1', 'dx'],
    };
  })(),
];

function batchNormCase(xShape: number[], training: boolean, limit: number): SplitCase {
  const c = xShape[3];
  const between = (lo: number, hi: number) => (n: number, s: number) => uniform(n, s, lo, hi);
  const x = data(xShape, 81, between(2, 4));
  const [gamma, beta, rm, rv] = [data([c], 82, between(0.5, 1.5)), data([c], 83), data([c], 84), data([c], 85, between(0.5, 2))];
  const dy = data(xShape, 86);
  const o = { training, momentum: 0.1, eps: 1e-5 };
  return {
    name: `batchNorm2d ${training ? 'training' : 'inference'} [${xShape}] under ${limit} bytes: forward, running stats, backward`,
    limit,
    gpu: () => {
      const [xt, g, bt] = [fromNd(x.data, xShape, true), fromNd(gamma.data, [c], true), fromNd(beta.data, [c], true)];
      const [m, v] = [fromNd(rm.data, [c]), fromNd(rv.data, [c])];
      const y = batchNorm2d(xt, g, bt, m, v, o);
      y.backward(fromNd(dy.data, xShape));
      return { y, runningMean: m, runningVar: v, dx: grad(xt), dgamma: grad(g), dbeta: grad(bt) };
    },
    cpu: () => {
      const f = batchNormForwardRef(x, gamma, beta, rm, rv, o);
      const b = batchNormBackwardRef(x, gamma, dy, rm, rv, o);
      return { y: f.y.data, runningMean: f.runningMean.data, runningVar: f.runningVar.data, dx: b.dx.data, dgamma: b.dgamma.data, dbeta: b.dbeta.data };
    },
    // Inference normalises with the running stats, element by element; training's batch statistics
    // and every dgamma, dbeta are sums over the split rows.
    exact: training ? [] : ['y', 'runningMean', 'runningVar', 'dx'],
  };
}

const dropoutCase: SplitCase = (() => {
  const [x, dy] = [data(X, 91), data(X, 92)];
  const [rate, seed] = [0.3, 1234];
  const keep = (i: number): number => (randomUniformRef(seed, i) >= rate ? 1 / (1 - rate) : 0);
  return {
    name: 'dropout and randomUniform: the same mask in chunks (global element index)',
    limit: 256,
    gpu: () => {
      const xt = fromNd(x.data, X, true);
      const y = dn.dropout(xt, { rate, seed });
      y.backward(fromNd(dy.data, X));
      return { y, dx: grad(xt), u: dn.randomUniform(X, seed) };
    },
    cpu: () => ({ y: x.data.map((v, i) => v * keep(i)), dx: dy.data.map((v, i) => v * keep(i)), u: x.data.map((_, i) => randomUniformRef(seed, i)) }),
    exact: ['y', 'dx', 'u'],
  };
})();

const GROUPS = {
  'element-wise and reductions': elementwiseCases,
  'convolutions': convCases,
  'pooling and upsampling': poolCases,
  'concat and split': concatCases,
  'batch norm and dropout': [
    batchNormCase(X, true, 256),
    batchNormCase(X, false, 256),
    // 256-byte rows: chunks of 4 rows bound in place.
    batchNormCase([2, 4, 4, 64], true, 1024),
    dropoutCase,
  ],
} as const;

for (const [group, cases] of Object.entries(GROUPS)) {
  describe(`split under a lowered binding limit: ${group}`, () => {
    for (const cs of cases) it(cs.name, () => checkSplit(cs));
  });
}

// ---------------------------------------------------------------------------------------------
// The planner, the runtime's checks and the limits of splitting

describe('chunkItems', () => {
  const x = (n: number) => planned('x', [n]);

  it('takes everything at once when it fits, and evens out the chunks otherwise', () => {
    runtime().setBindingLimit(33 * 64 * 4);
    expect(chunkItems('op', 33, [part(x(33 * 64), 64)])).toBe(33);
    runtime().setBindingLimit(32 * 64 * 4);
    // Room for 32 items of 256 bytes: 33 run as 17 + 16, not 32 + 1.
    expect(chunkItems('op', 33, [part(x(33 * 64), 64)])).toBe(17);
  });

  it('keeps chunk offsets aligned when it can, and a multiple of the granule always', () => {
    runtime().setBindingLimit(4096, { offsetAlignment: 256 });
    // 36-byte items: offsets are 256-byte aligned every 64 items; 113 fit, so 64 per chunk.
    expect(chunkItems('op', 200, [part(x(200 * 9), 9)])).toBe(64);
    // A granule of 5 items (a broadcast period): multiples of lcm(5, 64) = 320; 1024 fit.
    expect(chunkItems('op', 2000, [part(x(2000), 1)], [], 5)).toBe(960);
    // 400-byte items: 16 per aligned step but only 10 fit, so misaligned chunks (staged), evened to 9.
    expect(chunkItems('op', 25, [part(x(25 * 100), 100)])).toBe(9);
  });

  it('binds aligned chunks in place and stages misaligned ones through copies, with bit-identical results', async () => {
    const conv = (xShape: number[]) => () => {
      const w = dn.tensor(uniform(3 * 3 * xShape[3] * 4, 2), [3, 3, xShape[3], 4]);
      return { y: dn.conv2dForward(dn.tensor(uniform(size(xShape), 1), xShape), w, null, { padding: 'same' }) };
    };
    // 1 KiB samples start at aligned offsets; 504-byte ones only every 32 samples.
    for (const [xShape, staged] of [[[3, 8, 8, 4], false], [[5, 6, 7, 3], true]] as const) {
      const whole = await run(conv([...xShape]));
      runtime().setBindingLimit(2048);
      const split = await run(conv([...xShape]));
      runtime().setBindingLimit(null);
      expect(split.dispatches).toBeGreaterThan(whole.dispatches);
      expect(split.copies > 0, `copies for [${xShape}]`).toBe(staged);
      expectBitEqual(`conv2d [${xShape}]`, split.values.y, whole.values.y);
    }
  });

  it('throws LimitError naming the op and tensor when one item, or a tensor bound whole, is too big', () => {
    runtime().setBindingLimit(256);
    expect(() => chunkItems('conv2d.forward', 4, [part(planned('conv2d.y', [4, 65]), 65)])).toThrow(/conv2d\.forward.*conv2d\.y \[4,65\].*256 bytes/);
    expect(() => chunkItems('op', 4, [part(x(4), 1)], [planned('w', [65])])).toThrow(LimitError);
    expect(() => chunkItems('add.forward', 100, [part(x(100), 1)], [], 80)).toThrow(LimitError);
  });
});

describe('splitting from the op side', () => {
  it('an op whose single sample exceeds the limit throws LimitError naming the op, and leaks nothing', async () => {
    const before = dn.memory().bytesInUse;
    const x = dn.zeros([2, 8, 8, 3]);
    const w = dn.zeros([3, 3, 3, 4]);
    const b = dn.zeros([8, 8, 3]);
    runtime().setBindingLimit(512);
    expect(() => dn.conv2d(x, w, null, { padding: 'same' })).toThrow(/conv2d\.forward/);
    expect(() => dn.maxPool2d(x, { size: 2 })).toThrow(/maxPool2d\.forward/);
    expect(() => dn.upsample2d(x, { scale: 2, mode: 'nearest' })).toThrow(LimitError);
    // A broadcast operand is bound whole: [8, 8, 3] is 768 bytes.
    expect(() => dn.add(x, b)).toThrow(/add\.forward/);
    runtime().setBindingLimit(null);
    for (const t of [x, w, b]) t.dispose();
    await dn.sync();
    expect(dn.memory().bytesInUse - before).toBe(0);
  });

  it('dispatches exactly as before when everything fits under a lowered limit', async () => {
    const x = dn.tensor(uniform(2 * 6 * 6 * 3, 5), [2, 6, 6, 3], { requiresGrad: true });
    const w = dn.tensor(uniform(3 * 3 * 3 * 4, 6), [3, 3, 3, 4], { requiresGrad: true });
    const step = (): number => {
      const before = runtime().dispatchCount;
      dn.scope(() => dn.sum(dn.maxPool2d(dn.relu(dn.conv2d(x, w, null, { padding: 'same' })), { size: 2 })).backward());
      const dispatches = runtime().dispatchCount - before;
      x.zeroGrad();
      w.zeroGrad();
      return dispatches;
    };
    const unlimited = step();
    runtime().setBindingLimit(2 * 6 * 6 * 4 * 4);
    expect(step()).toBe(unlimited);
    runtime().setBindingLimit(null);
    x.dispose();
    w.dispose();
  });
});
