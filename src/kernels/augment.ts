// Data-augmentation kernels: horizontal/vertical flip, affine warp and displacement-field warp of
// NHWC images [N, H, W, C] (masks are the same with C = 1), plus the separable Gaussian smoothing
// that turns uniform noise into an elastic displacement field.
//
// Sampling follows scipy.ndimage (map_coordinates / affine_transform, order 1 or 0) so that the
// reference notebook's elastic_transform and Keras' ImageDataGenerator are reproduced:
//   - a source point (y, x) is read from the image extended beyond its edges, then interpolated
//     bilinearly between floor() and floor()+1 (or rounded half up for 'nearest');
//   - 'reflect' extends half-sample symmetrically, d c b a | a b c d | d c b a, periodically (this is
//     scipy's 'reflect'; scipy's own mapping of the coordinate gives the same values);
//   - 'nearest' repeats the edge pixel, a a a | a b c d | d d d;
//   - 'constant' gives cval wherever y or x falls outside [0, H-1] x [0, W-1] (scipy's 'constant':
//     no interpolation towards cval across the edge).
// The mask pass is the same kernel with `threshold` set: v > 0.5 ? 1 : 0 after interpolation.
// One thread per output pixel computes its source point once and writes every channel.
//
// Smoothing: one 1-D pass per axis (along H, then along W, as scipy.ndimage.gaussian_filter does),
// weights computed here on the CPU and uploaded; the line is extended half-sample symmetrically
// (scipy mode='reflect') or whole-sample symmetrically (torch's 'reflect' padding, used by
// torchvision's gaussian_blur). The second pass multiplies by a per-sample, per-component scale
// (alpha, or torchvision's alpha/size in pixels).
//
// None of this is differentiable: augmentation runs on data, outside the tape.

import { packParams, u32, f32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

export type FillMode = 'reflect' | 'nearest' | 'constant';
export type Interpolation = 'bilinear' | 'nearest';
export type Parametrisation = 'scipy' | 'torchvision';

export interface SampleOptions {
  fillMode: FillMode;
  interpolation: Interpolation;
  /** Mask pass: threshold the interpolated value at 0.5. */
  threshold: boolean;
  /** Value outside the image for fillMode 'constant'. */
  cval: number;
}

const FILL_CODE: Record<FillMode, number> = { reflect: 0, nearest: 1, constant: 2 };

// ---------------------------------------------------------------------------------------------
// Flip

const flipSpec: KernelSpec = {
  name: 'augment.flip',
  key: '',
  inputs: 2,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { pixels: u32, h: u32, w: u32, c: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> flags: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let p = ${linearIndex()};
  if (p >= params.pixels) { return; }
  let col = p % params.w;
  let row = (p / params.w) % params.h;
  let b = p / (params.w * params.h);
  // flags[2b] flips columns (horizontal), flags[2b + 1] flips rows (vertical).
  let sc = select(col, params.w - 1u - col, flags[2u * b] != 0.0);
  let sr = select(row, params.h - 1u - row, flags[2u * b + 1u] != 0.0);
  let s = ((b * params.h + sr) * params.w + sc) * params.c;
  for (var ch = 0u; ch < params.c; ch++) { out[p * params.c + ch] = src[s + ch]; }
}`,
};

/** x [N, H, W, C], flags [N, 2] (horizontal, vertical; nonzero = flip) -> flipped copy. */
export function flipForward(x: Tensor, flags: Tensor): Tensor {
  const [n, h, w, c] = x.shape;
  const out = emptyTensor(x.shape, 'augment.flip.out');
  runtime().dispatch(
    flipSpec,
    { inputs: [x.slice, flags.slice], outputs: [out.slice], params: packParams([u32(n * h * w), u32(h), u32(w), u32(c)]) },
    linearGrid(n * h * w),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sampling at a source point (shared by the affine and displacement warps)

const SAMPLE_PARAMS = /* wgsl */ `struct Params {
  pixels: u32, h: u32, w: u32, c: u32, fillMode: u32, nearest: u32, threshold: u32, cval: f32 }`;

/** WGSL helpers over the globals `src`, `out`, `params`. */
const SAMPLE_FNS = /* wgsl */ `
fn fold(i: i32, len: i32) -> i32 {
  if (params.fillMode == ${FILL_CODE.nearest}u) { return clamp(i, 0, len - 1); }
  let period = 2 * len;
  var m = i % period;
  if (m < 0) { m += period; }
  return select(m, period - 1 - m, m >= len);
}

fn finish(v: f32) -> f32 {
  if (params.threshold == 1u) { return select(0.0, 1.0, v > 0.5); }
  return v;
}

// Writes every channel of output pixel p from the point (y, x) of sample b.
fn writeSampled(p: u32, b: u32, y: f32, x: f32) {
  let C = params.c;
  let h = i32(params.h);
  let w = i32(params.w);
  let plane = b * params.h * params.w;
  if (params.fillMode == ${FILL_CODE.constant}u &&
      (y < 0.0 || y > f32(h - 1) || x < 0.0 || x > f32(w - 1))) {
    for (var ch = 0u; ch < C; ch++) { out[p * C + ch] = finish(params.cval); }
    return;
  }
  if (params.nearest == 1u) {
    let r = u32(fold(i32(floor(y + 0.5)), h));
    let c = u32(fold(i32(floor(x + 0.5)), w));
    let s = (plane + r * params.w + c) * C;
    for (var ch = 0u; ch < C; ch++) { out[p * C + ch] = finish(src[s + ch]); }
    return;
  }
  let y0 = floor(y);
  let x0 = floor(x);
  let fy = y - y0;
  let fx = x - x0;
  let r0 = u32(fold(i32(y0), h));
  let r1 = u32(fold(i32(y0) + 1, h));
  let c0 = u32(fold(i32(x0), w));
  let c1 = u32(fold(i32(x0) + 1, w));
  let s00 = (plane + r0 * params.w + c0) * C;
  let s01 = (plane + r0 * params.w + c1) * C;
  let s10 = (plane + r1 * params.w + c0) * C;
  let s11 = (plane + r1 * params.w + c1) * C;
  for (var ch = 0u; ch < C; ch++) {
    let top = (1.0 - fx) * src[s00 + ch] + fx * src[s01 + ch];
    let bottom = (1.0 - fx) * src[s10 + ch] + fx * src[s11 + ch];
    out[p * C + ch] = finish((1.0 - fy) * top + fy * bottom);
  }
}`;

function samplingSpec(name: string, coordsDecl: string, sourcePoint: string): KernelSpec {
  return {
    name,
    key: '',
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${SAMPLE_PARAMS}
@group(0) @binding(0) var<storage, read> src: array<f32>;
${coordsDecl}
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${SAMPLE_FNS}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let p = ${linearIndex()};
  if (p >= params.pixels) { return; }
  let col = f32(p % params.w);
  let row = f32((p / params.w) % params.h);
  let b = p / (params.w * params.h);
  ${sourcePoint}
  writeSampled(p, b, y, x);
}`,
  };
}

