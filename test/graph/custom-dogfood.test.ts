// dn.runKernel and dn.customOp used as a user would: a fused bias + GELU (tanh form) with a WGSL
// forward and a WGSL backward, checked as dawnet checks its own ops (CPU backward against float64
// central differences, GPU forward and backward against the CPU); a two-output op with one output
// unused, twice in one graph, backpropagated twice with retainGraph; a momentum SGD written with
// in-place kernel outputs, trained by fit() next to dn.optim.SGD; a backward that throws; and the
// kernel edge cases (no workgroups, an output past the binding limit, vec4 in place, a NaN param).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { expectClose } from '../helpers/close.js';
import { numericGrad } from '../helpers/finite-diff.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// ---- bias + GELU, tanh form: y = g(x + b), g(u) = u/2 · (1 + tanh(k (u + 0.044715 u³))) ----

const K = Math.sqrt(2 / Math.PI);
const C3 = 0.044715;
const geluRef = (u: number): number => 0.5 * u * (1 + Math.tanh(K * (u + C3 * u ** 3)));
function geluGradRef(u: number): number {
  const t = Math.tanh(K * (u + C3 * u ** 3));
  return 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * K * (1 + 3 * C3 * u * u);
}

/** The CPU reference, float64: forward of x [n, c] and bias [c], and its backward for dy. */
const biasGeluRef = (x: Float64Array, b: Float64Array): Float64Array => x.map((v, i) => geluRef(v + b[i % b.length]));
function biasGeluBackRef(x: Float64Array, b: Float64Array, dy: Float64Array): { dx: Float64Array; db: Float64Array } {
  const dx = x.map((v, i) => dy[i] * geluGradRef(v + b[i % b.length]));
  const db = new Float64Array(b.length);
  dx.forEach((v, i) => (db[i % b.length] += v));
  return { dx, db };
}

const GELU_WGSL = /* wgsl */ `
const K: f32 = 0.7978845608028654;
fn inner(u: f32) -> f32 { return K * (u + 0.044715 * u * u * u); }`;

const biasGelu = dn.customOp({
  name: 'biasGelu',
  forward(ctx, x: dn.Tensor, b: dn.Tensor) {
    ctx.save(x, b);
    return dn.runKernel({
      name: 'biasGeluForward',
      code: `${GELU_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= params.n) { return; }
  let u = x[g.x] + b[g.x % params.c];
  y[g.x] = 0.5 * u * (1.0 + tanh(inner(u)));
}`,
      inputs: { x, b },
      outputs: { y: x.shape },
      params: { n: ['u32', x.size], c: ['u32', b.size] },
      workgroups: Math.ceil(x.size / 64),
    }).y;
  },
  backward(ctx, dy) {
    const [x, b] = ctx.saved as dn.Tensor[];
    const { dx } = dn.runKernel({
      name: 'biasGeluBackwardInput',
      code: `${GELU_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= params.n) { return; }
  let u = x[g.x] + b[g.x % params.c];
  let t = tanh(inner(u));
  dx[g.x] = dy[g.x] * (0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * K * (1.0 + 3.0 * 0.044715 * u * u));
}`,
      inputs: { x, b, dy },
      outputs: { dx: x.shape },
      params: { n: ['u32', x.size], c: ['u32', b.size] },
      workgroups: Math.ceil(x.size / 64),
    });
    // The bias gradient sums dx over the rows: one invocation per channel.
    const { db } = dn.runKernel({
      name: 'biasGeluBackwardBias',
      code: `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= params.c) { return; }
  var s = 0.0;
  for (var r = 0u; r < params.rows; r++) { s += dx[r * params.c + g.x]; }
  db[g.x] = s;
}`,
      inputs: { dx },
      outputs: { db: b.shape },
      params: { c: ['u32', b.size], rows: ['u32', x.size / b.size] },
      workgroups: Math.ceil(b.size / 64),
    });
    return [ctx.needsInputGrad[0] ? dx : null, ctx.needsInputGrad[1] ? db : null];
  },
});

