// The losses' relative accuracy where a confident prediction makes them small: BCE at p near 0
// against a 0 target, p near 1 against a 1, and logits of |z| up to 30 on the right side; softmax
// cross-entropy and log-softmax where one class dominates its row. WGSL's log is only accurate to
// 2^-21 absolute near 1, so log(1 - p), log(1 + e^-|z|) or a log-sum-exp's log(1 + small) lost
// these small losses (17% off at |z| = 15 or a margin of 15, 2.6% at p = 1e-6, on lavapipe);
// they are taken by a series now (log1pNear, logOnePlus). The target's gradient uses the same logs.
import { afterAll, describe, it } from 'vitest';
import * as dn from '../../src/index.js';
import { overrideRowKernelChoice } from '../../src/kernels/softmax-rows.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const f32 = (x: readonly number[]): Float64Array => Float64Array.from(Float32Array.from(x));

// Measured worst after the change: 1.2e-6 relative (at z = -30, from exp(-30)'s own rounding); the
// float32 results carry 6e-8 relative each. 5e-6 holds that with room and fails the old logs at
// every |z| >= 10 and every p <= 1e-5 (measured 4e-4 to 0.17 there).
const REL = { atol: 0, rtol: 5e-6 };

describe("BCE's small losses keep their relative accuracy", () => {
  it('bceLoss at p near 0 (target 0) and near 1 (target 1), and its target gradient', async () => {
    const p = f32([1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.3, 0.7, 0.99, 0.999, 0.9999, 1 - 1e-5]);
    const eps = 1e-7;
    const pc = p.map((v) => Math.min(Math.max(v, eps), 1 - eps));
    for (const target of [0, 1]) {
      const pt = dn.tensor(Float32Array.from(p), [p.length]);
      const yt = dn.full([p.length], target, { requiresGrad: true });
      const loss = dn.bceLoss(pt, yt, { reduction: 'none' });
      const want = pc.map((v) => -(target * Math.log(v) + (1 - target) * Math.log1p(-v)));
      expectClose(`bceLoss, target ${target}`, await loss.toArray(), want, REL);
      const total = dn.sum(loss);
      total.backward();
      // dl/dy = log(1 - p) - log(p): its small side is the same logs.
      expectClose(`bceLoss's target gradient, target ${target}`, await yt.grad!.toArray(), pc.map((v) => Math.log1p(-v) - Math.log(v)), REL);
      for (const t of [pt, yt, loss, total]) t.dispose();
    }
  });

  it('bceWithLogits at |z| from 0.5 to 30, either target', async () => {
    const z = f32([-30, -20, -15, -12, -10, -8, -5, -1, 0.5, 3, 8, 12, 15, 20, 30]);
    for (const target of [0, 1]) {
      const zt = dn.tensor(Float32Array.from(z), [z.length]);
      const yt = dn.full([z.length], target);
      const loss = dn.bceWithLogits(zt, yt, { reduction: 'none' });
      const want = z.map((v) => Math.max(v, 0) - v * target + Math.log1p(Math.exp(-Math.abs(v))));
      expectClose(`bceWithLogits, target ${target}`, await loss.toArray(), want, REL);
      for (const t of [zt, yt, loss]) t.dispose();
    }
  });
});

/** log sum exp of a row in float64, from its max. */
function logSumExp(row: readonly number[]): number {
  const m = Math.max(...row);
  return m + Math.log1p(row.reduce((a, v) => a + (v === m ? 0 : Math.exp(v - m)), 0) + (row.filter((v) => v === m).length - 1));
}

describe("softmax cross-entropy's and log-softmax's small values keep their relative accuracy", () => {
  afterAll(() => overrideRowKernelChoice(null));
  // Rows whose first class dominates by 5 to 20, among 2, 5 or 64 classes (64: the workgroup-per-row
  // kernels a GPU takes, forced here), and a tie at the top; targets one-hot on the first class.
  const rows = (c: number): number[][] =>
    [5, 10, 15, 20].map((margin) => Array.from({ length: c }, (_, k) => (k === 0 ? margin : (k % 3) * 0.25)));
  for (const [c, kernels] of [[2, 'cpu'], [5, 'cpu'], [64, 'cpu'], [64, 'gpu']] as const) {
    it(`${c} classes, ${kernels === 'gpu' ? 'a workgroup' : 'a thread'} per row`, async () => {
      overrideRowKernelChoice(kernels);
      const z = [...rows(c), Array.from({ length: c }, (_, k) => (k < 2 ? 3 : 0))];
      const flat = Float32Array.from(z.flat());
      const zs = z.map((r) => Array.from(Float32Array.from(r)));
      const zt = dn.tensor(flat, [z.length, c]);
      const y = dn.tensor(Float32Array.from(z.flatMap((r) => r.map((_, k) => (k === 0 ? 1 : 0)))), [z.length, c]);
      const loss = dn.softmaxCrossEntropy(zt, y, { reduction: 'none' });
      expectClose(`cross-entropy, ${c} classes`, await loss.toArray(), zs.map((r) => logSumExp(r) - r[0]!), REL);
      const logP = dn.logSoftmax(zt);
      const got = await logP.toArray();
      expectClose(`log-softmax of the top class, ${c} classes`, zs.map((_, i) => got[i * c]!), zs.map((r) => r[0]! - logSumExp(r)), REL);
      for (const t of [zt, y, loss, logP]) t.dispose();
    });
  }
});
