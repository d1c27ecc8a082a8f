// Winograd F(2x2, 3x3) in one kernel (src/kernels/conv2d-winograd-f2.ts) against the float64
// reference: blocks past a workgroup's 32 and past odd output sides, a partial slice of input
// channels, two workgroups of 32 output channels, asymmetric padding, 'valid', bias and the fused
// ReLU; every slice depth this adapter takes; the backward input (dx) by the same kernel with the
// filters turned, checked with the gradients; convTranspose2d's forward with its bias; and batches
// split into chunks past the binding limit.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { algorithmRuns, convAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { setWinograd2Prefetch, setWinograd2SliceDepth, winograd2SliceDepth, WINO2_AT, WINO2_BT, WINO2_G } from '../../src/kernels/conv2d-winograd-f2.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef, convTranspose2dForwardRef } from '../../src/reference/conv.js';
import { expectClose, winogradTolerance } from '../helpers/close.js';
import { convCaseData, type ConvCase } from '../helpers/conv-case.js';
import { fromNd as fromData, useGpu } from '../helpers/gpu.js';

useGpu();

const fromNd = (a: NdArray, requiresGrad = false): dn.Tensor => fromData(a.data, a.shape, requiresGrad);
const relu = (a: NdArray): NdArray => nd(a.data.map((v) => Math.max(v, 0)), a.shape);
const KERNEL = 'conv2d.winograd2Fused';

afterEach(() => {
  dn.setConvAlgorithm('auto');
  setWinograd2SliceDepth(null);
  setWinograd2Prefetch(null);
  runtime().setBindingLimit(null);
});

/** Forces the kernel, runs y = conv2d(x, w, b) with `activation`, checks the kernel ran and y against the reference. */
async function expectForward(cs: ConvCase, seed: number, bias: boolean, activation: 'none' | 'relu'): Promise<void> {
  const d = convCaseData(cs, seed);
  const [x, w, b] = [fromNd(d.x), fromNd(d.w), fromNd(d.b)];
  dn.setConvAlgorithm('winograd-f2');
  expect(convAlgorithm('forward', conv2dGeometry(x.shape, w.shape, d.opts))).toBe('winograd-f2');
  let y: dn.Tensor | undefined;
  const p = await dn.profile(() => {
    y = dn.conv2d(x, w, bias ? b : null, { ...d.opts, activation });
  });
  if (p) expect(p.kernels.map((k) => k.name)).toContain(KERNEL);
  const ref = conv2dForwardRef(d.x, d.w, bias ? d.b : null, d.opts);
  expectClose(`${bias ? 'bias' : 'no bias'}, ${activation}`, await y!.toArray(), (activation === 'relu' ? relu(ref) : ref).data, winogradTolerance(9 * cs.x[3]));
  for (const t of [x, w, b, y!]) t.dispose();
}

