// 3-D convolution, NDHWC (TensorFlow's conv3d layout; PyTorch's Conv3d in channels-last).
// x [N, D, H, W, Cin], w [kd, kh, kw, Cin, Cout] (Keras's Conv3D kernel), b [Cout]:
//
//   y[n, do, ho, wo, co] = b[co] + Σ_{a, i, j, ci} x[n, do·sd − front + a, ho·sh − top + i, wo·sw − left + j, ci] · w[a, i, j, ci, co]
//
// with x read as zero outside the volume. 'same' padding as TensorFlow's on each axis (Do =
// ceil(D / sd), the odd plane at the back), 'valid', or PyTorch's symmetric padding per axis.
//
// Composed of 2-D convolutions, one per depth tap a, run by conv2d's own kernels (its tiled,
// subgroup and Winograd GEMMs, whatever the adapter runs best), and the kd results summed:
// - depth stride 1 (the U-Net's convs): every input plane is convolved with w[a] in one batch of
//   N·D images (x seen as [N·D, H, W, Cin], no copy), and output plane do takes that result's
//   plane do − front + a (zero outside the volume), added into the sum by one kernel
//   (addShiftedPlanes, shifted-planes.ts). It replaced a slice of the tap's planes, zero planes
//   padded around them and an add: three output-sized tensors per tap, kept with every sum until
//   the op returned (in the 3-D U-Net's step at 32³ on lavapipe, 105 MiB at the peak; 89 since).
//   Each conv2d saves x itself for its weight gradient, so a training step keeps no more of the
//   input than x. (The first version gathered each tap's planes into a copy of the input and
//   convolved the copies: kd input-sized copies saved per conv. In a 3-D U-Net's training step on
//   lavapipe, batch 2 of 16³ volumes, they were 14 of the 39 MiB at the peak, 1.57x the minimum.)
//   'valid' depth computes kd − 1 planes per tap that no output plane takes.
// - depth stride sd > 1: the tap's planes for every output plane, a + do·sd of the depth-padded
//   input, gathered by a strided slice (a copy) and convolved, as convolving every plane would do
//   sd times the work.
// Its gradients are those of the 2-D convolutions, the slices and the sums; the weight's taps are
// one split of w (depthTaps), so its gradient is assembled once from theirs.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectOptionalTensor, expectOptions, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, type Tensor } from '../graph/tensor.js';
import { conv2d, resolveExplicitPadding, samePadding } from './conv2d.js';
import { arithmetic } from './elementwise.js';
import { addShiftedPlanes } from './shifted-planes.js';
import { depthPlanes, depthTaps, padDepth, volumeTriple } from './volume-axes.js';

export interface Conv3dOptions {
  /** A number, or [sd, sh, sw]. Default 1. */
  stride?: number | readonly [number, number, number];
  /** 'same' (TensorFlow's), 'valid' (the default, as tf.conv3d's), or PyTorch's padding=p: a number or [pd, ph, pw]. */
  padding?: 'same' | 'valid' | number | readonly [number, number, number];
}

const OPTIONS = ['stride', 'padding'] as const;

/** [before, after] per axis (depth, height, width) and the output's size on it. */
function geometry(op: string, x: Tensor, w: Tensor, opts: Conv3dOptions): { pads: [number, number][]; strides: number[]; out: number[] } {
  const strides = volumeTriple(op, 'stride', opts.stride ?? 1);
  const sizes = x.shape.slice(1, 4);
  const kernel = w.shape.slice(0, 3);
  const padding = opts.padding ?? 'valid';
  const pads = sizes.map((size, i): [number, number] => {
    if (padding === 'same') return samePadding(size, kernel[i], strides[i]);
    if (padding === 'valid') return [0, 0];
    const p = volumeTriple(op, 'padding', padding, 0)[i];
    return [p, p];
  });
  const out = sizes.map((size, i) => Math.floor((size + pads[i][0] + pads[i][1] - kernel[i]) / strides[i]) + 1);
  if (out.some((o) => o < 1)) {
    throw new ShapeError(`${op}: the ${kernel.join('x')} kernel does not fit the ${sizes.join('x')} volume padded by ${JSON.stringify(pads)} (x ${x.describe()}, w ${w.describe()})`);
  }
  return { pads, strides, out };
}

