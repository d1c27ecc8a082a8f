// conv2d with a fused ReLU (activation: 'relu'): every algorithm's kernels store max(y, 0) in their
// own epilogue. Against the same conv followed by a separate ReLU on the GPU the results must be
// bit-identical (the same sums, then the same max), forward and backward; against the float64
// reference within the conv tests' tolerance. The backward's mask comes from the GPU's own output,
// so an output within rounding of 0 cannot flip it between the two sides.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv2d, conv2dForward, conv2dGeometry, forwardGemm } from '../../src/kernels/conv2d.js';
import type { ConvFamily } from '../../src/kernels/conv2d-gemm.js';
import { runtime } from '../../src/gpu/runtime.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { Conv2d, ReLU, Sequential } from '../../src/nn/layers.js';
import { expectClose } from '../helpers/close.js';
import { convCaseData, type ConvCase } from '../helpers/conv-case.js';
import { fromNd as fromData, useGpu } from '../helpers/gpu.js';

useGpu();

// As conv2d.test.ts: float32 sums of up to a few hundred products in [-1, 1]; Winograd's rounding is
// 10-100x the direct conv's (test/helpers/close.ts), still far inside 1e-3 at these sizes.
const TOL = { atol: 1e-4, rtol: 1e-4 };
const WINOGRAD_TOL = { atol: 1e-3, rtol: 1e-3 };

const families = (): ConvFamily[] => (runtime().device.features.has('subgroups') ? ['tiled', 'subgroup'] : ['tiled']);

const CASES: (ConvCase & { name: string })[] = [
  { name: '3x3 stride 1 same, 12 -> 20 (Winograd-able)', x: [2, 7, 9, 12], k: [3, 3], cout: 20, opts: { padding: 'same' } },
  { name: '3x3 stride 2 valid, odd sizes', x: [2, 9, 8, 5], k: [3, 3], cout: 6, opts: { stride: 2, padding: 'valid' } },
  { name: '1x1, Cout 3', x: [1, 5, 6, 7], k: [1, 1], cout: 3, opts: {} },
];

const fromNd = (a: NdArray, requiresGrad = false): dn.Tensor => fromData(a.data, a.shape, requiresGrad);
const relu = (a: NdArray): NdArray => nd(a.data.map((v) => Math.max(v, 0)), a.shape);

afterEach(() => dn.setConvAlgorithm('auto'));

