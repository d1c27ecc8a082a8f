// maxPool2d and avgPool2d with PyTorch's options: explicit padding p or [ph, pw], ceilMode, and
// avgPool2d's countIncludePad and divisorOverride (pool-geometry.ts has the rules).
//
// torch is not installed here: the output sizes below are worked by hand from PyTorch's formula
// (pooling_output_shape: floor((in + 2p - k + (ceil ? s - 1 : 0)) / s) + 1, then in ceil mode one
// fewer where (out - 1) s >= in + p), and the divisors from avg_pool2d's rule; the arithmetic is
// written beside each.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, maxPool2dForward } from '../../src/kernels/pool.js';
import { pool2dGeometry, type AvgPool2dOptions } from '../../src/kernels/pool-geometry.js';
import { nd } from '../../src/reference/array.js';
import { avgPool2dRef, maxPool2dRef } from '../../src/reference/pool.js';
import { expectClose } from '../helpers/close.js';
import { dispatched } from '../helpers/dispatched.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';
import { distinct, outShapeOf, poolCaseTests, size } from './pool-helpers.js';

useGpu();

describe("PyTorch's output sizes", () => {
  // [in, k, s, p, floor out, ceil out], each worked from the formula above.
  const SIZES = [
    // (6 + 2 - 3) / 2 = 2.5: floor 2 + 1 = 3; ceil 3 + 1 = 4, and 3 * 2 = 6 < 6 + 1 keeps it.
    [6, 3, 2, 1, 3, 4],
    // (5 + 2 - 3) / 2 = 2: 3 both ways; ceil: 2 * 2 = 4 < 6.
    [5, 3, 2, 1, 3, 3],
    // (7 - 2) / 2 = 2.5: floor 3; ceil 4, 3 * 2 = 6 < 7.
    [7, 2, 2, 0, 3, 4],
    // (3 + 2 - 2) / 2 = 1.5: floor 2; ceil 3, but 2 * 2 = 4 >= 3 + 1: the third window would start
    // at row 3, wholly in the bottom padding, so 2.
    [3, 2, 2, 1, 2, 2],
    // (5 + 2 - 3) / 3 = 1.33: floor 2; ceil 3, but 2 * 3 = 6 >= 5 + 1, so 2.
    [5, 3, 3, 1, 2, 2],
    // (9 + 2 - 3) / 3 = 2.67: floor 3; ceil 4, 3 * 3 = 9 < 10.
    [9, 3, 3, 1, 3, 4],
    // (7 - 2) / 3 = 1.67: floor 2; ceil 3, 2 * 3 = 6 < 7.
    [7, 2, 3, 0, 2, 3],
    // (3 + 4 - 4) / 2 = 1.5: floor 2; ceil 3, 2 * 2 = 4 < 5.
    [3, 4, 2, 2, 2, 3],
    // ResNet's stem pool nn.MaxPool2d(3, 2, padding=1) on 112: (112 + 2 - 3) / 2 = 55.5: floor 56;
    // ceil 57, 56 * 2 = 112 < 113.
    [112, 3, 2, 1, 56, 57],
    // GoogLeNet's nn.MaxPool2d(3, 2, ceil_mode=True) on 112: (112 - 3) / 2 = 54.5: floor 55; ceil 56,
    // 55 * 2 = 110 < 112.
    [112, 3, 2, 0, 55, 56],
  ] as const;
  for (const [h, k, s, p, floorOut, ceilOut] of SIZES) {
    it(`in ${h}, size ${k}, stride ${s}, padding ${p}: ${floorOut}, ceilMode ${ceilOut}; the reference agrees`, () => {
      for (const [ceilMode, want] of [[false, floorOut], [true, ceilOut]] as const) {
        const opts = { size: k, stride: s, padding: p, ceilMode };
        expect(outShapeOf([1, h, h, 1], opts)).toEqual([1, want, want, 1]);
        expect(maxPool2dRef(nd(new Float64Array(h * h), [1, h, h, 1]), opts).shape).toEqual([1, want, want, 1]);
      }
    });
  }

  it("a 4x4 window over 3x3 with 'valid' padding: refused, but one window with ceilMode ((3 - 4) / 2 = -0.5: floor 0, ceil 1)", () => {
    expect(() => outShapeOf([1, 3, 3, 1], { size: 4, stride: 2 })).toThrow(dn.ShapeError);
    expect(outShapeOf([1, 3, 3, 1], { size: 4, stride: 2, ceilMode: true })).toEqual([1, 1, 1, 1]);
  });

  // Every configuration of a small range: an output exactly where the padded input reaches a whole
  // window (ceilMode: within s - 1 of one), every window holding a real pixel (the first ends past
  // row 0, the last starts before row h) and positive divisors, so the max pool's kernels never
  // start from padding and no mean divides by 0.
  it('no window lies wholly in padding, for every in 1..9, size 1..4, stride 1..4, allowed padding, ceilMode', () => {
    let checked = 0;
    for (let h = 1; h <= 9; h++) {
      for (let k = 1; k <= 4; k++) {
        for (let s = 1; s <= 4; s++) {
          for (let p = 0; 2 * p <= k; p++) {
            for (const ceilMode of [false, true]) {
              const opts = { size: k, stride: s, padding: p, ceilMode };
              const fits = h + 2 * p - k + (ceilMode ? s - 1 : 0) >= 0;
              if (!fits) {
                expect(() => outShapeOf([1, h, h, 1], opts), JSON.stringify({ h, ...opts })).toThrow(dn.ShapeError);
                continue;
              }
              const g = pool2dGeometry('test', [1, h, h, 1], opts);
              expect(k - g.padTop, 'the first window ends past row 0').toBeGreaterThan(0);
              expect((g.outH - 1) * s - g.padTop, 'the last window starts before row h').toBeLessThan(h);
              const x = nd(uniform(h * h, h * 100 + k * 10 + s), [1, h, h, 1]);
              expect(maxPool2dRef(x, opts).data.every(Number.isFinite)).toBe(true);
              for (const countIncludePad of [false, true]) expect(avgPool2dRef(x, { ...opts, countIncludePad }).data.every(Number.isFinite)).toBe(true);
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  });
});

// Odd sizes, stride 1, 2, 3 (and 2 beside size 3), size 2, 3, 4, padding 0 and 1 (2 for size 4),
// ceilMode on and off, batch > 1, channels of one thread (3, 5) and of four (4, 8). Stride = size
// runs the one-thread-per-window backward: with padding, a ceil-mode overhang, and a leftover row.
const MAX_CASES = [
  { shape: [2, 6, 6, 3], opts: { size: 3, stride: 2, padding: 1, ceilMode: true } },
  { shape: [1, 7, 5, 5], opts: { size: 3, stride: 2, padding: 1 } },
  { shape: [2, 5, 7, 3], opts: { size: 2, stride: 1, padding: 1, ceilMode: true } },
  { shape: [2, 7, 8, 3], opts: { size: 2, stride: 3, ceilMode: true } },
  // The ceil rule drops a window: (4 + 2 - 2) / 3 rounds up to 2, 2 * 3 = 6 >= 4 + 1.
  { shape: [1, 4, 4, 5], opts: { size: 2, stride: 3, padding: 1, ceilMode: true } },
  { shape: [2, 5, 6, 3], opts: { size: [3, 2], stride: [2, 1], padding: [1, 0], ceilMode: true } },
  { shape: [1, 3, 3, 2], opts: { size: 4, stride: 2, padding: 2, ceilMode: true } },
  { shape: [2, 7, 9, 2], opts: { size: 3, stride: 3, padding: 1, ceilMode: true } },
  { shape: [1, 9, 10, 3], opts: { size: 3, stride: 3, padding: 1 } },
  { shape: [2, 7, 9, 4], opts: { size: 2, stride: 2, ceilMode: true } },
  { shape: [2, 6, 7, 8], opts: { size: 2, stride: 2, padding: 1 } },
  { shape: [1, 7, 5, 4], opts: { size: 3, stride: 1, padding: 1 } },
] as const satisfies readonly { shape: readonly number[]; opts: AvgPool2dOptions }[];

// As above, with countIncludePad both ways (true is the default) and divisorOverride.
const AVG_CASES = [
  { shape: [2, 6, 6, 3], opts: { size: 3, stride: 2, padding: 1, ceilMode: true } },
  { shape: [2, 6, 6, 3], opts: { size: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false } },
  { shape: [1, 7, 5, 5], opts: { size: 3, stride: 1, padding: 1 } },
  { shape: [1, 7, 5, 5], opts: { size: 3, stride: 1, padding: 1, countIncludePad: false } },
  { shape: [2, 7, 8, 3], opts: { size: 2, stride: 3, ceilMode: true } },
  { shape: [1, 4, 4, 5], opts: { size: 2, stride: 3, padding: 1, ceilMode: true } },
  { shape: [2, 5, 6, 3], opts: { size: [3, 2], stride: [2, 1], padding: [1, 0], ceilMode: true, countIncludePad: false } },
  { shape: [1, 3, 3, 2], opts: { size: 4, stride: 2, padding: 2, ceilMode: true } },
  { shape: [1, 5, 6, 3], opts: { size: 3, stride: 2, padding: 1, divisorOverride: 4 } },
  // Stride = size: padding, the ceil rule ((7 + 2 - 2) / 2 rounds up to 4, 4 * 2 = 8 >= 7 + 1),
  // overhangs past the padding, vec4 channels.
  { shape: [2, 7, 9, 3], opts: { size: 2, stride: 2, padding: 1, ceilMode: true } },
  { shape: [2, 6, 7, 4], opts: { size: 2, stride: 2, padding: 1, countIncludePad: false } },
  { shape: [1, 7, 9, 8], opts: { size: 3, stride: 3, padding: 1, ceilMode: true } },
  { shape: [1, 9, 10, 5], opts: { size: 3, stride: 3, padding: 1, ceilMode: true, countIncludePad: false } },
  { shape: [2, 4, 4, 4], opts: { size: 2, stride: 2, padding: 1, ceilMode: true, divisorOverride: 3 } },
] as const satisfies readonly { shape: readonly number[]; opts: AvgPool2dOptions }[];

// Tolerances: the defaults (atol 1e-5, rtol 1e-4). A max is one input, exact; a mean or a dx sums at
// most 16 terms in [-1, 1] over a divisor of 1 to 16, a few float32 ulps of values below 16.

describe('maxPool2d with padding and ceilMode', () => {
  poolCaseTests('max', MAX_CASES, 500, 520);

  it('padding never wins, even over inputs all below -1e30', async () => {
    const data = uniform(5 * 6 * 3, 540, -2e30, -1e30);
    const opts = { size: 3, stride: 2, padding: 1, ceilMode: true };
    const x = fromNd(data, [1, 5, 6, 3]);
    const { y, argmax } = maxPool2dForward(x, opts);
    const want = maxPool2dRef(nd(data, [1, 5, 6, 3]), opts);
    expect(Math.max(...want.data)).toBeLessThan(-1e30);
    expectClose('maxPool2d negative padded', await y.toArray(), want.data);
    for (const t of [x, y, argmax]) t.dispose();
  });
});

describe('avgPool2d with padding, ceilMode, countIncludePad and divisorOverride', () => {
  poolCaseTests('avg', AVG_CASES, 600, 620);

  // x [1, 4, 4, 1] holding 1..16. 3x3 stride 2 padding 1 ceilMode: 3 windows a side, starting at
  // -1, 1 and 3; the last covers row 3, row 4 (padding) and row 5 (past the padding). Window sums
  // [14, 30, 12, 57, 99, 36, 27, 45, 16]; per-axis divisors with padding counted: min(start + 3,
  // 4 + 1) - start = 3, 3, 2; real pixels alone: 2, 3, 1.
  it('the divisor by hand: padding counts, the overhang past it does not', () => {
    const x = nd(Float64Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
    const opts = { size: 3, stride: 2, padding: 1, ceilMode: true };
    expect([...avgPool2dRef(x, opts).data]).toEqual([14 / 9, 30 / 9, 12 / 6, 57 / 9, 99 / 9, 36 / 6, 27 / 6, 45 / 6, 16 / 4]);
    expect([...avgPool2dRef(x, { ...opts, countIncludePad: false }).data]).toEqual([14 / 4, 30 / 6, 12 / 2, 57 / 6, 99 / 9, 36 / 3, 27 / 2, 45 / 3, 16 / 1]);
    expect([...avgPool2dRef(x, { ...opts, divisorOverride: 2 }).data]).toEqual([7, 15, 6, 28.5, 49.5, 18, 13.5, 22.5, 8]);
  });

  it('stride = size takes the one-thread-per-window backward with padding and ceilMode, else the gather', () => {
    const shape = [2, 7, 9, 4];
    const dy = (opts: AvgPool2dOptions) => fromNd(uniform(size(outShapeOf(shape, opts)), 650), outShapeOf(shape, opts));
    for (const [opts, kernel] of [
      [{ size: 2, padding: 1, ceilMode: true }, 'avgPool2d.backwardDisjoint'],
      [{ size: 3, stride: 2, padding: 1, ceilMode: true }, 'avgPool2d.backward'],
    ] as const) {
      const d = dy(opts);
      expect(dispatched(() => avgPool2dBackward(d, shape, opts).dispose())).toEqual([kernel]);
      d.dispose();
    }
    const x = fromNd(distinct(size(shape), 651), shape);
    const opts = { size: 3, padding: 1, ceilMode: true };
    const { y, argmax } = maxPool2dForward(x, opts);
    expect(dispatched(() => maxPool2dBackward(y, argmax, shape, opts).dispose())).toEqual(['maxPool2d.backwardDisjoint']);
    for (const t of [x, y, argmax]) t.dispose();
  });
});

describe("explicit padding against pad2d then 'valid' (what a port composed before)", () => {
  it('max: -Infinity padding; avg: zero padding, countIncludePad true', async () => {
    const shape = [2, 7, 6, 3];
    const data = uniform(size(shape), 660);
    const x = fromNd(data, shape);
    for (const opts of [{ size: 3, stride: 2, padding: 1 }, { size: 2, stride: 1, padding: 1 }, { size: [3, 2], stride: [1, 2], padding: [1, 0] }] as const) {
      const [ph, pw] = typeof opts.padding === 'number' ? [opts.padding, opts.padding] : opts.padding;
      const pads = [ph, ph, pw, pw] as const;
      const valid = { size: opts.size, stride: opts.stride };
      const [xm, xa] = [dn.pad2d(x, pads, { value: -Infinity }), dn.pad2d(x, pads)];
      const [m1, m2, a1, a2] = [maxPool2d(x, opts), maxPool2d(xm, valid), avgPool2d(x, opts), avgPool2d(xa, valid)];
      expect(Array.from(await m1.toArray())).toEqual(Array.from(await m2.toArray()));
      // Sums over the same pixels, zeros aside, in the same order: the same float32 rounding.
      expect(Array.from(await a1.toArray())).toEqual(Array.from(await a2.toArray()));
      for (const t of [xm, xa, m1, m2, a1, a2]) t.dispose();
    }
    x.dispose();
  });
});

describe("maxPool2d's dilation (PyTorch's)", () => {
  // PyTorch: floor((in + 2p - d(k - 1) - 1) / s) + 1, the window spanning d(k - 1) + 1; the ceil
  // rule as above. [in, k, s, p, d, floor out, ceil out]:
  const SIZES = [
    // span 5: (9 - 5) / 1 = 4: 5 both ways.
    [9, 3, 1, 0, 2, 5, 5],
    // span 5: (8 + 2 - 5) / 2 = 2.5: floor 3; ceil 4, 3 * 2 = 6 < 8 + 1.
    [8, 3, 2, 1, 2, 3, 4],
    // span 4: (7 + 2 - 4) / 2 = 2.5: floor 3; ceil 4, 6 < 8.
    [7, 2, 2, 1, 3, 3, 4],
    // span 5: (10 + 2 - 5) / 3 = 2.33: floor 3; ceil 4, 9 < 11.
    [10, 3, 3, 1, 2, 3, 4],
  ] as const;
  for (const [h, k, s, p, d, floorOut, ceilOut] of SIZES) {
    it(`in ${h}, size ${k}, stride ${s}, padding ${p}, dilation ${d}: ${floorOut}, ceilMode ${ceilOut}; the reference agrees`, () => {
      for (const [ceilMode, want] of [[false, floorOut], [true, ceilOut]] as const) {
        const opts = { size: k, stride: s, padding: p, ceilMode, dilation: d };
        expect(outShapeOf([1, h, h, 1], opts)).toEqual([1, want, want, 1]);
        expect(maxPool2dRef(nd(new Float64Array(h * h), [1, h, h, 1]), opts).shape).toEqual([1, want, want, 1]);
      }
    });
  }

  it('a dilated window with every tap in the padding is refused, the rest run: every in 1..9, size 1..3, stride 1..3, dilation 2..3, allowed padding, ceilMode', () => {
    let checked = 0;
    let refused = 0;
    for (let h = 1; h <= 9; h++) {
      for (let k = 1; k <= 3; k++) {
        for (let s = 1; s <= 3; s++) {
          for (let d = 2; d <= 3; d++) {
            for (let p = 0; 2 * p <= k; p++) {
              for (const ceilMode of [false, true]) {
                const opts = { size: k, stride: s, padding: p, ceilMode, dilation: d };
                if (h + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0) < 0) continue;
                // The windows by the reference's own count; a window whose taps are all padding is refused.
                const out = maxPool2dRef(nd(new Float64Array(h * h), [1, h, h, 1]), opts).shape[1];
                const taps = (oh: number) => Array.from({ length: k }, (_, i) => oh * s - p + i * d);
                const hollow = Array.from({ length: out }, (_, oh) => oh).some((oh) => !taps(oh).some((r) => r >= 0 && r < h));
                if (hollow) {
                  expect(() => outShapeOf([1, h, h, 1], opts), JSON.stringify({ h, ...opts })).toThrow(/has every tap in the padding/);
                  refused++;
                  continue;
                }
                expect(outShapeOf([1, h, h, 1], opts)[1]).toBe(out);
                expect(maxPool2dRef(nd(uniform(h * h, h + k + s + d), [1, h, h, 1]), opts).data.every(Number.isFinite)).toBe(true);
                checked++;
              }
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
    expect(refused, 'some small inputs do have such windows').toBeGreaterThan(0);
  });

  it('the layer takes it, and a dilation of 1 is the plain pool', async () => {
    const x = fromNd(uniform(2 * 7 * 7 * 3, 690), [2, 7, 7, 3]);
    const layer = new dn.nn.MaxPool2d(3, 1, { dilation: 2 });
    const y = layer.forward(x);
    expect(y.shape).toEqual([2, 3, 3, 3]);
    const [plain, one] = [maxPool2d(x, { size: 2 }), maxPool2d(x, { size: 2, dilation: 1 })];
    expect(Array.from(await one.toArray())).toEqual(Array.from(await plain.toArray()));
    for (const t of [x, y, plain, one]) t.dispose();
  });
});

// Dilation 2 and 3, [rows, columns], with padding, ceilMode, 'same', vec4 channels, and stride =
// size (which must not take the one-thread-per-window backward: dilated windows leave gaps).
const MAX_DILATED = [
  { shape: [2, 9, 9, 3], opts: { size: 3, stride: 1, dilation: 2 } },
  { shape: [1, 8, 7, 5], opts: { size: 3, stride: 2, padding: 1, ceilMode: true, dilation: 2 } },
  { shape: [2, 7, 9, 4], opts: { size: 2, stride: 2, padding: 1, dilation: 3 } },
  { shape: [1, 10, 8, 3], opts: { size: [3, 2], stride: [3, 2], padding: [1, 1], dilation: [2, 3] } },
  { shape: [1, 7, 6, 4], opts: { size: 3, stride: 2, padding: 'same', dilation: 2 } },
] as const satisfies readonly { shape: readonly number[]; opts: dn.Pool2dOptions }[];

describe('maxPool2d with dilation', () => {
  poolCaseTests('max', MAX_DILATED, 540, 560);
});

describe('pool option checks', () => {
  it('refuses with the op, the option and the value, before any GPU work', () => {
    const x = dn.zeros([1, 5, 5, 2]);
    const before = dn.memory().bytesInUse;
    const refusals: [() => unknown, typeof dn.ShapeError | typeof dn.ArgumentError, RegExp][] = [
      // PyTorch: "pad should be at most half of effective kernel size".
      [() => maxPool2d(x, { size: 3, padding: 2 }), dn.ShapeError, /^maxPool2d: padding 2x2 is more than half the 3x3 window/],
      [() => avgPool2d(x, { size: [2, 4], padding: [2, 2] }), dn.ShapeError, /^avgPool2d: padding 2x2 is more than half the 2x4 window/],
      [() => maxPool2d(x, { size: 2, padding: -1 }), dn.ShapeError, /^maxPool2d: padding must be non-negative integers/],
      [() => maxPool2d(x, { size: 2, padding: [1, 1, 1, 1] as never }), dn.ArgumentError, /^maxPool2d: padding must be a number or \[rows, columns\]/],
      [() => maxPool2d(x, { size: 2, padding: 'same', ceilMode: true }), dn.ArgumentError, /^maxPool2d: ceilMode is for 'valid' or explicit padding/],
      [() => avgPool2d(x, { size: 2, padding: 'same', countIncludePad: true }), dn.ArgumentError, /^avgPool2d: countIncludePad needs explicit padding/],
      [() => maxPool2d(x, { size: 2, ceilMode: 1 as never }), dn.ArgumentError, /^maxPool2d: ceilMode must be true or false/],
      [() => avgPool2d(x, { size: 2, divisorOverride: 0 }), dn.ArgumentError, /^avgPool2d: divisorOverride must be an integer >= 1/],
      [() => avgPool2d(x, { size: 2, divisorOverride: 1.5 }), dn.ArgumentError, /^avgPool2d: divisorOverride must be an integer/],
      // avgPool2d's options are not the max pool's.
      [() => maxPool2d(x, { size: 2, countIncludePad: false } as never), dn.ArgumentError, /^maxPool2d: unknown option 'countIncludePad'; the options are size, stride, padding, ceilMode, dilation$/],
      // PyTorch's spelling is named with dawnet's.
      [() => maxPool2d(x, { size: 2, ceil_mode: true } as never), dn.ArgumentError, /^maxPool2d: unknown option 'ceil_mode' \(did you mean ceilMode\?\)/],
      [() => avgPool2d(x, { size: 2, count_include_pad: false } as never), dn.ArgumentError, /did you mean countIncludePad\?/],
      // PyTorch's AvgPool2d has no dilation.
      [() => avgPool2d(x, { size: 2, dilation: 2 } as never), dn.ArgumentError, /^avgPool2d: unknown option 'dilation'/],
      [() => maxPool2d(x, { size: 2, dilation: 0 }), dn.ShapeError, /^maxPool2d: dilation must be positive integers, got 0/],
      // Dilated 3 by 2, the window spans 5: 5 + 0 - 5 >= 0 fits; with dilation 3 it spans 7.
      [() => maxPool2d(x, { size: 3, dilation: 3 }), dn.ShapeError, /^maxPool2d: window 3x3 \(dilated to 7x7\) is larger than the input \[1,5,5,2\]/],
      // 5 + 2 - 8 < 0: no window fits (7 would, exactly).
      [() => maxPool2d(x, { size: 8, padding: 1 }), dn.ShapeError, /^maxPool2d: window 8x8 is larger than the input \[1,5,5,2\] with padding 1x1/],
    ];
    for (const [i, [call, kind, message]] of refusals.entries()) {
      expect(call, `refusal ${i}`).toThrow(kind);
      expect(call, `refusal ${i}`).toThrow(message);
    }
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });

  it("'same' takes ceilMode false and countIncludePad false (what it does anyway), and 'valid' either countIncludePad", async () => {
    const x = fromNd(uniform(2 * 5 * 5 * 3, 670), [2, 5, 5, 3]);
    const pairs = [
      [{ size: 3, stride: 2, padding: 'same', ceilMode: false, countIncludePad: false }, { size: 3, stride: 2, padding: 'same' }],
      [{ size: 2, ceilMode: true, countIncludePad: true }, { size: 2, ceilMode: true, countIncludePad: false }],
      [{ size: 2, padding: 0 }, { size: 2, padding: 'valid' }],
    ] as const;
    for (const [a, b] of pairs) {
      const [ya, yb] = [avgPool2d(x, a), avgPool2d(x, b)];
      expect(Array.from(await ya.toArray())).toEqual(Array.from(await yb.toArray()));
      for (const t of [ya, yb]) t.dispose();
    }
    x.dispose();
  });
});
