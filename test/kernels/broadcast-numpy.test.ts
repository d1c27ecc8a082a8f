// NumPy's broadcasting through the binary ops, maximum, the comparisons and where
// (src/kernels/broadcast.ts): output shapes (the larger rank kept, as NumPy's), values against a
// float64 reference that indexes each operand by its broadcast strides, and gradients, summed back
// to each operand's own shape, against that reference's backward, itself checked against central
// differences. The shapes are the ones a suffix read cannot express ([N, 1] against [N, C], as
// x − mean(x, -1, true) makes) and the ones that used to lose their rank ([1, 1] + [3]).
//
// Tolerances: the float32 defaults; each gradient element sums at most 12 products.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { broadcastShapes, readsByPeriod } from '../../src/kernels/broadcast.js';
import { expectClose } from '../helpers/close.js';
import { numericGrad } from '../helpers/finite-diff.js';
import { useGpu } from '../helpers/gpu.js';
import { awayFromZero, uniform } from '../helpers/rng.js';
import { broadcastSource } from '../helpers/broadcast-index.js';

useGpu();

type Shape = readonly number[];
const size = (s: Shape): number => s.reduce((p, d) => p * d, 1);

/** NumPy's rule, written out: the reference the op's shapes are checked against. */
function outShape(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    return da === 1 ? db : da;
  });
}

/** The flat index into an operand of `shape` of each output element (stride 0 on a broadcast axis). */
function sources(shape: Shape, out: Shape): number[] {
  return Array.from({ length: size(out) }, (_, flat) => broadcastSource(shape, out, flat));
}

const OPS = {
  add: (x: number, y: number) => x + y,
  sub: (x: number, y: number) => x - y,
  mul: (x: number, y: number) => x * y,
  div: (x: number, y: number) => x / y,
} as const;
type Op = keyof typeof OPS;

function forwardRef(op: Op, a: Float64Array, sa: Shape, b: Float64Array, sb: Shape): Float64Array {
  const out = outShape(sa, sb);
  const [ia, ib] = [sources(sa, out), sources(sb, out)];
  return Float64Array.from(ia, (_, i) => OPS[op](a[ia[i]], b[ib[i]]));
}

/** d(Σ r·(a ∘ b)) by hand, summed back onto each operand. */
function backwardRef(op: Op, a: Float64Array, sa: Shape, b: Float64Array, sb: Shape, r: Float64Array): [Float64Array, Float64Array] {
  const out = outShape(sa, sb);
  const [ia, ib] = [sources(sa, out), sources(sb, out)];
  const [ga, gb] = [new Float64Array(a.length), new Float64Array(b.length)];
  ia.forEach((j, i) => {
    const [x, y, dy] = [a[j], b[ib[i]], r[i]];
    const [dx, dz] = op === 'add' ? [1, 1] : op === 'sub' ? [1, -1] : op === 'mul' ? [y, x] : [1 / y, -x / (y * y)];
    ga[j] += dy * dx;
    gb[ib[i]] += dy * dz;
  });
  return [ga, gb];
}

// [a, b]: an expanded column, both sides expanded, a kept leading axis, leading 1s over a rank,
// rank 0, and a size-1 operand of the larger rank.
const CASES: readonly [Shape, Shape][] = [
  [[2, 1], [2, 3]],
  [[3, 1], [1, 4]],
  [[1, 3], [2, 3]],
  [[2, 1, 3], [4, 1]],
  [[1, 1], [3]],
  [[3], [1, 1, 1]],
  [[], [2, 2]],
  [[2, 3, 1], [1, 3, 2]],
];

