// Where the windows of maxPool2d and avgPool2d lie: their options checked, the output size and
// padding worked out, and the WGSL that both pools' kernels share to find a window or the windows
// over a pixel.
//
// Window oh covers input rows oh*sh - padTop .. oh*sh - padTop + kh - 1 (columns alike). Rows
// outside the input are padding: they never win a max and count in a mean only as avgPool2d says.
//   'valid' (the default): no padding, out = floor((in - k) / s) + 1.
//   'same': TensorFlow's, out = ceil(in / s), with max(0, (out-1) s + k - in) padding split
//     low-first-smaller (padTop = total/2 rounded down).
//   p or [ph, pw]: PyTorch's padding=p, p rows above and below (p columns left and right), refused
//     past floor(k / 2) as PyTorch refuses it; out = floor((in + 2p - k) / s) + 1.
//   ceilMode (PyTorch's ceil_mode), with 'valid' or p: out = ceil((in + 2p - k) / s) + 1, less one
//     where the last window would start at or past in + p, so that every window starts inside the
//     input or the left padding. 'same' sets out itself, so it refuses ceilMode.
//   dilation d (max pool only, PyTorch's dilation): a window's taps d apart, rows
//     oh*sh - padTop + i*d for i < k; k above stands for its span (k - 1)·d + 1 in every formula
//     but the padding limit, which stays floor(k / 2) as PyTorch's.
// Hence, without dilation, every window holds a real pixel: the first ends at k - p >= k - floor(k/2)
// >= 1, and every window starts before `in` (floor: the last at most in + p - k < in; ceil: by the
// rule above). A dilated window can still have every tap in the padding, stepping over a small
// input (size 2, dilation 2, padding 1 on one row: taps at rows -1 and 1); pool2dGeometry refuses
// those (PyTorch outputs -inf). The max pool's kernels rely on it (they start from the window's
// first real tap).
//
// avgPool2d divides each window's sum by divisorOverride where given, else by the number of its
// positions inside rows [-countH, h + countH) and columns [-countW, w + countW): countH = p with
// explicit padding and countIncludePad (true by default, as PyTorch's count_include_pad), else 0.
// So with ceilMode a window hanging past the right padding does not count the overhang, as in
// PyTorch's avg_pool2d (divisor (min(start + k, in + p) - start) per axis, start >= -p). 'same' is
// TensorFlow's, which never counts its padding: countIncludePad true is refused there.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import { describeValue, expectKnownOptions, expectOptionalBoolean, expectOptionalNumber, expectOptions } from '../graph/args.js';
import { formatShape, type Shape } from '../graph/tensor.js';
import { vecType, type VecWidth } from './wgsl.js';

/**
 * The options each pool reads; any other is refused, so TF's `strides` or Keras's `poolSize` is
 * not silently ignored (and PyTorch's ceil_mode is named as ceilMode).
 */
export const MAX_POOL_OPTIONS = ['size', 'stride', 'padding', 'ceilMode', 'dilation'] as const;
export const AVG_POOL_OPTIONS = ['size', 'stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride'] as const;

export interface Pool2dOptions {
  /** Window [kh, kw]; a number means square. */
  size: number | readonly [number, number];
  /** Defaults to the window size. */
  stride?: number | readonly [number, number];
  /** 'valid' (default), 'same' (TensorFlow's), or PyTorch's padding=p: p or [ph, pw] on each side, at most half the window. */
  padding?: 'valid' | 'same' | number | readonly [number, number];
  /** PyTorch's ceil_mode: the output size rounded up (see above); not with 'same'. */
  ceilMode?: boolean;
  /** Max pool only: PyTorch's dilation, the window's taps this far apart (default 1); a number or [rows, columns]. */
  dilation?: number | readonly [number, number];
}

export interface AvgPool2dOptions extends Omit<Pool2dOptions, 'dilation'> {
  /** PyTorch's count_include_pad (default true): explicit padding counts in the divisor. Not true with 'same'. */
  countIncludePad?: boolean;
  /** PyTorch's divisor_override: every window's sum divided by this positive integer. */
  divisorOverride?: number;
}

/** The options resolved, before any input is seen; `padding` null for 'same'. */
export interface PoolWindow {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Dilation (1: taps adjacent). */
  dh: number;
  dw: number;
  padding: [number, number] | null;
  ceilMode: boolean;
  countH: number;
  countW: number;
  /** divisorOverride, or 0 where the counted positions divide. */
  divisor: number;
}

export interface Pool2dGeometry extends PoolWindow {
  n: number;
  h: number;
  w: number;
  c: number;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

function pair(op: string, what: string, v: number | readonly [number, number], min: number): [number, number] {
  if (typeof v !== 'number' && !(Array.isArray(v) && v.length === 2)) {
    throw new ArgumentError(`${op}: ${what} must be a number or [rows, columns], got ${describeValue(v)}`);
  }
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new ShapeError(`${op}: ${what} must be ${min ? 'positive' : 'non-negative'} integers, got ${String(v)}`);
  }
  return p;
}