describe('a fused bias + GELU with WGSL forward and backward', () => {
  // Odd sizes: 70 channels is not a multiple of the workgroup, 3 rows is not a power of two.
  const [rows, chans] = [3, 70];
  const xs = uniform(rows * chans, 21, -3, 3);
  const bs = uniform(chans, 22, -1, 1);
  const r = uniform(rows * chans, 23); // L = Σ r · y, so dL/dy = r

  it('has a CPU backward that matches float64 central differences', () => {
    const { dx, db } = biasGeluBackRef(xs, bs, r);
    const loss = (xv: Float64Array, bv: Float64Array) => biasGeluRef(xv, bv).reduce((s, v, i) => s + v * r[i], 0);
    // Smooth function, float64 differences with eps 1e-6: accurate to ~1e-9, well inside atol 1e-6.
    expectClose('dx (finite differences)', dx, numericGrad((v) => loss(v, bs), xs), { atol: 1e-6, rtol: 1e-5 });
    expectClose('db (finite differences)', db, numericGrad((v) => loss(xs, v), bs), { atol: 1e-6, rtol: 1e-5 });
  });

  it('matches the CPU forward and backward on the GPU', async () => {
    const x = fromNd(xs, [rows, chans], true);
    const b = fromNd(bs, [chans], true);
    const weights = fromNd(r, [rows, chans]);
    const y = biasGelu(x, b);
    dn.scope(() => dn.sum(dn.mul(y, weights)).backward());
    const { dx, db } = biasGeluBackRef(xs, bs, r);
    // Inputs rounded to f32 (relative 6e-8) move g(u) (slope at most ~1.13) by less than 1e-6 for
    // |u| ≤ 4; WGSL's tanh on lavapipe is within a few ulp. F32 defaults hold for y and dx.
    expectClose('biasGelu y', await y.toArray(), biasGeluRef(xs, bs));
    expectClose('biasGelu dx', await x.grad!.toArray(), dx);
    // db sums 3 rows of dx: three f32 roundings more, still inside the F32 defaults.
    expectClose('biasGelu db', await b.grad!.toArray(), db);
    for (const t of [x, b, weights, y]) t.dispose();
  });
});

// ---- a two-output op, one output unused, twice in one graph ----

describe('a customOp with two outputs', () => {
  it('gives zeros for the unused output, runs once per pass, and backpropagates twice with retainGraph', async () => {
    let passes = 0;
    const sumDiff = dn.customOp({
      name: 'sumDiff',
      forward(_ctx, a: dn.Tensor, b: dn.Tensor) {
        return [dn.add(a, b), dn.sub(a, b)];
      },
      backward(_ctx, ds, dd) {
        passes++;
        return [dn.add(ds, dd), dn.sub(ds, dd)];
      },
    });
    const a = dn.tensor([1, 2], [2], { requiresGrad: true });
    const b = dn.tensor([3, 5], [2], { requiresGrad: true });
    const before = dn.memory().bytesInUse;
    dn.scope(() => {
      const [s1] = sumDiff(a, b); // its difference is never used
      const [, d2] = sumDiff(s1, b); // d2 = (a + b) - b = a: its sum never used
      const loss = dn.sum(dn.square(d2));
      loss.backward({ retainGraph: true });
      loss.backward();
    });
    expect(passes).toBe(4); // two nodes, two passes: each node once per pass
    expect(Array.from(await a.grad!.toArray())).toEqual([4, 8]); // 2 · 2a, summed over both passes
    expect(Array.from(await b.grad!.toArray())).toEqual([0, 0]); // b cancels: +1 and -1
    a.zeroGrad();
    b.zeroGrad();
    await dn.sync();
    // Of everything the graph and both passes made, nothing outlives the scope but the gradients.
    expect(dn.memory().bytesInUse).toBe(before);
    for (const t of [a, b]) t.dispose();
  });
});

// ---- a backward that throws during loss.backward() ----

describe('a customOp whose backward throws', () => {
  it('leaves every .grad as it was, including one that already held a gradient, and leaks nothing', async () => {
    const broken = dn.customOp({
      name: 'brokenBackward',
      forward: (_ctx, x: dn.Tensor) => dn.square(x),
      backward(_ctx, dy) {
        dn.scale(dy, 3); // a temporary made before the failure: freed with the pass
        throw new RangeError('brokenBackward: out of ideas');
      },
    });
    const x = dn.tensor([1, 2], [2], { requiresGrad: true });
    const w = dn.tensor([1, 1], [2], { requiresGrad: true });
    w.grad = dn.tensor([9, 9], [2]);
    const before = dn.memory().bytesInUse;
    dn.scope(() => {
      // w's own gradient is computed before the throwing node runs (the mul is later in the graph).
      const loss = dn.sum(dn.mul(broken(x), w));
      expect(() => loss.backward()).toThrow(RangeError);
    });
    await dn.sync();
    expect(dn.memory().bytesInUse).toBe(before);
    expect(Array.from(await w.grad!.toArray())).toEqual([9, 9]);
    expect(x.grad).toBeNull();
    for (const t of [x, w]) t.dispose();
  });
});

// ---- a momentum SGD of the user's, updating in place, trained by fit() ----