// Inverse mapping: the output pixel (row, col) reads the input at M (row, col, 1), M a 2x3 matrix.
const affineSpec = samplingSpec(
  'augment.affine',
  '@group(0) @binding(1) var<storage, read> matrices: array<f32>;',
  `let m = 6u * b;
  let y = matrices[m] * row + matrices[m + 1u] * col + matrices[m + 2u];
  let x = matrices[m + 3u] * row + matrices[m + 4u] * col + matrices[m + 5u];`,
);

// The output pixel (row, col) reads the input at (row + field[.., 0], col + field[.., 1]).
const displaceSpec = samplingSpec(
  'augment.displace',
  '@group(0) @binding(1) var<storage, read> field: array<f32>;',
  `let y = row + field[2u * p];
  let x = col + field[2u * p + 1u];`,
);

function sampleParams(x: Tensor, o: SampleOptions): ArrayBuffer {
  const [n, h, w, c] = x.shape;
  return packParams([
    u32(n * h * w), u32(h), u32(w), u32(c),
    u32(FILL_CODE[o.fillMode]), u32(o.interpolation === 'nearest' ? 1 : 0), u32(o.threshold ? 1 : 0), f32(o.cval),
  ]);
}

/** x [N, H, W, C], matrices [N, 6] (row-major 2x3, output (row, col, 1) -> input (y, x)). */
export function affineForward(x: Tensor, matrices: Tensor, o: SampleOptions): Tensor {
  const out = emptyTensor(x.shape, 'augment.affine.out');
  const [n, h, w] = x.shape;
  runtime().dispatch(affineSpec, { inputs: [x.slice, matrices.slice], outputs: [out.slice], params: sampleParams(x, o) }, linearGrid(n * h * w));
  return out;
}

/** x [N, H, W, C], field [N, H, W, 2] of (row, column) displacements in pixels. */
export function displaceForward(x: Tensor, field: Tensor, o: SampleOptions): Tensor {
  const out = emptyTensor(x.shape, 'augment.displace.out');
  const [n, h, w] = x.shape;
  runtime().dispatch(displaceSpec, { inputs: [x.slice, field.slice], outputs: [out.slice], params: sampleParams(x, o) }, linearGrid(n * h * w));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Separable Gaussian smoothing of displacement fields

/**
 * Normalised 1-D Gaussian weights, length 2r+1. scipy.ndimage.gaussian_filter: r = int(4 sigma +
 * 0.5) (truncate = 4). torchvision's ElasticTransform: kernel size int(8 sigma + 1), made odd.
 * Both use exp(-x^2 / (2 sigma^2)) at integer x, divided by the sum; sigma 0 means no smoothing.
 */
export function gaussianWeights(sigma: number, parametrisation: Parametrisation): Float64Array {
  if (!(sigma > 0)) return Float64Array.of(1);
  let radius: number;
  if (parametrisation === 'scipy') radius = Math.trunc(4 * sigma + 0.5);
  else {
    let size = Math.trunc(8 * sigma + 1);
    if (size % 2 === 0) size += 1;
    radius = (size - 1) / 2;
  }
  const weights = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    weights[k + radius] = Math.exp((-0.5 * k * k) / (sigma * sigma));
    sum += weights[k + radius];
  }
  return weights.map((v) => v / sum);
}

