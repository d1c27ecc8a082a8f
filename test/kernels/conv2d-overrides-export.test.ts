// The conv overrides the README names as public (setConvTile, setUniformWeightsPixels, beside
// setConvAlgorithm) are exported by the package and act as documented (audit14 finding 10).
// Kept under test/nn for file ownership at the time; it belongs with test/kernels/conv2d-*.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { convTile, convTileOverride } from '../../src/kernels/conv2d-launch.js';
import { formatGemmTile, parseGemmTile, tiledTileFor } from '../../src/kernels/conv2d-tiled.js';
import { uniformWeightsLayout } from '../../src/kernels/conv2d-uniform-weights.js';
import { nd } from '../../src/reference/array.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const X = [2, 9, 10, 4];
const W = [3, 3, 4, 8];
const g = () => conv2dGeometry(X, W, { padding: 'same' });

describe('conv overrides exported by the package', () => {
  it('setConvTile forces the GEMM tile, and null restores the choice by shape', async () => {
    expect(typeof dn.setConvTile).toBe('function');
    const rule = formatGemmTile(tiledTileFor('forward', 8));
    const forced = rule === '64x64x16/4x4' ? '128x64x8/8x4' : '64x64x16/4x4';
    const [x, w] = [uniform(2 * 9 * 10 * 4, 31), uniform(3 * 3 * 4 * 8, 32)];
    const [xt, wt] = [fromNd(x, X), fromNd(w, W)];
    // The README's written form; an object as parseGemmTile gives it works the same.
    dn.setConvTile(forced);
    try {
      expect(formatGemmTile(convTileOverride()!)).toBe(forced);
      expect(formatGemmTile(convTile('forward', g(), 'tiled', 'direct'))).toBe(forced);
      const y = dn.conv2d(xt, wt, null, { padding: 'same' });
      expectClose('conv2d under a forced tile', await y.toArray(), conv2dForwardRef(nd(x, X), nd(w, W), null, { padding: 'same' }).data, { atol: 1e-4, rtol: 1e-4 });
      y.dispose();
    } finally {
      dn.setConvTile(null);
    }
    expect(convTileOverride()).toBeNull();
    expect(formatGemmTile(convTile('forward', g(), 'tiled', 'direct'))).toBe(rule);
    dn.setConvTile(parseGemmTile(forced));
    expect(formatGemmTile(convTileOverride()!)).toBe(forced);
    dn.setConvTile(null);
    xt.dispose();
    wt.dispose();
  });

  it('setConvTile refuses a tile the kernels cannot be built for, and keeps the one it had', () => {
    const bad: [unknown, RegExp][] = [
      ['64x64', /conv tile: expected BMxBNxBK\/TMxTN/],
      ['64x64x16/6x6', /conv tile 64x64x16\/6x6: TM and TN must be multiples of 4/],
      [{ bm: 64, bn: 64, bk: 16, tm: 4 }, /conv tile: expected \{ bm, bn, bk, tm, tn \}/],
      [{ bm: 64, bn: 64, bk: 16, tm: 4, tn: 2 }, /conv tile 64x64x16\/4x2: TM and TN must be multiples of 4/],
      [{ bm: 256, bn: 256, bk: 16, tm: 4, tn: 4 }, /4096 threads; at most 256/],
    ];
    for (const [tile, message] of bad) {
      expect(() => dn.setConvTile(tile as never), JSON.stringify(tile)).toThrow(dn.ArgumentError);
      expect(() => dn.setConvTile(tile as never)).toThrow(message);
      expect(convTileOverride()).toBeNull();
    }
  });

  it('setUniformWeightsPixels forces the pixels a thread, is validated, and null restores', () => {
    expect(typeof dn.setUniformWeightsPixels).toBe('function');
    dn.setUniformWeightsPixels(4);
    try {
      expect(uniformWeightsLayout(g(), true).pixels).toBe(4);
      expect(uniformWeightsLayout(g(), false).pixels).toBe(4);
    } finally {
      dn.setUniformWeightsPixels(null);
    }
    expect(uniformWeightsLayout(g(), true).pixels).toBe(1);
    expect(() => dn.setUniformWeightsPixels(0)).toThrow(dn.ArgumentError);
    expect(() => dn.setUniformWeightsPixels(17)).toThrow(/setUniformWeightsPixels: expected a whole number from 1 to 16/);
  });
});
