// Checks shared by the tests of the forward-only conv kernels that setConvAlgorithm forces
// (uniform-weights, channel-lanes, row-patch): a case's output with each bias and activation
// variant, a batch past the binding limit runs in chunks of samples, the fused ReLU keeps NaN,
// and the gradients stay the direct kernels', the reference's.
import { expect } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { nd } from '../../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { conv2dGeometry, type ConvGeometry } from '../../src/kernels/conv2d.js';
import type { ConvDirection } from '../../src/kernels/conv2d-gemm-common.js';
import { algorithmRuns, convAlgorithm, type ConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { expectClose } from './close.js';
import { convCaseData, type ConvCase } from './conv-case.js';
import { fromNd } from './gpu.js';

const TOL = { atol: 1e-4, rtol: 1e-4 };

/** A bias and activation variant of a case: each is a kernel of its own to compile. */
export type Variant = readonly [bias: boolean, activation: 'none' | 'relu'];
export const BIAS: Variant = [true, 'none'];
export const RELU: Variant = [false, 'relu'];
export type ForcedCase = ConvCase & { name: string; variants: Variant[] };

/** A case's test title: its name and its variants. */
export const forcedCaseTitle = (cs: ForcedCase): string => `${cs.name}: the reference's output (${cs.variants.map(([bias, activation]) => (bias ? 'bias' : activation)).join(', ')})`;

/**
 * `cs` with `algorithm` forced, which convAlgorithm must then name: each variant's output (run by
 * `kernel`, where the adapter profiles) is the reference's within `tol`. The caller resets the
 * algorithm afterwards.
 */
export async function expectForcedForward(algorithm: ConvAlgorithm, kernel: string, cs: ForcedCase, seed: number, tol: { atol: number; rtol: number }): Promise<void> {
  const d = convCaseData(cs, seed);
  const [x, w, b] = [fromNd(d.x.data, d.x.shape), fromNd(d.w.data, d.w.shape), fromNd(d.b.data, d.b.shape)];
  dn.setConvAlgorithm(algorithm);
  expect(convAlgorithm('forward', conv2dGeometry(x.shape, w.shape, d.opts))).toBe(algorithm);
  for (const [bias, activation] of cs.variants) {
    const label = `${bias ? 'bias' : 'no bias'}, ${activation}`;
    let y: dn.Tensor | undefined;
    const p = await dn.profile(() => {
      y = dn.conv2d(x, w, bias ? b : null, { ...d.opts, activation });
    });
    if (p) expect(p.kernels.map((k) => k.name), label).toContain(kernel);
    const ref = conv2dForwardRef(d.x, d.w, bias ? d.b : null, d.opts);
    const want = activation === 'relu' ? ref.data.map((v) => Math.max(v, 0)) : ref.data;
    expectClose(label, await y!.toArray(), want, tol);
    y!.dispose();
  }
  for (const t of [x, w, b]) t.dispose();
}

/**
 * 5 samples of 8x8 with `cin` channels to 12: one sample's output is 8·8·12·4 = 3072 bytes, so a
 * 6 KiB binding limit takes two samples a chunk (three dispatches of `kernel`), the chunks'
 * offsets keeping to a 1 KiB alignment. The caller resets the limit and the algorithm afterwards.
 */
export async function expectChunkedForward(algorithm: ConvAlgorithm, kernel: string, cin: number, seed: number): Promise<void> {
  const d = convCaseData({ x: [5, 8, 8, cin], k: [3, 3], cout: 12, opts: { padding: 'same' } }, seed);
  const [x, w, b] = [fromNd(d.x.data, d.x.shape), fromNd(d.w.data, d.w.shape), fromNd(d.b.data, d.b.shape)];
  runtime().setBindingLimit(6144, { offsetAlignment: 1024 });
  dn.setConvAlgorithm(algorithm);
  let y: dn.Tensor | undefined;
  const p = await dn.profile(() => {
    y = dn.conv2d(x, w, b, d.opts);
  });
  if (p) expect(p.kernels.find((k) => k.name === kernel)?.dispatches).toBe(3);
  expectClose('chunked', await y!.toArray(), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, TOL);
  for (const t of [x, w, b, y!]) t.dispose();
}

/** A conv of 2 samples of 6x7 with `cin` channels to 16, `algorithm` forced: its gradients are the reference's. */
export async function expectReferenceGradients(algorithm: ConvAlgorithm, cin: number, seed: number): Promise<void> {
  const d = convCaseData({ x: [2, 6, 7, cin], k: [3, 3], cout: 16, opts: { padding: 'same' } }, seed);
  const [x, w, b] = [fromNd(d.x.data, d.x.shape, true), fromNd(d.w.data, d.w.shape, true), fromNd(d.b.data, d.b.shape, true)];
  dn.setConvAlgorithm(algorithm);
  const dy = fromNd(d.dy.data, d.dy.shape);
  dn.scope(() => dn.sum(dn.mul(dn.conv2d(x, w, b, d.opts), dy)).backward());
  const g = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
  expectClose('dx', await x.grad!.toArray(), g.dx.data, TOL);
  expectClose('dw', await w.grad!.toArray(), g.dw.data, TOL);
  expectClose('db', await b.grad!.toArray(), g.db.data, TOL);
  for (const t of [x, w, b, dy]) {
    t.grad?.dispose();
    t.dispose();
  }
}

/**
 * One NaN in a 4x6 image of 3 channels (pixel (1, 2), channel 1), a 3x3 'same' conv to 4 channels
 * with its fused ReLU, `algorithm` forced: NaN at the 3x3 outputs around it, as relu keeps it, and
 * max(y, 0) of the reference elsewhere, both sides of the kink among them.
 */
export async function expectReluKeepsNan(algorithm: ConvAlgorithm, seed: number): Promise<void> {
  const d = convCaseData({ x: [1, 4, 6, 3], k: [3, 3], cout: 4, opts: { padding: 'same' } }, seed);
  const xs = Float32Array.from(d.x.data);
  xs[(1 * 6 + 2) * 3 + 1] = Number.NaN;
  const [x, w, b] = [dn.tensor(xs, d.x.shape), fromNd(d.w.data, d.w.shape), fromNd(d.b.data, d.b.shape)];
  dn.setConvAlgorithm(algorithm);
  const y = dn.conv2d(x, w, b, { ...d.opts, activation: 'relu' });
  const got = await y.toArray();
  const ref = conv2dForwardRef(nd(Float64Array.from(xs), d.x.shape), d.w, d.b, d.opts).data;
  const nans = [...ref.keys()].filter((i) => Number.isNaN(ref[i]));
  expect(nans.length, 'the 3x3 outputs around the NaN, every channel').toBe(9 * 4);
  expect([...got].map(Number.isNaN)).toEqual([...ref].map(Number.isNaN));
  const numbers = [...ref.keys()].filter((i) => !Number.isNaN(ref[i]));
  expectClose('numbers', numbers.map((i) => got[i]), numbers.map((i) => Math.max(ref[i], 0)), TOL);
  expect(numbers.some((i) => got[i] === 0) && numbers.some((i) => got[i] > 0), 'both sides of the kink').toBe(true);
  for (const t of [x, w, b, y]) t.dispose();
}

/** A 3x3 'same' (or `k`x`k`) conv of an 8x8 image, `cin` channels to `cout`. */
export const fewInputsGeometry = (cin: number, cout: number, k = 3): ConvGeometry => conv2dGeometry([1, 8, 8, cin], [k, k, cin, cout], { padding: 'same' });

/**
 * What the kernels for few inputs a pixel (channel-lanes, row-patch) share: `fits` takes forwards
 * of K·Cin <= 36 with output channels in vec4s (3x3 over 3 and 4 channels, 1x1 over 36) and
 * nothing else, `algorithm` runs where it fits, and forcing it leaves the convs it does not fit
 * as they run unforced. The caller resets the algorithm afterwards.
 */
export function expectFewInputsFits(algorithm: ConvAlgorithm, fits: (dir: ConvDirection, g: ConvGeometry) => boolean): void {
  const geometry = fewInputsGeometry;
  expect(fits('forward', geometry(3, 64))).toBe(true);
  expect(fits('forward', geometry(4, 8))).toBe(true);
  expect(fits('forward', geometry(5, 8)), 'K·Cin 45').toBe(false);
  expect(fits('forward', geometry(36, 8, 1))).toBe(true);
  expect(fits('forward', geometry(37, 8, 1))).toBe(false);
  expect(fits('forward', geometry(3, 6)), 'Cout not in vec4s').toBe(false);
  expect(fits('backwardInput', geometry(3, 64))).toBe(false);
  expect(fits('backwardWeight', geometry(3, 64))).toBe(false);
  expect(algorithmRuns(algorithm, 'forward', geometry(3, 64))).toBe(true);
  const others = [geometry(3, 6), geometry(5, 8)].map((g) => ['forward', g] as const);
  const ways = () => [...others, ['backwardInput', geometry(3, 64)] as const].map(([dir, g]) => convAlgorithm(dir, g));
  const unforced = ways();
  expect(unforced).not.toContain(algorithm);
  dn.setConvAlgorithm(algorithm);
  expect(ways()).toEqual(unforced);
  dn.setConvAlgorithm('auto');
}
