// Transposed 2-D convolution (U-Net's up-convolution), NHWC. x [N, H, W, Cin],
// w [kh, kw, Cout, Cin] (Keras Conv2DTranspose), b [Cout] -> y [N, Hy, Wy, Cout]: every input pixel
// scatters x[n, h, w, :] · w[i, j, :, :]ᵀ to y[n, h·sh − top + i, w·sw − left + j, :].
// Sizes as Keras: 'valid' Hy = H·sh + max(kh − sh, 0), 'same' Hy = H·sh, explicit [top, bottom,
// left, right] Hy = (H − 1)·sh + kh − top − bottom.
//
// This is exactly the input gradient of the conv2d that maps y-shaped [N, Hy, Wy, Cout] to x with
// the same w (its layout [kh, kw, Cout, Cin] is conv2d's [kh, kw, in, out]) and padding. So it is
// composed from the conv2d kernels, no WGSL of its own:
//   forward  = conv2d backward input (with the bias added in its epilogue)
//   dx       = conv2d forward of dy
//   dw       = conv2d backward weight with the roles of x and dy swapped
//   db       = Σ_{n, h, w} dy
// Saved for backward: x (only if w needs a gradient) and w (only if x does).
// Options are stride and padding. conv2d's dilation and activation are refused by name rather
// than ignored: a dilated transpose is not the input gradient this file composes (it would need
// conv2d-dilated.ts's space-to-batch), and a ReLU is one dn.relu after.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, nchwHint } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import {
  backwardInputGemm,
  backwardWeightGemm,
  checkBias,
  checkConvArgs,
  conv2dBackwardBias,
  conv2dGeometry,
  forwardGemm,
  resolveExplicitPadding,
  resolveStride,
  type ConvGeometry,
} from './conv2d.js';
import { emptyBatchResult } from './empty-batch.js';

export interface ConvTranspose2dOptions {
  stride?: number | [number, number];
  padding?: 'same' | 'valid' | number | [number, number, number, number];
}

const OP = 'convTranspose2d';

/**
 * conv2d's options that a transposed conv here does not have: their neutral value (what an options
 * object shared with conv2d holds: PyTorch's conv_transpose2d takes dilation=1 too), and what to
 * do instead of any other.
 */
const UNSUPPORTED: Record<string, { neutral: unknown; why: string }> = {
  dilation: { neutral: 1, why: 'dilation is not supported (only conv2d and depthwiseConv2d dilate)' },
  activation: { neutral: 'none', why: 'activation is not supported: apply dn.relu to the output' },
};

/** Unknown options, and conv2d's that would be ignored here, are ArgumentErrors naming them. */
function checkOptions(opts: object): void {
  for (const [key, { neutral, why }] of Object.entries(UNSUPPORTED)) {
    const v = (opts as Record<string, unknown>)[key];
    if (v !== undefined && v !== neutral) throw new ArgumentError(`${OP}: ${why}, got ${key} ${describeValue(v)}`);
  }
  expectKnownOptions(OP, opts, ['stride', 'padding', ...Object.keys(UNSUPPORTED)]);
}

/** Output size of one spatial dimension and the padding of the equivalent conv2d. */
function transposedSize(size: number, k: number, s: number, padding: ConvTranspose2dOptions['padding'], pads: [number, number]): [number, number, number] {
  if (padding === 'same') {
    const total = Math.max(k - s, 0);
    return [size * s, Math.floor(total / 2), total - Math.floor(total / 2)];
  }
  if (padding === 'valid' || padding === undefined) return [size * s + Math.max(k - s, 0), 0, 0];
  return [(size - 1) * s + k - pads[0] - pads[1], pads[0], pads[1]];
}

/**
 * Validates a convTranspose2d call. Returns its output shape and the geometry of the conv2d whose
 * input is that output (so `g.ho, g.wo` are x's H, W).
 */
