// dn.gradcheck used as a user would: on customOps whose forward and backward are WGSL kernels of
// their own (one with the classic edge-of-row index slip), an op with two outputs, a layer stack,
// arguments of every kind; and misused. A misuse must be a DawnetError naming the problem with
// nothing left allocated, and a tensor gradcheck did not make must never be disposed by it.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { rejection } from '../helpers/errors.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const { track, fromNd } = disposeAfterEach();


/**
 * Lets work whose promise nobody awaits any more run out (an async fn's body, a gradcheck a scope
 * refused, which carries on to its end): up to 10 s for the pool to come back to `bytes`.
 */
async function settle(bytes: number): Promise<void> {
  for (let i = 0; i < 200 && dn.memory().bytesInUse !== bytes; i++) await new Promise((r) => setTimeout(r, 50));
}

/**
 * y[r, c] = x[r, c]² - x[r, c-1] / 2 along each row of x [R, C], forward and backward by kernels of
 * our own. `slip` bounds the backward's right neighbour by the flat size instead of the row, so the
 * last column of every row but the last reads the next row's first gradient.
 */
function rowDiff(slip = false) {
  const bound = slip ? 'i + 1u < params.n' : 'c + 1u < params.cols';
  return dn.customOp({
    name: slip ? 'rowDiffSlip' : 'rowDiff',
    forward(ctx, x: dn.Tensor) {
      ctx.save(x);
      return dn.runKernel({
        name: 'rowDiff',
        code: /* wgsl */ `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= params.n) { return; }
  var left = 0.0;
  if (i % params.cols > 0u) { left = x[i - 1u]; }
  y[i] = x[i] * x[i] - 0.5 * left;
}`,
        inputs: { x },
        outputs: { y: x.shape },
        params: { n: ['u32', x.size], cols: ['u32', x.shape[1]] },
        workgroups: Math.ceil(x.size / 64),
      }).y;
    },
    backward(ctx, dy) {
      const [x] = ctx.saved;
      return dn.runKernel({
        name: 'rowDiffBackward',
        code: /* wgsl */ `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= params.n) { return; }
  let c = i % params.cols;
  var right = 0.0;
  if (${bound}) { right = dy[i + 1u]; }
  dx[i] = 2.0 * x[i] * dy[i] - 0.5 * right;
}`,
        inputs: { x, dy },
        outputs: { dx: x.shape },
        params: { n: ['u32', x.size], cols: ['u32', x.shape[1]] },
        workgroups: Math.ceil(x.size / 64),
      }).dx;
    },
  });
}

const rowDiffRef = (cols: number) => (x: Float64Array) => x.map((v, i) => v * v - (i % cols > 0 ? 0.5 * x[i - 1] : 0));

/** [a + b, a · b] by one kernel with two outputs; `slip` drops the sum's gradient from b's. */
function sumAndProduct(slip = false) {
  return dn.customOp({
    name: 'sumAndProduct',
    forward(ctx, a: dn.Tensor, b: dn.Tensor) {
      ctx.save(a, b);
      const { s, p } = dn.runKernel({
        name: 'sumAndProduct',
        code: /* wgsl */ `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < params.n) { s[g.x] = a[g.x] + b[g.x]; p[g.x] = a[g.x] * b[g.x]; }
}`,
        inputs: { a, b },
        outputs: { s: a.shape, p: a.shape },
        params: { n: ['u32', a.size] },
        workgroups: Math.ceil(a.size / 64),
      });
      return [s, p];
    },
    backward(ctx, ds, dp) {
      const [a, b] = ctx.saved;
      return [dn.add(ds, dn.mul(dp, b)), slip ? dn.mul(dp, a) : dn.add(ds, dn.mul(dp, a))];
    },
  });
}

