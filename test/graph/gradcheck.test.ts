// dn.gradcheck (src/graph/gradcheck.ts): a user's gradient against central differences, by a float64
// reference or by fn itself in float32. It must pass correct backwards (a customOp's, built-in
// ops', a layer's) and catch wrong ones with the argument and element named; it must leave every
// .grad as it was and nothing allocated, and refuse a random fn or a reference of the wrong size.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { disposeAfterEach, useGpu } from '../helpers/gpu.js';
import { rejection } from '../helpers/errors.js';
import { awayFromZero, uniform } from '../helpers/rng.js';

useGpu();

const { fromNd } = disposeAfterEach();
const constant = (data: number[], shape: number[]): dn.Tensor => fromNd(data, shape);

/** y = x² · a + b with a backward of the user's; `slip` puts a mistake in a's gradient. */
function squareScale(slip: (da: dn.Tensor) => dn.Tensor = (da) => da) {
  return dn.customOp({
    name: 'squareScale',
    forward(ctx, x: dn.Tensor, a: dn.Tensor, b: number) {
      ctx.save(x, a);
      return dn.add(dn.mul(dn.square(x), a), b);
    },
    backward(ctx, dy) {
      const [x, a] = ctx.saved;
      return [dn.mul(dy, dn.scale(dn.mul(x, a), 2)), slip(dn.mul(dy, dn.square(x))), null];
    },
  });
}

/** The float64 reference of squareScale. */
const squareScaleRef = (x: Float64Array, a: Float64Array, b: number) => x.map((v, i) => v * v * a[i] + b);