export function convTranspose2dGeometry(xShape: Shape, wShape: Shape, opts: ConvTranspose2dOptions = {}): { yShape: Shape; g: ConvGeometry } {
  if (xShape.length !== 4) throw new ShapeError(`${OP}: input must be [N, H, W, C] (rank 4) but is ${formatShape(xShape)}`);
  if (wShape.length !== 4) throw new ShapeError(`${OP}: weight must be [kh, kw, Cout, Cin] (rank 4) but is ${formatShape(wShape)}`);
  const [n, h, w, cin] = xShape;
  const [kh, kw, cout, wCin] = wShape;
  if (wCin !== cin) {
    throw new ShapeError(`${OP}: input has ${cin} channels but the weight expects ${wCin} (input ${formatShape(xShape)}, weight ${formatShape(wShape)})${nchwHint(xShape, wCin)}`);
  }
  const [sh, sw] = resolveStride(OP, opts.stride);
  const padding = opts.padding ?? 'valid';
  const explicit = padding === 'same' || padding === 'valid' ? [0, 0, 0, 0] : resolveExplicitPadding(OP, padding);
  const [hy, top, bottom] = transposedSize(h, kh, sh, padding, [explicit[0], explicit[1]]);
  const [wy, left, right] = transposedSize(w, kw, sw, padding, [explicit[2], explicit[3]]);
  if (hy < 1 || wy < 1 || [n, h, w, cin, kh, kw, cout].some((d) => d < 1)) {
    throw new ShapeError(`${OP}: empty output ${hy}x${wy} (input ${formatShape(xShape)}, weight ${formatShape(wShape)}, padding ${JSON.stringify(padding)})`);
  }
  const yShape = [n, hy, wy, cout];
  const g = conv2dGeometry(yShape, wShape, { stride: [sh, sw], padding: [top, bottom, left, right] }, OP);
  if (g.ho !== h || g.wo !== w) throw new Error(`${OP}: internal size mismatch (${g.ho}x${g.wo} vs ${h}x${w})`);
  return { yShape, g };
}

export function convTranspose2dOutputShape(xShape: Shape, wShape: Shape, opts: ConvTranspose2dOptions = {}): Shape {
  return convTranspose2dGeometry(xShape, wShape, opts).yShape;
}

export function convTranspose2dForward(x: Tensor, w: Tensor, b: Tensor | null, opts: ConvTranspose2dOptions = {}): Tensor {
  checkConvArgs(OP, x, w, b, opts, checkOptions);
  const { g } = convTranspose2dGeometry(x.shape, w.shape, opts);
  checkBias(OP, b, g.cin);
  return backwardInputGemm(g, x, w, b);
}

/** dn.convTranspose2d(x, w, b?, {stride, padding}): records dx, dw, db, computing only those needed. */
export function convTranspose2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: ConvTranspose2dOptions = {}): Tensor {
  checkConvArgs(OP, x, w, b, opts, checkOptions);
  if (x.rank === 4 && x.shape[0] === 0) {
    // An empty batch (N = 0): one sample's output size, nothing to compute.
    const { yShape, g: one } = convTranspose2dGeometry([1, ...x.shape.slice(1)], w.shape, opts);
    checkBias(OP, b, one.cin);
    return emptyBatchResult(OP, x, [w, b], [0, ...yShape.slice(1)]);
  }
  const { g } = convTranspose2dGeometry(x.shape, w.shape, opts);
  checkBias(OP, b, g.cin);
  const y = backwardInputGemm(g, x, w, b);
  const keepsX = w.requiresGrad;
  const keepsW = x.requiresGrad;
  const saved = [...(keepsX ? [x] : []), ...(keepsW ? [w] : [])];
  return record(OP, b ? [x, w, b] : [x, w], y, (dy, needs, kept) => {
    const sx = keepsX ? kept[0] : null;
    const sw = keepsW ? kept[keepsX ? 1 : 0] : null;
    return [
      needs[0] && sw ? forwardGemm(g, dy, sw, null) : null,
      needs[1] && sx ? backwardWeightGemm(g, sx, dy) : null,
      b && needs[2] ? conv2dBackwardBias(dy) : null,
    ];
  }, saved);
}
