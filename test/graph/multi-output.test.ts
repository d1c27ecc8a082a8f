// The tape's multi-output node (recordMulti): its backward runs once per pass, after every output's
// gradient that can arrive has arrived, with null for the outputs that got none; its saved tensors
// live until the last output and consumer let go; a failed pass frees all it made.
//
// fork(x) = (x², 3x), saving a copy of x, stands in for split: small, with a backward that reads
// what it saved, and a log of the calls so the tests can count them.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { record, recordMulti } from '../../src/graph/autograd.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { split } from '../../src/kernels/concat.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const X = [0.5, -1.25, 2];

/** Each backward call's dys, as "null" or "dy" per output. */
type Log = string[][];

function fork(x: Tensor, log: Log, fail = false): [Tensor, Tensor] {
  const [a, b, copy] = dn.noGrad(() => [dn.square(x), dn.scale(x, 3), dn.scale(x, 1)]);
  recordMulti(
    'fork',
    [x],
    [a, b],
    (dys, _needs, [sx]) => {
      log.push(dys.map((d) => (d ? 'dy' : 'null')));
      const terms = [dys[0] && dn.mul(dys[0], dn.scale(sx, 2)), dys[1] && dn.scale(dys[1], 3)].filter((t): t is Tensor => !!t);
      if (fail) throw new Error('fork: failed on purpose');
      return [terms.length === 2 ? dn.add(terms[0], terms[1]) : terms[0]];
    },
    [copy],
  );
  copy.dispose();
  return [a, b];
}

const tanh = Math.tanh;

const CASES = [
  { what: 'both outputs used', loss: (a: Tensor, b: Tensor) => dn.add(dn.sum(a), dn.sum(b)), want: (x: number) => 2 * x + 3, log: [['dy', 'dy']] },
  { what: 'only the first used', loss: (a: Tensor) => dn.sum(a), want: (x: number) => 2 * x, log: [['dy', 'null']] },
  { what: 'only the second used', loss: (_a: Tensor, b: Tensor) => dn.sum(b), want: () => 3, log: [['null', 'dy']] },
  { what: 'neither used', loss: (_a: Tensor, _b: Tensor, x: Tensor) => dn.sum(x), want: () => 1, log: [] },
  {
    what: 'the first used twice',
    loss: (a: Tensor) => dn.add(dn.sum(dn.mul(a, a)), dn.sum(a)),
    want: (x: number) => (2 * x * x + 1) * 2 * x,
    log: [['dy', 'null']],
  },
  {
    // a's consumers also read b, and b's reach the loss by a shorter path than a's.
    what: "outputs feeding each other's consumers",
    loss: (a: Tensor, b: Tensor) => dn.add(dn.sum(dn.mul(a, b)), dn.sum(dn.mul(dn.tanh(a), b))),
    want: (x: number) => {
      const [a, b] = [x * x, 3 * x];
      return (b + (1 - tanh(a) ** 2) * b) * 2 * x + 3 * (a + tanh(a));
    },
    log: [['dy', 'dy']],
  },
] as const;

function memoryCheck(): () => void {
  const before = dn.memory().bytesInUse;
  return () => expect(dn.memory().bytesInUse).toBe(before);
}