/**
 * Checks the options alone (a layer checks its own when it is built, naming itself as `op`);
 * `known` is the pool's list above.
 */
export function poolWindow(op: string, opts: AvgPool2dOptions & Pick<Pool2dOptions, 'dilation'>, known: readonly string[]): PoolWindow {
  expectOptions(op, opts, '{ size: 3, stride: 2, padding: 1 }', true);
  // Hints on: PyTorch's ceil_mode or count_include_pad is answered with its camelCase.
  expectKnownOptions(op, opts, known, {});
  const [kh, kw] = pair(op, 'size', opts.size, 1);
  const [sh, sw] = pair(op, 'stride', opts.stride ?? [kh, kw], 1);
  const [dh, dw] = pair(op, 'dilation', opts.dilation ?? 1, 1);
  expectOptionalBoolean(op, 'ceilMode', opts.ceilMode);
  expectOptionalBoolean(op, 'countIncludePad', opts.countIncludePad);
  expectOptionalNumber(op, 'divisorOverride', opts.divisorOverride, { integer: true, min: 1 });
  const ceilMode = opts.ceilMode ?? false;
  const divisor = opts.divisorOverride ?? 0;
  const padding = opts.padding ?? 'valid';
  if (padding === 'same') {
    if (ceilMode) throw new ArgumentError(`${op}: ceilMode is for 'valid' or explicit padding; 'same' sets the output size to ceil(in / stride) itself`);
    if (opts.countIncludePad) throw new ArgumentError(`${op}: countIncludePad needs explicit padding; 'same' is TensorFlow's, whose padding never counts in the mean`);
    return { kh, kw, sh, sw, dh, dw, padding: null, ceilMode, countH: 0, countW: 0, divisor };
  }
  if (typeof padding === 'string' && padding !== 'valid') {
    throw new ShapeError(`${op}: padding must be 'valid', 'same', a non-negative integer or [rows, columns], got ${describeValue(padding)}`);
  }
  const [ph, pw] = padding === 'valid' ? [0, 0] : pair(op, 'padding', padding, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new ShapeError(`${op}: padding ${ph}x${pw} is more than half the ${kh}x${kw} window (PyTorch's limit: padding <= size / 2)`);
  }
  const counted = opts.countIncludePad ?? true;
  return { kh, kw, sh, sw, dh, dw, padding: [ph, pw], ceilMode, countH: counted ? ph : 0, countW: counted ? pw : 0, divisor };
}

/** PyTorch's pooling_output_shape: (in + 2p - k) / s rounded down, or up in ceil mode, plus one. */
function explicitOut(size: number, k: number, s: number, p: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * p - k + (ceilMode ? s - 1 : 0)) / s) + 1;
  // The last window must start inside the input or the left padding.
  if (ceilMode && (out - 1) * s >= size + p) out -= 1;
  return out;
}

/** Validates x's shape and the options; the output size and padding, as described above. */
export function pool2dGeometry(op: string, xShape: Shape, opts: AvgPool2dOptions & Pick<Pool2dOptions, 'dilation'>, known: readonly string[] = MAX_POOL_OPTIONS): Pool2dGeometry {
  const win = poolWindow(op, opts, known);
  if (xShape.length !== 4) throw new ShapeError(`${op}: expected an NHWC input x of rank 4, got ${formatShape(xShape)}`);
  const [n, h, w, c] = xShape;
  if (h === 0 || w === 0) throw new ShapeError(`${op}: empty input ${formatShape(xShape)}`);
  const { sh, sw } = win;
  // A window's span: its size with the dilation's gaps.
  const [kh, kw] = [(win.kh - 1) * win.dh + 1, (win.kw - 1) * win.dw + 1];
  if (win.padding === null) {
    const outH = Math.ceil(h / sh);
    const outW = Math.ceil(w / sw);
    const padTop = Math.floor(Math.max(0, (outH - 1) * sh + kh - h) / 2);
    const padLeft = Math.floor(Math.max(0, (outW - 1) * sw + kw - w) / 2);
    return { ...win, n, h, w, c, padTop, padLeft, outH, outW };
  }
  const [ph, pw] = win.padding;
  const outH = explicitOut(h, kh, sh, ph, win.ceilMode);
  const outW = explicitOut(w, kw, sw, pw, win.ceilMode);
  if (outH < 1 || outW < 1) {
    const how = `${ph || pw ? `padding ${ph}x${pw}` : "'valid' padding"}${win.ceilMode ? ' and ceilMode' : ''}`;
    const dilated = win.dh > 1 || win.dw > 1 ? ` (dilated to ${kh}x${kw})` : '';
    throw new ShapeError(`${op}: window ${win.kh}x${win.kw}${dilated} is larger than the input ${formatShape(xShape)} with ${how}`);
  }
  // A dilated window can straddle a small input with every tap in the padding (taps at rows -1
  // and 1 of a 1-row input): PyTorch gives it -inf; refused here instead.
  if (win.dh > 1 || win.dw > 1) {
    const hollow = (size: number, out: number, k: number, s: number, p: number, d: number) =>
      Array.from({ length: out }, (_, o) => o).find((o) => !Array.from({ length: k }, (_, i) => o * s - p + i * d).some((r) => r >= 0 && r < size));
    const [rowHollow, colHollow] = [hollow(h, outH, win.kh, sh, ph, win.dh), hollow(w, outW, win.kw, sw, pw, win.dw)];
    if (rowHollow !== undefined || colHollow !== undefined) {
      const where = rowHollow !== undefined ? `output row ${rowHollow}` : `output column ${colHollow}`;
      throw new ShapeError(`${op}: the window at ${where} has every tap in the padding (window ${win.kh}x${win.kw} dilated ${win.dh}x${win.dw}, padding ${ph}x${pw}, input ${formatShape(xShape)}); use less dilation or padding`);
    }
  }
  return { ...win, n, h, w, c, padTop: ph, padLeft: pw, outH, outW };
}