describe('conv2d with a fused ReLU', () => {
  for (const cs of CASES) {
    const winogradable = cs.k[0] === 3 && !cs.opts.stride;
    // The fused Winograd kernel takes lavapipe about 10 s to compile per variant: it is checked
    // once, below, against the reference alone.
    const algorithms = ['direct', ...(winogradable ? ['winograd'] : [])] as dn.ConvAlgorithm[];
    for (const withBias of [true, false]) {
      it(`${cs.name}${withBias ? ', bias' : ''}: every family and algorithm stores max(y, 0), the same bits as conv then relu`, async () => {
        const d = convCaseData(cs, 31);
        const [x, w, b] = [fromNd(d.x), fromNd(d.w), withBias ? fromNd(d.b) : null];
        const g = conv2dGeometry(x.shape, w.shape, d.opts);
        const want = relu(conv2dForwardRef(d.x, d.w, withBias ? d.b : null, d.opts));
        for (const family of families()) {
          for (const algorithm of algorithms) {
            const label = `${family} ${algorithm}`;
            const fused = forwardGemm(g, x, w, b, family, algorithm, true);
            const plain = forwardGemm(g, x, w, b, family, algorithm, false);
            const separate = dn.relu(plain);
            const got = await fused.toArray();
            expect([...got], label).toEqual([...(await separate.toArray())]);
            expectClose(label, got, want.data, algorithm === 'direct' ? TOL : WINOGRAD_TOL);
            expect(got.some((v) => v === 0) && got.some((v) => v > 0), `${label}: both signs present`).toBe(true);
            for (const t of [fused, plain, separate]) t.dispose();
          }
        }
        for (const t of [x, w, b]) t?.dispose();
      });
    }

    it(`${cs.name}: gradients through the fused op equal those through conv then relu, and the reference`, async () => {
      const d = convCaseData(cs, 47);
      const leaves = () => [fromNd(d.x, true), fromNd(d.w, true), fromNd(d.b, true)];
      const run = async (fused: boolean) => {
        const [x, w, b] = leaves();
        const conv = fused ? null : conv2d(x, w, b, d.opts);
        const y = conv ? dn.relu(conv) : conv2d(x, w, b, { ...d.opts, activation: 'relu' });
        const dy = fromNd(d.dy);
        y.backward(dy);
        const out = { y: await y.toArray(), grads: await Promise.all([x, w, b].map((t) => t.grad!.toArray())) };
        for (const t of [x, w, b, y, dy, conv]) t?.dispose();
        return out;
      };
      dn.setConvAlgorithm('direct');
      const fused = await run(true);
      const separate = await run(false);
      expect(fused.y).toEqual(separate.y);
      fused.grads.forEach((gr, i) => expect([...gr], `grad ${i}`).toEqual([...separate.grads[i]]));
      // Reference: dy masked where the (GPU's) output is 0, through the plain conv's backward.
      const masked = nd(d.dy.data.map((v, i) => (fused.y[i] > 0 ? v : 0)), d.dy.shape);
      const ref = conv2dBackwardRef(d.x, d.w, masked, d.opts);
      expectClose('dx', fused.grads[0], ref.dx.data, TOL);
      expectClose('dw', fused.grads[1], ref.dw.data, TOL);
      expectClose('db', fused.grads[2], ref.db.data, TOL);
    });
  }

  it('the fused Winograd kernel stores max(y, 0) too', async () => {
    const cs = CASES[0];
    const d = convCaseData(cs, 53);
    const [x, w, b] = [fromNd(d.x), fromNd(d.w), fromNd(d.b)];
    const g = conv2dGeometry(x.shape, w.shape, d.opts);
    const y = forwardGemm(g, x, w, b, undefined, 'winograd-fused', true);
    const got = await y.toArray();
    expectClose('winograd-fused', got, relu(conv2dForwardRef(d.x, d.w, d.b, d.opts)).data, WINOGRAD_TOL);
    expect(got.some((v) => v === 0) && got.some((v) => v > 0)).toBe(true);
    for (const t of [x, w, b, y]) t.dispose();
  });

  it('grouped and dilated convs take a ReLU after the conv, with gradients', async () => {
    const x = dn.tensor(Float32Array.from({ length: 2 * 9 * 9 * 8 }, (_, i) => Math.sin(i * 0.37)), [2, 9, 9, 8], { requiresGrad: true });
    for (const opts of [{ groups: 2, padding: 'same' as const }, { dilation: 2, padding: 'same' as const }]) {
      const cin = opts.groups ? 4 : 8;
      const w = dn.tensor(Float32Array.from({ length: 9 * cin * 8 }, (_, i) => Math.cos(i * 0.53) * 0.3), [3, 3, cin, 8], { requiresGrad: true });
      const fused = conv2d(x, w, null, { ...opts, activation: 'relu' });
      const plain = conv2dForward(x, w, null, opts);
      const raw = conv2dForward(x, w, null, { ...opts, activation: 'relu' });
      const want = (await plain.toArray()).map((v) => Math.max(v, 0));
      expect([...(await fused.toArray())]).toEqual([...want]);
      expect([...(await raw.toArray())]).toEqual([...want]);
      const loss = dn.sum(fused);
      loss.backward();
      // d sum(relu(y)) / dw is nonzero only through positive outputs: some, not all, of dw moves.
      const dw = await w.grad!.toArray();
      expect(dw.some((v) => v !== 0)).toBe(true);
      for (const t of [w, fused, plain, raw, loss]) t.dispose();
      x.zeroGrad();
    }
    x.dispose();
  });

  it('Sequential runs a Conv2d followed by a ReLU as one fused conv: no relu kernel, the same output', async () => {
    dn.setInitSeed(5);
    const net = new Sequential(['conv', new Conv2d(3, 8, { seed: 1 })], ['relu', new ReLU()]);
    const x = dn.tensor(Float32Array.from({ length: 1 * 6 * 6 * 3 }, (_, i) => Math.sin(i)), [1, 6, 6, 3]);
    const profile = await dn.profile(async () => {
      const y = net.forward(x);
      await y.toArray();
      y.dispose();
    });
    if (profile) expect(profile.kernels.map((k) => k.name)).not.toContain('relu.forward');
    const y = net.forward(x);
    const conv = (net.layers[0] as Conv2d).forward(x);
    const separate = dn.relu(conv);
    expect([...(await y.toArray())]).toEqual([...(await separate.toArray())]);
    for (const t of [x, y, conv, separate]) t.dispose();
    net.dispose();
  });

  it("an activation other than 'relu' or 'none' is an ArgumentError naming conv2d", () => {
    const x = dn.zeros([1, 4, 4, 2]);
    const w = dn.zeros([3, 3, 2, 2]);
    expect(() => conv2d(x, w, null, { activation: 'gelu' as never })).toThrow(dn.ArgumentError);
    expect(() => conv2d(x, w, null, { activation: 'gelu' as never })).toThrow(/^conv2d: activation/);
    expect(() => conv2dForward(x, w, null, { activation: 'gelu' as never })).toThrow(/^conv2d: activation/);
    x.dispose();
    w.dispose();
  });
});
