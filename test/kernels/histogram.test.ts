// histogram (src/kernels/histogram.ts) against its reference (src/reference/histogram.ts): counts
// exactly (integers), with values placed a third of a bin from either edge so that WGSL's division
// (2.5 ulp, not correctly rounded) cannot move one across; a given range with values outside it
// and NaN; x's own range (its minimum in the first bin, its maximum in the last); a constant x; more
// bins than workgroup memory holds; both ways of counting ('local' and 'direct'), on values spread
// over the bins and on half of them in one, at bin counts that fill their workgroup array and that
// leave most of it unused; the rule's way; the split past the binding limit; errors.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { isSwiftShaderReport } from '../../src/gpu/adapter-kind.js';
import type { AdapterReport } from '../../src/gpu/device.js';
import { histogram, histogramWay, LOCAL_BINS, localArrayBins, withHistogramWay } from '../../src/kernels/histogram.js';
import { histogramRef } from '../../src/reference/histogram.js';
import { useGpu } from '../helpers/gpu.js';
import { rng } from '../helpers/rng.js';

useGpu();

afterEach(() => runtime().setBindingLimit(null));

/** n float32 values inside bins of [lo, hi], each 1/3 to 2/3 of the way across its bin. */
function binValues(n: number, bins: number, lo: number, hi: number, seed: number): Float32Array {
  const r = rng(seed);
  const width = (hi - lo) / bins;
  return Float32Array.from({ length: n }, () => lo + (Math.floor(r() * bins) + 1 / 3 + r() / 3) * width);
}

async function counts(x: dn.Tensor, opts: dn.HistogramOptions): Promise<number[]> {
  const h = histogram(x, opts);
  const out = Array.from(await h.toArray());
  h.dispose();
  return out;
}

describe('histogram', () => {
  it('counts values in a given range, leaving out those outside it and NaN', async () => {
    const data = [...binValues(20000, 64, -2, 6, 1), -2.5, 6.5, NaN, -Infinity, Infinity];
    const x = dn.tensor(data);
    const got = await counts(x, { bins: 64, min: -2, max: 6 });
    expect(got).toEqual(Array.from(histogramRef(data, 64, -2, 6).data));
    expect(got.reduce((s, c) => s + c, 0)).toBe(20000);
    x.dispose();
  });

  it('takes x\'s own range by default: its minimum in the first bin, its maximum in the last', async () => {
    const data = [...binValues(3000, 100, 0, 1, 2), 0, 1];
    const x = dn.tensor(data, [3002]);
    const got = await counts(x, {});
    expect(got).toEqual(Array.from(histogramRef(data, 100, 0, 1).data));
    expect(got[0]).toBeGreaterThan(0);
    expect(got[99]).toBeGreaterThan(0);
    x.dispose();
  });

  it('widens a constant x to [v - 1, v + 1], as torch.histc', async () => {
    const x = dn.full([5, 7], 3);
    const got = await counts(x, { bins: 4 });
    expect(got).toEqual([0, 0, 35, 0]);
    x.dispose();
  });

  it(`counts more than ${LOCAL_BINS} bins straight into the output, the same as the reference`, async () => {
    const bins = LOCAL_BINS + 904;
    const data = binValues(30000, bins, 0, 10, 3);
    const x = dn.tensor(data);
    expect(await counts(x, { bins, min: 0, max: 10 })).toEqual(Array.from(histogramRef(data, bins, 0, 10).data));
    x.dispose();
  });

  describe.each(['local', 'direct'] as const)("counting '%s'", (way) => {
    // 65 bins leave 63 of the array's 128 unused; 64 and 4096 fill theirs.
    it.each([1, 64, 65, 256, LOCAL_BINS])('%i bins, values spread over them and half of them in the first bin', async (bins) => {
      const spread = binValues(20000, bins, -1, 1, bins);
      const background = spread.map((v, i) => (i % 2 === 0 ? -1 : v));
      for (const data of [spread, background]) {
        const x = dn.tensor(data);
        const got = await withHistogramWay(way, () => counts(x, { bins, min: -1, max: 1 }));
        expect(got).toEqual(Array.from(histogramRef(data, bins, -1, 1).data));
        x.dispose();
      }
    });
  });

  it("counts in workgroup memory ('local') up to LOCAL_BINS bins in an array of the next power of two, but on SwiftShader", () => {
    expect([1, 63, 64, 65, 256, 257, LOCAL_BINS].map(localArrayBins)).toEqual([64, 64, 64, 128, 256, 512, LOCAL_BINS]);
    expect(histogramWay(LOCAL_BINS + 1), 'more bins than workgroup memory holds').toBe('direct');
    expect(withHistogramWay('local', () => histogramWay(LOCAL_BINS + 1)), 'whatever is forced').toBe('direct');
    expect(histogramWay(256), 'this adapter').toBe(isSwiftShaderReport(runtime().ctx.report) ? 'direct' : 'local');
    const report = (vendor: string, architecture: string): AdapterReport => ({ vendor, architecture, device: '', description: '', backend: 'browser', features: [], limits: {} });
    expect(isSwiftShaderReport(report('google', 'swiftshader'))).toBe(true);
    expect(isSwiftShaderReport(report('mesa', 'llvmpipe'))).toBe(false);
    expect(isSwiftShaderReport(report('nvidia', 'hopper'))).toBe(false);
  });

  it('splits x past the binding limit, to the same counts', async () => {
    const data = binValues(5000, 32, -1, 1, 4);
    const x = dn.tensor(data);
    const whole = await counts(x, { bins: 32, min: -1, max: 1 });
    runtime().setBindingLimit(1024 * 4);
    expect(await counts(x, { bins: 32, min: -1, max: 1 })).toEqual(whole);
    x.dispose();
  });

  it('is not differentiable, and refuses bad bins, half a range or an empty one, allocating nothing', () => {
    const x = dn.zeros([4], { requiresGrad: true });
    const h = histogram(x, { bins: 3 });
    expect(h.requiresGrad).toBe(false);
    h.dispose();
    const before = dn.memory().bytesInUse;
    expect(() => histogram(x, { bins: 0 })).toThrow(/^histogram: bins must be/);
    expect(() => histogram(x, { bins: 2.5 })).toThrow(dn.ArgumentError);
    expect(() => histogram(x, { min: 0 })).toThrow(/^histogram: give both min and max/);
    expect(() => histogram(x, { min: 1, max: 1 })).toThrow(/^histogram: min 1 must be below max 1/);
    expect(() => histogram(x, { min: 0, max: Infinity })).toThrow(dn.ArgumentError);
    expect(() => histogram(x, { range: [0, 1] } as never)).toThrow(dn.ArgumentError);
    expect(dn.memory().bytesInUse).toBe(before);
    x.dispose();
  });
});
