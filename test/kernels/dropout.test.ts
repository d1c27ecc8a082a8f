import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { dropout, randomUniform, randomUniformRef } from '../../src/kernels/dropout.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { awayFromZero, uniform } from '../helpers/rng.js';

useGpu();

/** CPU dropout on float32 inputs, as the GPU computes it: keep when u >= rate, scale in float32. */
function dropoutRef(x: ArrayLike<number>, rate: number, seed: number): Float64Array {
  const r = Math.fround(rate);
  const scale = Math.fround(1 / (1 - rate));
  return Float64Array.from({ length: x.length }, (_, i) =>
    randomUniformRef(seed, i) >= r ? Math.fround(Math.fround(x[i]) * scale) : 0,
  );
}

/** Five standard deviations: a correct generator fails one such check in about 1.7 million. */
const SIGMAS = 5;

describe('random numbers', () => {
  for (const seed of [0, 1, 12345, 0xffffffff]) {
    it(`WGSL randomUniform and randomUniformRef agree bit for bit (seed ${seed})`, async () => {
      const n = 5003;
      const t = randomUniform([n], seed);
      const got = await t.toArray();
      t.dispose();
      const mismatches = Array.from(got).filter((v, i) => v !== randomUniformRef(seed, i)).length;
      expect(mismatches).toBe(0);
      expect(Math.min(...got)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...got)).toBeLessThan(1);
    });
  }

  it('is uniform and uncorrelated between neighbours and between seeds', () => {
    // CPU twin only: bit-identical to the GPU (checked above), and cheap for 2^16 samples.
    const n = 65536;
    const u = Float64Array.from({ length: n }, (_, i) => randomUniformRef(7, i));
    const v = Float64Array.from({ length: n }, (_, i) => randomUniformRef(8, i));
    const mean = u.reduce((p, x) => p + x, 0) / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(SIGMAS * Math.sqrt(1 / 12 / n));
    const bins = new Array(16).fill(0);
    for (const x of u) bins[Math.floor(x * 16)]++;
    const binSigma = Math.sqrt(n * (1 / 16) * (15 / 16));
    for (const count of bins) expect(Math.abs(count - n / 16)).toBeLessThan(SIGMAS * binSigma);
    // Pearson correlation of independent uniforms has standard deviation 1/sqrt(n).
    const corr = (a: Float64Array, b: Float64Array) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (a[i] - 0.5) * (b[i] - 0.5);
      return s / a.length / (1 / 12);
    };
    expect(Math.abs(corr(u.subarray(1), u.subarray(0, n - 1)))).toBeLessThan(SIGMAS / Math.sqrt(n));
    expect(Math.abs(corr(u, v))).toBeLessThan(SIGMAS / Math.sqrt(n));
  });

  it('rejects seeds outside [0, 2^32)', () => {
    for (const seed of [-1, 1.5, 2 ** 32]) expect(() => randomUniform([4], seed)).toThrow(dn.ShapeError);
  });
});

const RATES = [0.1, 0.5, 0.75] as const;

describe('dropout', () => {
  const shape = [4, 25, 25, 20]; // 50000 elements
  const n = 50000;
  const x = awayFromZero(n, 1); // no zeros in x: a zero in y marks a dropped element

  for (const rate of RATES) {
    it(`rate ${rate}: keeps a binomial fraction, scales by 1/(1-rate), matches the CPU twin`, async () => {
      const xt = fromNd(x, shape);
      const y = dropout(xt, { rate, seed: 42 });
      const got = await y.toArray();
      const kept = got.reduce((p, v) => p + (v !== 0 ? 1 : 0), 0);
      // kept ~ Binomial(n, 1 - rate): within 5 standard deviations of its mean.
      expect(Math.abs(kept - n * (1 - rate))).toBeLessThan(SIGMAS * Math.sqrt(n * rate * (1 - rate)));
      // Products of float32 values rounded once, on both sides: exact up to the default tolerance.
      expectClose(`dropout ${rate}`, got, dropoutRef(x, rate, 42));
      for (const t of [xt, y]) t.dispose();
    });
  }

  it('is deterministic for a seed and changes with the seed', async () => {
    const rate = 0.5;
    const xt = fromNd(x, shape);
    const [a, b, c] = [dropout(xt, { rate, seed: 9 }), dropout(xt, { rate, seed: 9 }), dropout(xt, { rate, seed: 10 })];
    const [ga, gb, gc] = [await a.toArray(), await b.toArray(), await c.toArray()];
    expect(ga).toEqual(gb);
    // Independent masks keep the same element with probability (1 - rate)^2 = 0.25.
    const both = ga.reduce((p, v, i) => p + (v !== 0 && gc[i] !== 0 ? 1 : 0), 0);
    expect(Math.abs(both - n * 0.25)).toBeLessThan(SIGMAS * Math.sqrt(n * 0.25 * 0.75));
    for (const t of [xt, a, b, c]) t.dispose();
  });

  it('backward applies the same mask and scale to dy', async () => {
    const rate = 0.3;
    const small = [3, 7, 5, 11];
    const m = 3 * 7 * 5 * 11;
    const xs = awayFromZero(m, 2);
    const dy = uniform(m, 3);
    const xt = fromNd(xs, small, true);
    const y = dropout(xt, { rate, seed: 1234 });
    const dyt = fromNd(dy, small);
    y.backward(dyt);
    const gotY = await y.toArray();
    const gotDx = await xt.grad!.toArray();
    expectClose('dropout dx', gotDx, dropoutRef(dy, rate, 1234));
    const zerosY = gotY.map((v) => (v === 0 ? 1 : 0));
    const zerosDx = gotDx.map((v) => (v === 0 ? 1 : 0));
    expect(zerosDx).toEqual(zerosY);
    expect(zerosY.reduce((p, v) => p + v, 0)).toBeGreaterThan(0);
    for (const t of [xt, y, dyt]) t.dispose();
  });

  for (const [what, options] of [
    ['rate 0', { rate: 0, seed: 5 }],
    ['evaluation (training false)', { rate: 0.5, seed: 5, training: false }],
  ] as const) {
    it(`${what} is the identity, gradient included`, async () => {
      const small = [2, 3, 4, 5];
      const xs = uniform(120, 4);
      const dy = uniform(120, 5);
      const xt = fromNd(xs, small, true);
      const y = dropout(xt, options);
      expect(await y.toArray()).toEqual(Float32Array.from(xs));
      const dyt = fromNd(dy, small);
      y.backward(dyt);
      expect(await xt.grad!.toArray()).toEqual(Float32Array.from(dy));
      for (const t of [xt, y, dyt]) t.dispose();
    });
  }

  it('rejects rates outside [0, 1) and bad seeds', () => {
    dn.scope(() => {
      const xt = dn.zeros([2, 2]);
      for (const rate of [1, -0.1, Number.NaN]) expect(() => dropout(xt, { rate, seed: 1 })).toThrow(dn.ShapeError);
      for (const seed of [-1, 0.5, 2 ** 32]) expect(() => dropout(xt, { rate: 0.5, seed })).toThrow(dn.ShapeError);
    });
  });
});