describe('gradcheck with a float64 reference', () => {
  it('passes a correct backward, checks the forward too, and leaves every .grad and the pool as they were', async () => {
    const x = fromNd(uniform(12, 1), [3, 4], true);
    const a = fromNd(uniform(12, 2), [3, 4], true);
    const op = squareScale();
    const before = dn.memory().bytesInUse;
    const report = await dn.gradcheck(op, [x, a, 0.5], { reference: squareScaleRef });
    expect(report.ok).toBe(true);
    expect(report.mode).toBe('reference');
    expect(report.forward?.ok).toBe(true);
    expect(report.inputs.map((i) => [i.argument, i.checked, i.of, i.failed])).toEqual([
      [0, 12, 12, 0],
      [1, 12, 12, 0],
    ]);
    // Float32 products of values below 1 against float64 differences: within a few ulps.
    for (const input of report.inputs) expect(input.maxError).toBeLessThan(1e-6);
    expect(x.grad).toBeNull();
    expect(a.grad).toBeNull();
    expect(x.requiresGrad && a.requiresGrad).toBe(true);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it("names the argument and the element of a wrong gradient, and keeps the report on the error", async () => {
    const x = fromNd(uniform(6, 3), [2, 3], true);
    const a = fromNd(uniform(6, 4), [2, 3], true);
    // A gradient 1% off at one element only, [0, 1], where x is -0.92 (x² · r is not small).
    const mask = constant([1, 1.01, 1, 1, 1, 1], [2, 3]);
    const before = dn.memory().bytesInUse;
    const e = await rejection(dn.gradcheck(squareScale((da) => dn.mul(da, mask)), [x, a, 0], { reference: squareScaleRef }));
    expect(e).toBeInstanceOf(dn.GradcheckError);
    expect(e.message).toMatch(/^gradcheck squareScale: against float64 central differences of the reference:/);
    expect(e.message).toContain('the gradient of argument 1 (tensor#');
    expect(e.message).toContain('is off at 1 of 6 element(s) checked; worst at [0, 1]');
    expect(e.message).not.toContain('argument 0');
    const report = (e as dn.GradcheckError).report!;
    expect(report.inputs[1].worst?.index).toEqual([0, 1]);
    expect(report.inputs[1].worst!.backward / report.inputs[1].worst!.differences).toBeCloseTo(1.01, 5);
    expect(dn.memory().bytesInUse).toBe(before);
    const quiet = await dn.gradcheck(squareScale((da) => dn.mul(da, mask)), [x, a, 0], { reference: squareScaleRef, throwOnFailure: false });
    expect([quiet.ok, quiet.inputs[0].failed, quiet.inputs[1].failed]).toEqual([false, 0, 1]);
  });

  it('catches a forward that disagrees with the reference', async () => {
    const x = fromNd(uniform(5, 5), [5], true);
    const a = fromNd(uniform(5, 6), [5], true);
    const report = await dn.gradcheck(squareScale(), [x, a, 0.25], { reference: (xv: Float64Array, av: Float64Array) => squareScaleRef(xv, av, 0), throwOnFailure: false });
    expect(report.ok).toBe(false);
    expect(report.forward).toMatchObject({ ok: false, failed: 5 });
    expect(report.inputs.every((i) => i.failed === 0)).toBe(true);
  });

  it('checks fn with several outputs, the weights of a layer it closes over untouched', async () => {
    const conv = new dn.nn.Conv2d(2, 3, { kernelSize: 3 });
    const x = fromNd(uniform(2 * 4 * 4 * 2, 7), [2, 4, 4, 2], true);
    const w = conv.weight;
    const wValues = Float64Array.from(await w.toArray());
    const bValues = Float64Array.from(await conv.bias!.toArray());
    const report = await dn.gradcheck((input: dn.Tensor) => { const y = conv.forward(input); return [y, dn.tanh(y)]; }, [x], {
      reference: (xv: Float64Array) => {
        const y = conv2dRef(xv, [2, 4, 4, 2], wValues, 3, bValues);
        return [y, y.map(Math.tanh)];
      },
    });
    expect(report.ok).toBe(true);
    expect(report.inputs[0].checked).toBe(64);
    expect(w.grad).toBeNull();
    conv.dispose();
    // An output that is an argument itself is read, not disposed.
    const u = fromNd(uniform(3, 31), [3]);
    const passThrough = await dn.gradcheck((t: dn.Tensor, v: dn.Tensor) => [dn.tanh(t), v], [fromNd(uniform(3, 32), [3], true), u]);
    expect([passThrough.ok, u.disposed]).toEqual([true, false]);
  });

  it("leaves a BatchNorm2d's running statistics as they were in train(), and the layer updates them again afterwards", async () => {
    const bn = new dn.nn.BatchNorm2d(3);
    bn.train();
    const x = fromNd(uniform(4 * 2 * 2 * 3, 41).map((v) => 2 * v + 1), [4, 2, 2, 3], true);
    const before = [await bn.runningMean.toArray(), await bn.runningVar.toArray()];
    const report = await dn.gradcheck((input: dn.Tensor) => bn.forward(input), [x]);
    expect(report.ok).toBe(true);
    expect(report.evaluations, 'fn ran many times').toBeGreaterThan(50);
    expect([await bn.runningMean.toArray(), await bn.runningVar.toArray()]).toEqual(before);
    // The hold ends with gradcheck: a forward of the model's own moves them by the momentum.
    dn.scope(() => {
      bn.forward(x);
    });
    expect(await bn.runningMean.toArray()).not.toEqual(before[0]);
    // The op itself, running statistics given: held alike.
    const [rm, rv] = [dn.zeros([3]), dn.full([3], 1)];
    const [gamma, beta] = [fromNd(uniform(3, 42), [3]), fromNd(uniform(3, 43), [3])];
    const op = await dn.gradcheck((input: dn.Tensor) => dn.batchNorm2d(input, gamma, beta, rm, rv, { training: true }), [x]);
    expect(op.ok).toBe(true);
    expect([Array.from(await rm.toArray()), Array.from(await rv.toArray())]).toEqual([[0, 0, 0], [1, 1, 1]]);
    for (const t of [rm, rv, gamma, beta, x]) t.dispose();
    bn.dispose();
  });

  it('refuses a reference whose outputs do not match fn, a fn with nothing to check, and unknown options', async () => {
    const x = fromNd(uniform(4, 8), [4], true);
    const a = fromNd(uniform(4, 9), [4]);
    const short = await rejection(dn.gradcheck(squareScale(), [x, a, 0], { reference: () => new Float64Array(3) }));
    expect(short).toBeInstanceOf(dn.ArgumentError);
    expect(short.message).toBe("gradcheck squareScale: reference's output 0 has 3 values, fn's 4");
    const none = await rejection(dn.gradcheck(squareScale(), [a, a, 0]));
    expect(none.message).toMatch(/^gradcheck squareScale: no argument is a Tensor that requires a gradient/);
    const typo = await rejection(dn.gradcheck(squareScale(), [x, a, 0], { refrence: squareScaleRef } as never));
    expect(typo).toBeInstanceOf(dn.ArgumentError);
    expect(typo.message).toContain('refrence');
  });
});

describe('gradcheck by float32 differences', () => {
  it("passes 17 built-in ops' gradients at its defaults, at two seeds each", async () => {
    // The survey the float32 defaults were chosen by: smooth ops at O(1) values, steep ones (1/x
    // from 0.2, e^3x, x³) that need the remeasure, and the losses and layers of the flagship job.
    for (const seed of [1, 2]) {
      const u = (n: number, k: number, lo = -1, hi = 1) => uniform(n, 100 * seed + k, lo, hi);
      const t = (data: ArrayLike<number>, shape: number[], grad = true) => fromNd(data, shape, grad);
      const gamma = t(u(8, 1, 0.5, 1.5), [8]);
      const beta = t(u(8, 2), [8]);
      const cases: [string, (...a: dn.Tensor[]) => dn.Tensor, dn.Tensor[]][] = [
        ['conv2d', (a, b) => dn.conv2d(a, b, null, { padding: 'same' }), [t(u(2 * 6 * 6 * 8, 3), [2, 6, 6, 8]), t(u(9 * 8 * 8, 4, -0.3, 0.3), [3, 3, 8, 8])]],
        ['batch norm, training', (a, g, b) => dn.batchNorm2d(a, g, b, null, null, { training: true }), [t(u(4 * 4 * 4 * 8, 5), [4, 4, 4, 8]), gamma, beta]],
        ['layer norm', (a, g, b) => dn.layerNorm(a, g, b), [t(u(6 * 8, 6), [6, 8]), gamma, beta]],
        ['softmax', (a) => dn.softmax(dn.scale(a, 3)), [t(u(6 * 5, 7), [6, 5])]],
        ['softmax cross-entropy', (a, b) => dn.softmaxCrossEntropy(a, b), [t(u(8 * 5, 8, -3, 3), [8, 5]), t(Array.from({ length: 40 }, (_, i) => (i % 5 === Math.floor(i / 5) % 5 ? 1 : 0)), [8, 5], false)]],
        ['dice loss', (a, b) => dn.diceLoss(dn.sigmoid(a), b), [t(u(2 * 6 * 6, 9, -3, 3), [2, 6, 6, 1]), t(u(72, 10, 0, 1).map(Math.round), [2, 6, 6, 1], false)]],
        ['bce', (a, b) => dn.bceLoss(dn.sigmoid(a), b), [t(u(50, 11, -3, 3), [50]), t(u(50, 12, 0, 1).map(Math.round), [50], false)]],
        ['mse', (a, b) => dn.mseLoss(a, b), [t(u(50, 13), [50]), t(u(50, 14), [50])]],
        ['matmul', (a, b) => dn.matmul(a, b), [t(u(5 * 7, 15), [5, 7]), t(u(7 * 3, 16), [7, 3])]],
        ['max pool', (a) => dn.maxPool2d(a, { size: 2 }), [t(awayFromZero(2 * 6 * 6 * 3, 100 * seed + 17), [2, 6, 6, 3])]],
        ['reciprocal', (a) => dn.reciprocal(a), [t(u(50, 18, 0.2, 2), [50])]],
        ['log', (a) => dn.log(a), [t(u(50, 19, 0.2, 2), [50])]],
        ['exp', (a) => dn.exp(dn.scale(a, 3)), [t(u(50, 20), [50])]],
        ['sqrt', (a) => dn.sqrt(a), [t(u(50, 21, 0.2, 2), [50])]],
        ['cube', (a) => dn.pow(a, 3), [t(u(50, 22, 0.2, 2), [50])]],
        ['gelu', (a) => dn.gelu(dn.scale(a, 3)), [t(u(50, 23), [50])]],
        ['softplus', (a) => dn.softplus(dn.scale(a, 4)), [t(u(50, 24), [50])]],
      ];
      for (const [what, fn, args] of cases) {
        const report = await dn.gradcheck(fn, args, { name: what, throwOnFailure: false });
        expect(report.ok, `${what}, seed ${seed}: ${JSON.stringify(report.inputs.map((i) => [i.failed, i.unsettled, i.worst]))}`).toBe(true);
        expect(report.inputs.every((i) => i.unsettled === 0)).toBe(true);
      }
    }
  });

  it('catches a gradient 1% off, and one missing at the last element', async () => {
    const x = fromNd(uniform(40, 22), [40], true);
    const a = fromNd(uniform(40, 23), [40], true);
    const off = await dn.gradcheck(squareScale((da) => dn.scale(da, 1.01)), [x, a, 0], { throwOnFailure: false });
    // Where x² · r is small, 1% of it falls under atol × the largest gradient: most elements fail, not all.
    expect([off.ok, off.inputs[0].failed, off.inputs[1].failed > 20, off.inputs[1].unsettled]).toEqual([false, 0, true, 0]);
    const last = constant(Array.from({ length: 40 }, (_, i) => (i === 39 ? 0 : 1)), [40]);
    const e = await rejection(dn.gradcheck(squareScale((da) => dn.mul(da, last)), [x, a, 0]));
    expect(e.message).toMatch(/^gradcheck squareScale: against float32 central differences of fn:\n {2}the gradient of argument 1 \(tensor#\d+ \[40\]\) is off at 1 of 40 element\(s\) checked; worst at \[39\]: backward 0,/);
  });

  it('passes a steep function by extrapolating, leaves kinks unjudged, and fails where most elements are kinks', async () => {
    // 1/x at 0.2: the difference at a step of 1e-2 is 0.25% off; Richardson's estimate is not.
    const steep = await dn.gradcheck((t: dn.Tensor) => dn.reciprocal(t), [fromNd(uniform(50, 27, 0.2, 2), [50], true)]);
    expect(steep.inputs[0].remeasured).toBeGreaterThan(0);
    expect([steep.ok, steep.inputs[0].failed, steep.inputs[0].unsettled]).toEqual([true, 0, 0]);
    // A conv's outputs through relu: with these seeds some outputs lie within the step of 0.
    const x = fromNd(uniform(6 * 6 * 4, 133), [1, 6, 6, 4], true);
    const w = fromNd(uniform(9 * 4 * 4, 134), [3, 3, 4, 4], true);
    const reluConv = (a: dn.Tensor, b: dn.Tensor) => dn.relu(dn.conv2d(a, b, null, { padding: 'same' }));
    const kinks = await dn.gradcheck(reluConv, [x, w]);
    expect(kinks.inputs.map((i) => i.unsettled > 0 && i.unsettled < i.checked / 4)).toEqual([true, true]);
    // The same with relu's gradient let through below 0: wrong away from the kinks too.
    const leaky = dn.customOp({ name: 'reluPassingAll', forward: (_ctx, t: dn.Tensor) => dn.relu(t), backward: (_ctx, dy) => dy });
    const wrong = await dn.gradcheck((a: dn.Tensor, b: dn.Tensor) => leaky(dn.conv2d(a, b, null, { padding: 'same' })), [x, w], { throwOnFailure: false });
    expect(wrong.inputs.every((i) => i.failed > 10)).toBe(true);
    // sign() is flat with a jump at 0: values within the step of it are all kinks.
    const e = await rejection(dn.gradcheck((t: dn.Tensor) => dn.sign(t), [fromNd(uniform(20, 30, -1e-3, 1e-3), [20], true)]));
    expect(e.message).toMatch(/at 20 of 20 element\(s\) checked the differences move with the step: fn is not differentiable within eps there/);
  });

  it('checks 64 elements of a large argument, its first and last among them', async () => {
    const x = fromNd(uniform(1000, 24), [10, 100], true);
    const report = await dn.gradcheck((t: dn.Tensor) => dn.tanh(t), [x]);
    expect([report.inputs[0].checked, report.inputs[0].of]).toEqual([64, 1000]);
    expect(report.evaluations).toBeGreaterThanOrEqual(3 + 2 * 64);
    const all = await dn.gradcheck((t: dn.Tensor) => dn.tanh(t), [fromNd(uniform(100, 25), [100], true)], { elements: Infinity });
    expect(all.inputs[0].checked).toBe(100);
  });

  it('refuses a fn that draws at random, and reports a backward that does', async () => {
    const x = fromNd(uniform(64, 26), [64], true);
    let draws = 0;
    const e = await rejection(dn.gradcheck((t: dn.Tensor) => dn.dropout(t, { rate: 0.5, seed: ++draws }), [x]));
    expect(e).toBeInstanceOf(dn.GradcheckError);
    expect(e.message).toMatch(/^gradcheck fn: fn is not deterministic: two runs gave output 0 at \d+/);
    const noisy = dn.customOp({
      name: 'noisy',
      forward: (_ctx, t: dn.Tensor) => dn.scale(t, 2),
      backward: (_ctx, dy) => dn.add(dn.scale(dy, 2), dn.scale(dn.randomUniform(dy.shape, ++draws), 1e-6)),
    });
    const report = await dn.gradcheck(noisy, [x], { throwOnFailure: false });
    expect(report.ok).toBe(false);
    expect(report.inputs[0].failed).toBe(0);
    expect(report.inputs[0].nondeterminism).toBeGreaterThan(0);
    expect((await dn.gradcheck(noisy, [x], { nondetTol: 1e-5 })).ok).toBe(true);
  });
});

/** 'same' 3x3 conv, NHWC, weights [3, 3, cin, cout], in float64. */
function conv2dRef(x: Float64Array, [n, h, w, cin]: number[], weights: Float64Array, cout: number, bias: Float64Array): Float64Array {
  const y = new Float64Array(n * h * w * cout);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let o = 0; o < cout; o++) {
          let s = bias[o];
          for (let di = 0; di < 3; di++)
            for (let dj = 0; dj < 3; dj++) {
              const ii = i + di - 1;
              const jj = j + dj - 1;
              if (ii < 0 || jj < 0 || ii >= h || jj >= w) continue;
              for (let c = 0; c < cin; c++) s += x[((b * h + ii) * w + jj) * cin + c] * weights[((di * 3 + dj) * cin + c) * cout + o];
            }
          y[((b * h + i) * w + j) * cout + o] = s;
        }
  return y;
}