describe('gradcheck on WGSL customOps', () => {
  it("passes a correct kernel backward, and names a row's last column for the edge-of-row slip, in both modes", async () => {
    const x = fromNd(uniform(4 * 5, 1), [4, 5], true);
    const before = dn.memory().bytesInUse;
    for (const reference of [rowDiffRef(5), undefined]) {
      const good = await dn.gradcheck(rowDiff(), [x], { reference });
      expect([good.ok, good.inputs[0].checked, good.inputs[0].failed]).toEqual([true, 20, 0]);
      const e = await rejection(dn.gradcheck(rowDiff(true), [x], { reference }));
      expect(e).toBeInstanceOf(dn.GradcheckError);
      // Rows 0..2 end in the slip; row 3 (the flat end) does not.
      const input = (e as dn.GradcheckError).report!.inputs[0];
      // Each slip is off by r/2, r being the weight of the next row's first output. With r drawn
      // uniform in [-1, 1] that r was 0.0016 after row 0 at the default seed, which hid [0, 4]
      // under the allowance; with |r| >= 0.5 all three are caught.
      expect(input.failed).toBe(3);
      expect(e.message).toMatch(/is off at 3 of 20 element\(s\) checked/);
      expect([[0, 4], [1, 4], [2, 4]]).toContainEqual(input.worst!.index);
    }
    expect(x.grad).toBeNull();
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it("checks both outputs of a two-output kernel, and the report's figures add up", async () => {
    const a = fromNd(uniform(6, 2), [2, 3], true);
    const b = fromNd(uniform(6, 3), [2, 3], true);
    const reference = (av: Float64Array, bv: Float64Array) => [av.map((v, i) => v + bv[i]), av.map((v, i) => v * bv[i])];
    const report = await dn.gradcheck(sumAndProduct(), [a, b], { reference });
    expect(report.ok).toBe(true);
    expect(report.forward).toMatchObject({ ok: true, failed: 0 });
    // One plain forward, two recorded ones, the reference's forward, then 2 per element per argument.
    expect(report.evaluations).toBe(3 + 1 + 2 * 6 * 2);
    expect(report.inputs.map((i) => [i.argument, i.checked, i.of, i.failed, i.remeasured, i.unsettled, i.nondeterminism])).toEqual([
      [0, 6, 6, 0, 0, 0, 0],
      [1, 6, 6, 0, 0, 0, 0],
    ]);
    const wrong = await dn.gradcheck(sumAndProduct(true), [a, b], { reference, throwOnFailure: false });
    expect(wrong.inputs.map((i) => i.failed)).toEqual([0, 6]);
    // The missing term is r_s, the sum's weight in [-1, 1]: maxError is the largest |r_s|, and the
    // worst element (furthest past its allowance) is off by no more than that.
    const w = wrong.inputs[1].worst!;
    expect(wrong.inputs[1].maxError).toBeLessThanOrEqual(1);
    expect(Math.abs(w.backward - w.differences)).toBeLessThanOrEqual(wrong.inputs[1].maxError);
    expect(Math.abs(w.backward - w.differences)).toBeGreaterThan(w.allowed);
  });
});

describe('gradcheck with arguments of every kind', () => {
  it('passes numbers, options and tensors needing no gradient through, leaves an intermediate argument and its graph as they were, inside noGrad too', async () => {
    const leaf = fromNd(uniform(6, 4), [6], true);
    const x = dn.scale(leaf, 2);
    track(x);
    const c = fromNd(uniform(6, 5), [6]);
    const fn = (t: dn.Tensor, k: number, opts: { squared: boolean }, u: dn.Tensor) => dn.mul(opts.squared ? dn.square(t) : t, dn.scale(u, k));
    const reference = (t: Float64Array, k: number, opts: { squared: boolean }, u: Float64Array) => t.map((v, i) => (opts.squared ? v * v : v) * u[i] * k);
    const report = await dn.noGrad(() => dn.gradcheck(fn, [x, 3, { squared: true }, c], { reference }));
    expect(report.inputs.map((i) => i.argument)).toEqual([0]);
    // The caller's graph through x is intact: gradcheck backpropagated through its own copies.
    dn.scope(() => dn.sum(x).backward());
    expect(Array.from(await leaf.grad!.toArray())).toEqual([2, 2, 2, 2, 2, 2]);
    expect(c.grad).toBeNull();
  });

  it('checks one tensor given twice as two arguments, each by its own position', async () => {
    const x = fromNd(uniform(5, 6), [5], true);
    const report = await dn.gradcheck((p: dn.Tensor, q: dn.Tensor) => dn.mul(dn.square(p), q), [x, x], {
      reference: (p: Float64Array, q: Float64Array) => p.map((v, i) => v * v * q[i]),
    });
    expect(report.inputs.map((i) => [i.argument, i.failed])).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });

  it("checks a layer stack's forward closing over its weights, and a weight given as an argument, no .grad touched", async () => {
    dn.setInitSeed(3);
    const net = new dn.nn.Sequential(
      ['conv', new dn.nn.Conv2d(2, 3, { kernelSize: 3, padding: 'same' })],
      ['bn', new dn.nn.BatchNorm2d(3)],
      ['act', new dn.nn.Tanh()],
      ['flat', new dn.nn.Flatten()],
      ['fc', new dn.nn.Linear(4 * 4 * 3, 2)],
    );
    track(net);
    net.eval();
    const x = fromNd(uniform(2 * 4 * 4 * 2, 7), [2, 4, 4, 2], true);
    const whole = await dn.gradcheck((t: dn.Tensor) => net.forward(t), [x], { elements: 16 });
    expect([whole.ok, whole.inputs[0].checked]).toEqual([true, 16]);
    const conv = net.module('conv') as dn.nn.Conv2d;
    const byWeight = await dn.gradcheck((t: dn.Tensor, w: dn.Tensor) => dn.conv2d(t, w, null, { padding: 'same' }), [x, conv.weight], { elements: 16 });
    expect(byWeight.inputs.map((i) => i.failed)).toEqual([0, 0]);
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    expect(conv.weight.disposed).toBe(false);
  });
});

describe('gradcheck options', () => {
  it('checks exactly `elements` elements, the same ones for the same seed and others for another', async () => {
    const x = fromNd(uniform(200, 8), [200], true);
    const fn = (t: dn.Tensor) => dn.tanh(t);
    const one = await dn.gradcheck(fn, [x], { elements: 1 });
    expect(one.inputs[0].checked).toBe(1);
    const [p, q, r] = await Promise.all([1, 1, 2].map((seed) => dn.gradcheck(fn, [x], { elements: 5, seed })));
    expect(p.inputs[0].worst).toEqual(q.inputs[0].worst);
    expect(p.inputs[0].checked).toBe(5);
    expect(r.inputs[0].worst).not.toEqual(p.inputs[0].worst);
  });

  it('lets atol and rtol hide an error, and refuses options of the wrong kind by name', async () => {
    const x = fromNd(uniform(8, 9), [8], true);
    const off = dn.customOp({ name: 'offByTwoPercent', forward: (_c, t: dn.Tensor) => dn.scale(t, 3), backward: (_c, dy) => dn.scale(dy, 3.06) });
    expect((await dn.gradcheck(off, [x], { throwOnFailure: false })).ok).toBe(false);
    expect((await dn.gradcheck(off, [x], { rtol: 0.05 })).ok).toBe(true);
    const before = dn.memory().bytesInUse;
    for (const [options, named] of [
      [{ seed: 'abc' }, 'seed'],
      [{ seed: 1.5 }, 'seed'],
      [{ name: 42 }, 'name'],
      [{ forwardTolerance: 3 }, 'forwardTolerance'],
      [{ forwardTolerance: { atl: 1 } }, 'atl'],
      [{ eps: 0 }, 'eps'],
      [{ elements: 0 }, 'elements'],
    ] as const) {
      const e = await rejection(dn.gradcheck(off, [x], options as never));
      expect(e, JSON.stringify(options)).toBeInstanceOf(dn.ArgumentError);
      expect(e.message).toContain(named);
    }
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('refuses a float32 step too small to move x, rather than calling fn kinked', async () => {
    const x = fromNd(uniform(6, 10, 0.5, 1), [6], true);
    const before = dn.memory().bytesInUse;
    const e = await rejection(dn.gradcheck((t: dn.Tensor) => dn.tanh(t), [x], { eps: 1e-9 }));
    expect(e).toBeInstanceOf(dn.ArgumentError);
    expect(e.message).toMatch(/^gradcheck fn: eps 1e-9 is too small for float32 differences: argument 0.s element 0 /);
    expect(e.message).not.toMatch(/not differentiable/);
    expect(dn.memory().bytesInUse).toBe(before);
  });
});

describe('gradcheck misuse', () => {
  it('refuses an async fn as synchronous-only and leaves nothing allocated once it has run out', async () => {
    const x = fromNd(uniform(6, 11), [6], true);
    const before = dn.memory().bytesInUse;
    const e = await rejection(dn.gradcheck((async (t: dn.Tensor) => {
      await null;
      return dn.tanh(t);
    }) as never, [x]));
    expect(e).toBeInstanceOf(dn.ArgumentError);
    expect(e.message).toMatch(/synchronous/);
    await settle(before);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('refuses a number for a tensor, a disposed argument, a reference of the wrong length or that gives NaN', async () => {
    const x = fromNd(uniform(6, 12), [6], true);
    const before = dn.memory().bytesInUse;
    const tanh = (t: dn.Tensor) => dn.tanh(t);
    const number = await rejection(dn.gradcheck((() => 3) as never, [x]));
    expect([number instanceof dn.ArgumentError, /returned the number 3/.test(number.message)]).toEqual([true, true]);
    const gone = dn.tensor([1, 2], [2], { requiresGrad: true });
    gone.dispose();
    expect((await rejection(dn.gradcheck(tanh, [gone]))).message).toMatch(/argument 0 .* was disposed/);
    const short = await rejection(dn.gradcheck(tanh, [x], { reference: (v: Float64Array) => v.subarray(1) }));
    expect(short.message).toBe("gradcheck tanh: reference's output 0 has 5 values, fn's 6");
    const twice = await rejection(dn.gradcheck(tanh, [x], { reference: (v: Float64Array) => [v, v] }));
    expect(twice.message).toBe('gradcheck tanh: reference returned 2 output(s), fn 1');
    // A reference that breaks is the reference's fault, said so: not a forward or gradient "off" by NaN.
    const nan = await rejection(dn.gradcheck(tanh, [x], { reference: (v: Float64Array) => v.map((u, i) => (i === 2 ? NaN : Math.tanh(u))) }));
    expect(nan).toBeInstanceOf(dn.ArgumentError);
    expect(nan.message).toMatch(/^gradcheck tanh: reference's output 0 is NaN at 2/);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('never disposes a tensor fn returns but did not make (a constant it closes over)', async () => {
    const x = fromNd(uniform(6, 13), [6], true);
    const mask = fromNd([1, 0, 1, 0, 1, 0], [6]);
    const before = dn.memory().bytesInUse;
    const report = await dn.gradcheck((t: dn.Tensor) => [dn.mul(t, mask), mask], [x]);
    expect([report.ok, mask.disposed]).toEqual([true, false]);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('says so when no gradient reached an argument (the graph cut by a noGrad inside fn)', async () => {
    const x = fromNd(uniform(3, 15), [3], true);
    const w = fromNd(uniform(3, 16), [3], true);
    const e = await rejection(dn.gradcheck((t: dn.Tensor, u: dn.Tensor) => dn.add(dn.tanh(t), dn.noGrad(() => dn.square(u))), [x, w]));
    expect(e.message).toMatch(/the gradient of argument 1 .* backward 0, .*; no gradient reached it at all/);
    expect((e as dn.GradcheckError).report!.inputs.map((i) => i.reached)).toEqual([true, false]);
  });

  it('is refused by dn.scope (it is async) without leaving anything behind', async () => {
    const x = fromNd(uniform(6, 14), [6], true);
    const before = dn.memory().bytesInUse;
    expect(() => dn.scope(() => dn.gradcheck((t: dn.Tensor) => dn.tanh(t), [x]))).toThrow(/synchronous/);
    await settle(before);
    await dn.sync();
    expect(dn.memory().bytesInUse).toBe(before);
  });
});