/**
 * WGSL of augment.smooth: its params, bindings and foldLine, then (SMOOTH_LINE, after the bounds
 * check) element i's line: `len`, its `pos` on the line, the `stride` between taps and `lineStart`.
 * Shared with the test that keeps the fold-every-tap kernel this one must match bit for bit.
 */
export const SMOOTH_DECLS = /* wgsl */ `
struct Params { total: u32, h: u32, w: u32, k: u32, axis: u32, radius: u32, wholeSample: u32, scaled: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> scales: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Half-sample symmetric (d c b a | a b c d) or whole-sample symmetric (d c b | a b c d), periodic.
fn foldLine(i: i32, len: i32) -> i32 {
  if (params.wholeSample == 1u) {
    if (len == 1) { return 0; }
    let period = 2 * len - 2;
    var m = i % period;
    if (m < 0) { m += period; }
    return select(m, period - m, m >= len);
  }
  let period = 2 * len;
  var m = i % period;
  if (m < 0) { m += period; }
  return select(m, period - 1 - m, m >= len);
}`;

export const SMOOTH_LINE = /* wgsl */ `
  let kk = i % params.k;
  let p = i / params.k;
  let col = p % params.w;
  let row = (p / params.w) % params.h;
  let b = p / (params.w * params.h);
  let alongW = params.axis == 1u;
  let len = select(params.h, params.w, alongW);
  let pos = select(row, col, alongW);
  let stride = select(params.w * params.k, params.k, alongW);
  let lineStart = i - pos * stride;`;

const smoothSpec: KernelSpec = {
  name: 'augment.smooth',
  key: '',
  inputs: 3,
  outputs: 1,
  wgsl: () => /* wgsl */ `
${SMOOTH_DECLS}

@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
${SMOOTH_LINE}
  // Taps [t0, t1) land inside the line and need no folding; only those before t0 (off the start)
  // and from t1 on (off the end) do. The three loops keep the taps' order, so the sum is the same
  // float for float as one folded loop. The signed % of the fold on every tap made the pass 3.7x a
  // 1x33 depthwiseConv2d on lavapipe; at sigma 4 on 256 pixels 6% of the taps still fold. Both
  // passes, [16,256,256,2], lavapipe, medians of 5: sigma 2.5 471 -> 264 ms, 4 676 -> 395, 12 1207 -> 702.
  let r = i32(params.radius);
  let taps = 2u * params.radius + 1u;
  let t0 = u32(max(r - i32(pos), 0));
  let t1 = u32(min(i32(taps), i32(len) + r - i32(pos)));
  let first = i32(pos) - r;
  var acc = 0.0;
  for (var t = 0u; t < t0; t++) {
    acc += weights[t] * src[lineStart + u32(foldLine(first + i32(t), i32(len))) * stride];
  }
  var at = lineStart + u32(first + i32(t0)) * stride;
  for (var t = t0; t < t1; t++) {
    acc += weights[t] * src[at];
    at += stride;
  }
  for (var t = t1; t < taps; t++) {
    acc += weights[t] * src[lineStart + u32(foldLine(first + i32(t), i32(len))) * stride];
  }
  if (params.scaled == 1u) { acc *= scales[b * params.k + kk]; }
  out[i] = acc;
}`,
};

function smoothPass(x: Tensor, weights: Tensor, scales: Tensor, axis: 0 | 1, wholeSample: boolean, scaled: boolean): Tensor {
  const [n, h, w, k] = x.shape;
  const out = emptyTensor(x.shape, 'augment.smooth.out');
  const radius = (weights.size - 1) / 2;
  runtime().dispatch(
    smoothSpec,
    {
      inputs: [x.slice, weights.slice, scales.slice],
      outputs: [out.slice],
      params: packParams([u32(n * h * w * k), u32(h), u32(w), u32(k), u32(axis), u32(radius), u32(wholeSample ? 1 : 0), u32(scaled ? 1 : 0)]),
    },
    linearGrid(n * h * w * k),
  );
  return out;
}

/**
 * noise [N, H, W, K] -> Gaussian-smoothed along H, then along W, times scales [N, K].
 * weights [2r+1] from gaussianWeights(); 'scipy' extends lines half-sample symmetrically,
 * 'torchvision' whole-sample symmetrically.
 */
export function smoothField(noise: Tensor, weights: Tensor, scales: Tensor, parametrisation: Parametrisation): Tensor {
  const wholeSample = parametrisation === 'torchvision';
  const alongH = smoothPass(noise, weights, scales, 0, wholeSample, false);
  const field = smoothPass(alongH, weights, scales, 1, wholeSample, true);
  alongH.dispose();
  return field;
}