function checkArgs(op: string, x: Tensor, w: Tensor, b: Tensor | null, opts: Conv3dOptions): void {
  expectTensor(op, 'input x', x);
  expectTensor(op, 'weight w', w);
  expectOptionalTensor(op, 'bias b', b);
  expectOptions(op, opts, "{ stride: 2, padding: 'same' }");
  expectKnownOptions(op, opts, OPTIONS);
  if (x.rank !== 5) throw new ShapeError(`${op}: x must be [N, D, H, W, Cin] (rank 5) but is ${x.describe()}`);
  if (w.rank !== 5) throw new ShapeError(`${op}: w must be [kd, kh, kw, Cin, Cout] (rank 5) but is ${w.describe()}`);
  if (x.shape[4] !== w.shape[3]) throw new ShapeError(`${op}: input has ${x.shape[4]} channels but the weight expects ${w.shape[3]} (input ${formatShape(x.shape)}, weight ${formatShape(w.shape)})`);
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[4])) throw new ShapeError(`${op}: bias must be [${w.shape[4]}] but is ${b.describe()}`);
  if (opts.padding !== undefined && typeof opts.padding === 'string' && opts.padding !== 'same' && opts.padding !== 'valid') {
    throw new ArgumentError(`${op}: padding must be 'same', 'valid', a non-negative integer or [pd, ph, pw], got ${describeValue(opts.padding)}`);
  }
}

/** Differentiable tf.conv3d: x [N, D, H, W, Cin] and w [kd, kh, kw, Cin, Cout] to [N, Do, Ho, Wo, Cout]. */
export function conv3d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: Conv3dOptions = {}): Tensor {
  const op = 'conv3d';
  checkArgs(op, x, w, b, opts);
  const { pads, strides, out } = geometry(op, x, w, opts);
  const [n, , h, wd, cin] = x.shape;
  const [kd, , , , cout] = w.shape;
  const [sd, sh, sw] = strides;
  const [dOut, hOut, wOut] = out;
  const plane = resolveExplicitPadding(op, [...pads[1], ...pads[2]]);
  return scope(() => {
    const taps = depthTaps(w);
    const planeOpts = { stride: [sh, sw] as [number, number], padding: plane };
    let sum: Tensor | null = null;
    // Each tap's terms are made in a scope of their own, and the sum before it is freed at once
    // rather than with all the others when conv3d returns: the adds' backwards read no values
    // (nothing saves a sum) and a node keeps its inputs' nodes alive by itself, so freeing a sum
    // cuts no gradient. At most the sum so far, one tap's result and the new sum are held.
    const addTap = (term: () => Tensor) => {
      const next = scope(term);
      sum?.dispose();
      sum = next;
    };
    if (sd === 1) {
      const [d, front] = [x.shape[1], pads[0][0]];
      const images = reshape(x, [n * d, h, wd, cin]);
      // Output plane do takes plane do + a − front of tap a's result: those inside [0, D), zero
      // planes for the rest (addShiftedPlanes). A tap whose planes cover every output plane
      // carries the bias.
      const covers = (a: number) => a - front >= 0 && a - front + dOut <= d;
      const biasTap = b ? Array.from({ length: kd }, (_, a) => a).find(covers) : undefined;
      for (let a = 0; a < kd; a++) {
        const shift = a - front;
        // A tap that only ever reads padding (a thin volume, 'same' or a wide p) adds nothing.
        if (shift >= d || shift + dOut <= 0) continue;
        addTap(() => {
          const y = reshape(conv2d(images, taps[a], a === biasTap ? b : null, planeOpts), [n, d, hOut, wOut, cout]);
          return !sum && shift === 0 && d === dOut ? y : addShiftedPlanes(sum, y, shift, dOut);
        });
      }
      return b && biasTap === undefined ? arithmetic('add', sum!, b) : sum!;
    }
    const padded = padDepth(x, pads[0][0], pads[0][1]);
    for (let a = 0; a < kd; a++) {
      // Planes a, a + sd, ..., a + sd·(Do − 1): one per output plane.
      addTap(() => {
        const planes = depthPlanes(padded, a, sd, dOut);
        const y = conv2d(reshape(planes, [n * dOut, h, wd, cin]), taps[a], a === 0 ? b : null, planeOpts);
        return sum ? arithmetic('add', sum, y) : y;
      });
    }
    return reshape(sum!, [n, dOut, hOut, wOut, cout]);
  });
}