/** PyTorch's SGD with momentum, buf = μ buf + g and p -= lr · buf, as one kernel writing both in place. */
class KernelSgd extends dn.optim.Optimizer {
  constructor(params: dn.Tensor[], lr: number, readonly momentum: number) {
    super(params, lr, 'KernelSgd');
  }
  protected update(p: dn.optim.NamedParameter): void {
    const { tensor: buf } = this.slot(p, 'momentum');
    // A parameter wants a gradient: runKernel writes it in place only under noGrad (PyTorch's
    // optimisers step under torch.no_grad too).
    dn.noGrad(() =>
      dn.runKernel({
        name: 'kernelSgd',
        code: `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) i: vec3<u32>) {
  if (i.x >= params.n) { return; }
  let m = params.mu * buf[i.x] + g[i.x];
  buf[i.x] = m;
  w[i.x] = w[i.x] - params.lr * m;
}`,
        inputs: { g: p.tensor.grad! },
        outputs: { w: { tensor: p.tensor }, buf: { tensor: buf } },
        params: { n: ['u32', p.tensor.size], mu: ['f32', this.momentum], lr: ['f32', this.lr] },
        workgroups: Math.ceil(p.tensor.size / 64),
      }),
    );
  }
}

describe('a momentum SGD written with runKernel', () => {
  /** A Linear(3, 2) trained by fit for two epochs of three batches, accumulating two; its weights. */
  async function trained(make: (params: dn.Tensor[]) => dn.optim.Optimizer): Promise<{ start: Float32Array[]; end: Float32Array[] }> {
    dn.setInitSeed(5);
    const model = new dn.nn.Linear(3, 2);
    const start = await Promise.all(model.parameters().map((t) => t.toArray()));
    const optimizer = make(model.parameters());
    const xs = uniform(3 * 4 * 3, 31);
    const ys = uniform(3 * 4 * 2, 32);
    const data = { batches: () => [0, 1, 2].map((k) => ({ x: fromNd(xs.subarray(12 * k, 12 * k + 12), [4, 3]), y: fromNd(ys.subarray(8 * k, 8 * k + 8), [4, 2]) })) };
    const loss = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));
    await dn.train.fit(model, data, null, { epochs: 2, optimizer, loss, accumulate: 2, verbose: 0 });
    const end = await Promise.all(model.parameters().map((t) => t.toArray()));
    optimizer.dispose();
    model.dispose();
    return { start, end };
  }

  it('trains a model as dn.optim.SGD with the same momentum does', async () => {
    const ours = await trained((params) => new KernelSgd(params, 0.1, 0.9));
    const theirs = await trained((params) => new dn.optim.SGD(params, { lr: 0.1, momentum: 0.9 }));
    expect(ours.end).not.toEqual(ours.start); // it did train
    // The same f32 operations in the same order as the built-in kernel: the same bits.
    expect(ours.end).toEqual(theirs.end);
  });
});

// ---- kernel edge cases ----

const WRITE_C = `@compute @workgroup_size(4)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < arrayLength(&y)) { y[g.x] = params.c; } }`;

describe('runKernel at the edges', () => {
  it('dispatches nothing for zero workgroups: an output keeps its fill', async () => {
    const { y } = dn.runKernel({ name: 'noGroups', code: WRITE_C, outputs: { y: { shape: [4], fill: 7 } }, params: { c: ['f32', 1] }, workgroups: [0, 3] });
    expect(Array.from(await y.toArray())).toEqual([7, 7, 7, 7]);
    y.dispose();
  });

  it('refuses an output past the storage binding limit with a LimitError naming the kernel, keeping nothing', async () => {
    const before = dn.memory().bytesInUse;
    // One element past what one binding may hold: the smallest output that cannot be bound.
    const elements = runtime().limits.maxStorageBufferBindingSize / 4 + 1;
    let thrown: unknown;
    try {
      dn.runKernel({ name: 'tooBig', code: WRITE_C, outputs: { y: [elements] }, params: { c: ['f32', 1] }, workgroups: 1 });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(dn.LimitError);
    expect((thrown as Error).message).toContain('custom.tooBig');
    await dn.sync();
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('writes a vec4 output in place and passes a NaN or infinite f32 param through', async () => {
    const w = dn.tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
    dn.runKernel({
      name: 'vec4Axpy',
      code: `@compute @workgroup_size(2)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < 2u) { w[g.x] = w[g.x] * vec4<f32>(params.a, 1.0, params.b, 2.0); } }`,
      outputs: { w: { tensor: w, type: 'vec4<f32>' } },
      params: { a: ['f32', NaN], b: ['f32', -Infinity] },
      workgroups: 1,
    });
    expect(Array.from(await w.toArray())).toEqual([NaN, 2, -Infinity, 8, NaN, 6, -Infinity, 16]);
    w.dispose();
  });
});