describe('a multi-output node', () => {
  for (const cs of CASES) {
    it(`${cs.what}: one backward call, null for an output without a gradient`, async () => {
      const x = dn.tensor(X, [3], { requiresGrad: true });
      const settled = memoryCheck();
      const log: Log = [];
      const loss = dn.scope(() => {
        const [a, b] = fork(x, log);
        return cs.loss(a, b, x);
      });
      loss.backward();
      expect(log).toEqual(cs.log);
      expectClose(cs.what, await x.grad!.toArray(), X.map(cs.want));
      loss.dispose();
      x.zeroGrad();
      settled();
      x.dispose();
    });
  }

  it('a fork of a fork: each node runs once, after all the consumers of its outputs', async () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const log: Log = [];
    // a = x², (c, d) = (9x², 9x): L = sum(9x³ + 9x²)
    const loss = dn.scope(() => {
      const [a, b] = fork(x, log);
      const [c, d] = fork(b, log);
      return dn.add(dn.sum(dn.mul(a, d)), dn.sum(c));
    });
    loss.backward();
    expect(log).toEqual([['dy', 'dy'], ['dy', 'dy']]);
    expectClose('fork of a fork', await x.grad!.toArray(), X.map((v) => 27 * v * v + 18 * v));
    for (const t of [loss, x]) t.dispose();
  });

  it('the seed may be one output: the others get null', async () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const log: Log = [];
    const [a, b] = fork(x, log);
    const dy = dn.tensor([1, 2, 3], [3]);
    b.backward(dy);
    expect(log).toEqual([['null', 'dy']]);
    expectClose('seeded at b', await x.grad!.toArray(), [3, 6, 9]);
    for (const t of [a, b, dy, x]) t.dispose();
  });

  it('retainGraph: a second and third pass call the backward again; then the freed graph is refused', async () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const settled = memoryCheck();
    const log: Log = [];
    const [a, b] = fork(x, log);
    const [la, lb] = dn.scope(() => [dn.add(dn.sum(a), dn.sum(b)), dn.sum(b)]);
    la.backward({ retainGraph: true });
    la.backward({ retainGraph: true });
    la.backward();
    expect(log).toEqual([['dy', 'dy'], ['dy', 'dy'], ['dy', 'dy']]);
    expectClose('three passes', await x.grad!.toArray(), X.map((v) => 3 * (2 * v + 3)));
    // lb's own sum is fresh, but the fork it reaches was freed by la's last pass.
    expectThrows(() => lb.backward(), dn.ShapeError, 'backward: the graph through fork was already freed');
    expect(log).toHaveLength(3);
    for (const t of [a, b, la, lb]) t.dispose();
    x.zeroGrad();
    settled();
    x.dispose();
  });

  it('the saved tensors live until the last output is disposed (no consumer)', () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const settled = memoryCheck();
    const before = dn.memory().bytesInUse;
    const [a, b] = fork(x, []);
    // a, b and the saved copy of x: three buffers of one size.
    const each = (dn.memory().bytesInUse - before) / 3;
    a.dispose();
    expect(dn.memory().bytesInUse).toBe(before + 2 * each);
    b.dispose();
    settled();
    x.dispose();
  });

  it('outputs disposed before backward: the consumers keep the node, and the pass frees it', async () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const settled = memoryCheck();
    const log: Log = [];
    const [a, b] = fork(x, log);
    const unused = fork(x, log);
    unused[0].dispose();
    const loss = dn.scope(() => dn.sum(dn.mul(a, b)));
    a.dispose();
    b.dispose();
    loss.backward();
    expect(log).toEqual([['dy', 'dy']]);
    expectClose('3x³', await x.grad!.toArray(), X.map((v) => 9 * v * v));
    loss.dispose();
    unused[1].dispose();
    x.zeroGrad();
    settled();
    x.dispose();
  });

  it('a backward that throws leaves memory where it started and no gradient', () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const settled = memoryCheck();
    const loss = dn.scope(() => {
      const [a, b] = fork(x, [], true);
      return dn.add(dn.sum(a), dn.sum(b));
    });
    expect(() => loss.backward()).toThrow('fork: failed on purpose');
    expect(x.grad).toBeNull();
    loss.dispose();
    settled();
    x.dispose();
  });

  it('a node that throws after one output has its gradient and before the other: the partial set is freed', () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const settled = memoryCheck();
    const log: Log = [];
    const loss = dn.scope(() => {
      const [a, b] = fork(x, log);
      const t = record('boom', [b], dn.noGrad(() => dn.scale(b, 1)), () => {
        throw new Error('boom: failed on purpose');
      });
      // sum(a) comes first in the order, so a's gradient is waiting when boom throws.
      return dn.add(dn.sum(a), dn.sum(t));
    });
    expect(() => loss.backward()).toThrow('boom: failed on purpose');
    expect(log).toEqual([]);
    loss.dispose();
    settled();
    x.dispose();
  });

  it('a gradient of the wrong size for one input: the others already handed back are freed too', () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const w = dn.tensor([1, 2], [2], { requiresGrad: true });
    const settled = memoryCheck();
    const loss = dn.scope(() => {
      const [y, z] = dn.noGrad(() => [dn.scale(x, 2), dn.scale(x, 3)]);
      recordMulti('bad', [x, w], [y, z], () => [dn.full([3], 1), dn.full([3], 1)]);
      return dn.add(dn.sum(y), dn.sum(z));
    });
    expectThrows(() => loss.backward(), dn.ShapeError, 'backward of bad: gradient');
    expect(x.grad).toBeNull();
    loss.dispose();
    settled();
    for (const t of [x, w]) t.dispose();
  });

  it('refuses an output listed twice; split records one node for all its parts', () => {
    const x = dn.tensor(X, [3], { requiresGrad: true });
    const y = dn.noGrad(() => dn.scale(x, 1));
    expectThrows(() => recordMulti('twice', [x], [y, y], () => [null]), dn.ArgumentError, 'twice: an output is listed twice');
    const parts = split(x, [1, 2], 0);
    expect(parts[0].node).not.toBeNull();
    expect(parts[1].node).toBe(parts[0].node);
    for (const t of [x, y, ...parts]) t.dispose();
  });
});