describe('binary ops broadcast as NumPy', () => {
  for (const [sa, sb] of CASES) {
    for (const op of Object.keys(OPS) as Op[]) {
      it(`${op} ${JSON.stringify(sa)} with ${JSON.stringify(sb)}`, async () => {
        const a = uniform(size(sa), 3);
        const b = op === 'div' ? awayFromZero(size(sb), 4, 0.5) : uniform(size(sb), 4);
        const out = outShape(sa, sb);
        const r = uniform(size(out), 5);
        const [ga, gb] = backwardRef(op, a, sa, b, sb, r);
        const loss = (x: Float64Array, y: Float64Array) => forwardRef(op, x, sa, y, sb).reduce((s, v, i) => s + v * r[i], 0);
        expectClose(`${op} reference da`, ga, numericGrad((x) => loss(x, b), a), { atol: 1e-6, rtol: 1e-5 });
        expectClose(`${op} reference db`, gb, numericGrad((y) => loss(a, y), b), { atol: 1e-6, rtol: 1e-5 });

        const { ta, tb, y } = dn.scope(() => {
          const ta = dn.tensor(Float32Array.from(a), sa, { requiresGrad: true });
          const tb = dn.tensor(Float32Array.from(b), sb, { requiresGrad: true });
          const y = dn[op](ta, tb);
          dn.sum(dn.mul(y, dn.tensor(Float32Array.from(r), out))).backward();
          return { ta, tb, y };
        });
        expect(y.shape).toEqual(out);
        expectClose(`${op} forward`, await y.toArray(), forwardRef(op, a, sa, b, sb));
        expect(ta.grad!.shape).toEqual(sa);
        expect(tb.grad!.shape).toEqual(sb);
        expectClose(`${op} da`, await ta.grad!.toArray(), ga);
        expectClose(`${op} db`, await tb.grad!.toArray(), gb);
        for (const t of [ta.grad!, tb.grad!, ta, tb, y]) t.dispose();
      });
    }
  }

  it('centres rows by their keepDims mean, as x - x.mean(-1, keepdim=True)', async () => {
    const x = dn.tensor([[1, 2, 3], [4, 6, 8]]);
    const centred = dn.scope(() => dn.sub(x, dn.mean(x, -1, true)));
    expect(await centred.toNested()).toEqual([[-1, 0, 1], [-2, 0, 2]]);
    for (const t of [x, centred]) t.dispose();
  });

  it('broadcasts maximum, the comparisons and where the same way', async () => {
    const col = dn.tensor([[0], [2]]);
    const row = dn.tensor([[1, 2, 3]]);
    const a = dn.tensor([[1, 2, 3]], undefined, { requiresGrad: true });
    const [big, more, w] = dn.scope(() => {
      const w = dn.where(col, a, -1);
      dn.sum(w).backward();
      return [dn.maximum(col, row), dn.greater(col, row), w];
    });
    expect(await big.toNested()).toEqual([[1, 2, 3], [2, 2, 3]]);
    expect(await more.toNested()).toEqual([[0, 0, 0], [1, 0, 0]]);
    expect(await w.toNested()).toEqual([[-1, -1, -1], [1, 2, 3]]);
    expect(await a.grad!.toNested()).toEqual([[1, 1, 1]]);
    for (const t of [big, more, w, a.grad!, a, col, row]) t.dispose();
  });

  it('computes the shape as NumPy, and which operands the kernels read by period', () => {
    for (const [sa, sb] of CASES) expect(broadcastShapes('t', [sa, sb])).toEqual(outShape(sa, sb));
    expect(readsByPeriod([1, 3], [2, 3])).toBe(true);
    expect(readsByPeriod([2, 1], [2, 3])).toBe(false);
  });

  it('names the op and the axis when sizes differ', () => {
    const [a, b] = [dn.zeros([2, 3]), dn.zeros([4, 1, 2])];
    expect(() => dn.add(a, b)).toThrow(dn.ShapeError);
    expect(() => dn.mul(a, b)).toThrow(/^mul: .*axis -1/);
    expect(() => dn.where(a, b, 0)).toThrow(/^where: /);
    a.dispose();
    b.dispose();
  });
});