/** Params shared by every windowed pool kernel; `total` is the thread count. */
export function poolParams(g: Pool2dGeometry, total: number, width: VecWidth = 1): ArrayBuffer {
  return packParams([
    u32(total), u32(g.h), u32(g.w), u32(g.c / width), u32(g.outH), u32(g.outW), u32(g.kh), u32(g.kw), u32(g.sh), u32(g.sw),
    u32(g.padTop), u32(g.padLeft), u32(g.countH), u32(g.countW), f32(g.divisor), u32(g.dh), u32(g.dw),
  ]);
}

/**
 * Channels per thread: 4 (vec4) when they divide C, a quarter of the threads, index decoding and
 * lane-by-lane accesses of a CPU adapter. params.c and the thread count are then in vec4s (the max
 * pool's argmax holds one position per channel as before).
 */
export const TYPES = (width: VecWidth): string => `alias T = ${vecType(width)};\nalias U = ${vecType(width, 'u32')};`;

export const POOL_PARAMS = /* wgsl */ `
struct Params { total: u32, h: u32, w: u32, c: u32, outH: u32, outW: u32, kh: u32, kw: u32, sh: u32, sw: u32,
  padTop: u32, padLeft: u32, countH: u32, countW: u32, divisor: f32, dh: u32, dw: u32 }`;

/**
 * WGSL: for output pixel (row, col), the window's corner (top, left) and its taps within the
 * image: rows h0, h0 + dh, ... below h1 (h0 the first tap at or past row 0), columns alike. With
 * dilation 1 (every pool but a dilated max pool), rows [h0, h1) and columns [w0, w1).
 */
export const WINDOW = /* wgsl */ `
  let top = i32(row * params.sh) - i32(params.padTop);
  let left = i32(col * params.sw) - i32(params.padLeft);
  let dh = i32(params.dh);
  let dw = i32(params.dw);
  // A branch, not select(): only windows over the padding pay the division (CPU adapters divide lane by lane).
  var h0 = top;
  if (top < 0) { h0 = top + ((dh - 1 - top) / dh) * dh; }
  let h1 = min(top + (i32(params.kh) - 1) * dh + 1, i32(params.h));
  var w0 = left;
  if (left < 0) { w0 = left + ((dw - 1 - left) / dw) * dw; }
  let w1 = min(left + (i32(params.kw) - 1) * dw + 1, i32(params.w));`;

/**
 * WGSL: for input pixel (row, col), the output windows that contain it: rows [oh0, oh1], cols [ow0, ow1].
 * Window oh covers input rows oh*sh - padTop .. oh*sh - padTop + kh - 1.
 */
export const COVERING = /* wgsl */ `
  let ph = i32(row + params.padTop);
  let pw = i32(col + params.padLeft);
  let oh0 = max(ph - i32(params.kh) + i32(params.sh), 0) / i32(params.sh);
  let oh1 = min(ph / i32(params.sh), i32(params.outH) - 1);
  let ow0 = max(pw - i32(params.kw) + i32(params.sw), 0) / i32(params.sw);
  let ow1 = min(pw / i32(params.sw), i32(params.outW) - 1);`;

/** WGSL function: the avg pool's divisor for the window whose corner is (top, left), as described above. */
export const DIVISOR = /* wgsl */ `
fn divisor(top: i32, left: i32) -> f32 {
  if (params.divisor != 0.0) { return params.divisor; }
  let rows = min(top + i32(params.kh), i32(params.h + params.countH)) - max(top, -i32(params.countH));
  let cols = min(left + i32(params.kw), i32(params.w + params.countW)) - max(left, -i32(params.countW));
  return f32(rows * cols);
}`;