describe("conv2d by 'winograd-f2' (F(2x2, 3x3) in one kernel)", () => {
  it('has the transforms of F(2x2, 3x3): Aᵀ[(Gg) ⊙ (Bᵀd)] gives the 1-D convolution of 4 inputs by 3 taps', () => {
    const d = [0.3, -1.2, 2.5, 0.7];
    const g = [0.9, -0.4, 1.6];
    const u = WINO2_G.map((row) => row.reduce((s, c, j) => s + c * g[j], 0));
    const v = WINO2_BT.map((row) => row.reduce((s, c, j) => s + c * d[j], 0));
    const y = WINO2_AT.map((row) => row.reduce((s, c, j) => s + c * u[j] * v[j], 0));
    expectClose('y', y, [0, 1].map((o) => g.reduce((s, gj, j) => s + gj * d[o + j], 0)), { atol: 1e-12, rtol: 0 });
  });

  it("same padding, 60 blocks (a partial second workgroup), odd sides, 8 channels: the reference's output (bias; ReLU)", async () => {
    const cs: ConvCase = { x: [2, 9, 11, 8], k: [3, 3], cout: 32, opts: { padding: 'same' } };
    await expectForward(cs, 101, true, 'none');
    await expectForward(cs, 101, false, 'relu');
  });

  it("valid, 5 channels (a partial slice) to 64 (two workgroups of channels), and asymmetric pads: the reference's output", async () => {
    await expectForward({ x: [1, 8, 7, 5], k: [3, 3], cout: 64, opts: { padding: 'valid' } }, 102, true, 'none');
    await expectForward({ x: [1, 6, 9, 3], k: [3, 3], cout: 32, opts: { padding: [2, 0, 1, 1] } }, 103, false, 'relu');
  });

  it('every slice depth this adapter takes, with and without the reads of the next slice ahead, gives the same output', async () => {
    const cs: ConvCase = { x: [1, 6, 10, 9], k: [3, 3], cout: 32, opts: { padding: 'same' } };
    const depths = [8, 4, 2].filter((ck) => {
      try {
        setWinograd2SliceDepth(ck);
        return true;
      } catch {
        return false;
      }
    });
    expect(depths, 'every adapter takes 2').toContain(2);
    setWinograd2SliceDepth(null);
    expect(winograd2SliceDepth(), 'the default: 4 where it fits').toBe(depths.includes(4) ? 4 : 2);
    for (const ck of depths) {
      setWinograd2SliceDepth(ck);
      await expectForward(cs, 104, true, 'none');
    }
    setWinograd2Prefetch(true);
    for (const ck of depths) {
      setWinograd2SliceDepth(ck);
      await expectForward(cs, 104, true, 'none');
    }
    // 5 channels: the last slice partial; 64 outputs: two workgroups of channels, each its own U.
    await expectForward({ x: [1, 8, 7, 5], k: [3, 3], cout: 64, opts: { padding: 'valid' } }, 102, false, 'relu');
    expect(() => setWinograd2SliceDepth(3)).toThrow(/setWinograd2SliceDepth: 3 channels a slice; this device takes/);
  });

  it("the backward input by the same kernel, filters turned: dx, and dw and db by the staged Winograd, are the reference's", async () => {
    const d = convCaseData({ x: [2, 7, 6, 32], k: [3, 3], cout: 8, opts: { padding: 'same' } }, 105);
    const [x, w, b] = [fromNd(d.x, true), fromNd(d.w, true), fromNd(d.b, true)];
    dn.setConvAlgorithm('winograd-f2');
    const g = conv2dGeometry(x.shape, w.shape, d.opts);
    expect(convAlgorithm('backwardInput', g), 'dx has 32 channels').toBe('winograd-f2');
    expect(convAlgorithm('forward', g), '8 output channels: the staged Winograd').toBe('winograd');
    const dy = fromNd(d.dy);
    const p = await dn.profile(() => dn.scope(() => dn.sum(dn.mul(dn.conv2d(x, w, b, d.opts), dy)).backward()));
    if (p) expect(p.kernels.map((k) => k.name)).toContain(KERNEL);
    const ref = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
    expectClose('dx', await x.grad!.toArray(), ref.dx.data, winogradTolerance(9 * 8));
    expectClose('dw', await w.grad!.toArray(), ref.dw.data, { atol: 1e-3, rtol: 1e-3 });
    expectClose('db', await b.grad!.toArray(), ref.db.data, { atol: 1e-4, rtol: 1e-4 });
    for (const t of [x, w, b, dy]) {
      t.grad?.dispose();
      t.dispose();
    }
  });

  it("convTranspose2d's forward (a backward input with a bias) by the kernel: the reference's", async () => {
    const d = convCaseData({ x: [1, 5, 6, 32], k: [3, 3], cout: 4, opts: { padding: 'same' } }, 106);
    // convTranspose2d(y, w) maps the conv's output channels (4) back to its inputs (32).
    const y = fromNd(d.dy);
    const [w, b] = [fromNd(d.w), fromNd(nd(d.x.data.slice(0, 32), [32]))];
    dn.setConvAlgorithm('winograd-f2');
    const out = dn.convTranspose2d(y, w, b, { padding: 'same' });
    const ref = convTranspose2dForwardRef(d.dy, d.w, nd(d.x.data.slice(0, 32), [32]), { padding: 'same' });
    expectClose('convTranspose2d', await out.toArray(), ref.data, winogradTolerance(9 * 4));
    for (const t of [y, w, b, out]) t.dispose();
  });

  it('splits a batch past the binding limit into chunks of samples', async () => {
    const d = convCaseData({ x: [5, 8, 8, 4], k: [3, 3], cout: 32, opts: { padding: 'same' } }, 107);
    const [x, w, b] = [fromNd(d.x), fromNd(d.w), fromNd(d.b)];
    // One sample's output is 8·8·32·4 = 8192 bytes: a 16 KiB limit takes two a chunk, three dispatches.
    runtime().setBindingLimit(16384, { offsetAlignment: 1024 });
    dn.setConvAlgorithm('winograd-f2');
    let y: dn.Tensor | undefined;
    const p = await dn.profile(() => {
      y = dn.conv2d(x, w, b, d.opts);
    });
    if (p) expect(p.kernels.find((k) => k.name === KERNEL)?.dispatches).toBe(3);
    expectClose('chunked', await y!.toArray(), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, winogradTolerance(36));
    for (const t of [x, w, b, y!]) t.dispose();
  });

  it('runs 3x3 stride-1 forwards and backward inputs of 32, 64, ... output channels; no rule picks it', () => {
    const geometry = (cin: number, cout: number, opts: { stride?: number } = {}) => conv2dGeometry([1, 8, 8, cin], [3, 3, cin, cout], { padding: 'same', ...opts });
    expect(algorithmRuns('winograd-f2', 'forward', geometry(3, 32))).toBe(true);
    expect(algorithmRuns('winograd-f2', 'forward', geometry(3, 48)), '48 channels').toBe(false);
    expect(algorithmRuns('winograd-f2', 'backwardInput', geometry(64, 8))).toBe(true);
    expect(algorithmRuns('winograd-f2', 'backwardWeight', geometry(32, 32))).toBe(false);
    expect(algorithmRuns('winograd-f2', 'forward', geometry(32, 32, { stride: 2 }))).toBe(false);
    expect(convAlgorithm('forward', geometry(32, 32))).not.toBe('winograd-f2');
  });
});
