// Transposed 3-D convolution (a 3-D U-Net's up-convolution), NDHWC, as Keras's Conv3DTranspose:
// x [N, D, H, W, Cin], w [kd, kh, kw, Cout, Cin], b [Cout] -> y [N, Dy, Hy, Wy, Cout], every input
// voxel scattering x[n, z, r, q, :] · w[a, i, j, :, :]ᵀ to y[n, z·sd + a − front, r·sh + i − top,
// q·sw + j − left, :] (what lands outside y is dropped). Per axis, as convTranspose2d's:
//   'valid' (the default): Dy = D·sd + max(kd − sd, 0), nothing cropped (front 0).
//   'same': Keras's, Dy = D·sd; the full scatter's max(kd − sd, 0) extra planes cropped, the
//     smaller half before (front = floor(max(kd − sd, 0) / 2)), as TensorFlow crops them.
//   p or [pd, ph, pw]: PyTorch's ConvTranspose3d padding=p, Dy = (D − 1)·sd + kd − 2·pd, front pd
//     (so p = 0 is 'valid' but where kd < sd: PyTorch then drops the sd − kd zero planes at the end).
//
// Composed of convTranspose2d (itself conv2d's kernels), one per depth tap a: every input plane z
// scattered in 2-D by w[a] (its own padding on H and W, so those axes are never cropped), the
// result landing on output plane z·sd + a. Where the taps tile the depth (kd = sd, the usual
// 2x2x2 stride 2) the kd results interleave plane by plane (a stack); otherwise each is spread sd
// planes apart, shifted by a (zero planes between, padding before and after) and the kd summed.
// Depth padding then crops that full depth D·sd + max(kd − sd, 0) to Dy planes from front, a
// slice: memory for one more output-sized tensor, and the cropped planes (up to 2·pd +
// max(sd − kd, 0), or kd − sd for 'same') computed for nothing. The gradients are those ops'.

import { ShapeError } from '../errors.js';
import { expectKnownOptions, expectOptionalTensor, expectOptions, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, zeros, type Tensor } from '../graph/tensor.js';
import { convTranspose2d, type ConvTranspose2dOptions } from './conv-transpose2d.js';
import { arithmetic } from './elementwise.js';
import { addShiftedPlanes } from './shifted-planes.js';
import { slice } from './slice.js';
import { stack } from './stack.js';
import { depthTaps, volumePadding, volumeTriple } from './volume-axes.js';

export interface ConvTranspose3dOptions {
  /** A number, or [sd, sh, sw]. Default 1. */
  stride?: number | readonly [number, number, number];
  /** 'valid' (the default, Keras's), 'same' (Keras's: each side in·stride), or PyTorch's padding=p: a number or [pd, ph, pw]. */
  padding?: 'valid' | 'same' | number | readonly [number, number, number];
}

function checkArgs(op: string, x: Tensor, w: Tensor, b: Tensor | null, opts: ConvTranspose3dOptions): void {
  expectTensor(op, 'input x', x);
  expectTensor(op, 'weight w', w);
  expectOptionalTensor(op, 'bias b', b);
  expectOptions(op, opts, "{ stride: 2, padding: 'same' }");
  expectKnownOptions(op, opts, ['stride', 'padding']);
  if (x.rank !== 5) throw new ShapeError(`${op}: x must be [N, D, H, W, Cin] (rank 5) but is ${x.describe()}`);
  if (w.rank !== 5) throw new ShapeError(`${op}: w must be [kd, kh, kw, Cout, Cin] (rank 5) but is ${w.describe()}`);
  if (x.shape[4] !== w.shape[4]) throw new ShapeError(`${op}: input has ${x.shape[4]} channels but the weight expects ${w.shape[4]} (input ${formatShape(x.shape)}, weight ${formatShape(w.shape)})`);
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[3])) throw new ShapeError(`${op}: bias must be [${w.shape[3]}] but is ${b.describe()}`);
}

/** Per axis (depth, height, width): the output size and what is cropped before it, as above. */
function geometry(op: string, x: Tensor, w: Tensor, strides: number[], padding: ReturnType<typeof volumePadding>): { out: number[]; front: number[] } {
  const sizes = x.shape.slice(1, 4);
  const kernel = w.shape.slice(0, 3);
  const extra = kernel.map((k, i) => Math.max(k - strides[i], 0));
  if (padding === 'valid') return { out: sizes.map((size, i) => size * strides[i] + extra[i]), front: [0, 0, 0] };
  const front = padding === 'same' ? extra.map((e) => Math.floor(e / 2)) : padding;
  const out = sizes.map((size, i) => (padding === 'same' ? size * strides[i] : (size - 1) * strides[i] + kernel[i] - 2 * padding[i]));
  if (out.some((o) => o < 1)) {
    throw new ShapeError(`${op}: empty output ${out.join('x')} (input ${formatShape(x.shape)}, weight ${formatShape(w.shape)}, padding ${JSON.stringify(padding)})`);
  }
  return { out, front };
}

/** Differentiable Conv3DTranspose: [N, D, H, W, Cin] to [N, Dy, Hy, Wy, Cout], the sizes as the padding says (above). */
export function convTranspose3d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: ConvTranspose3dOptions = {}): Tensor {
  const op = 'convTranspose3d';
  checkArgs(op, x, w, b, opts);
  const [sd, sh, sw] = volumeTriple(op, 'stride', opts.stride ?? 1);
  const padding = volumePadding(op, opts.padding);
  const { out, front } = geometry(op, x, w, [sd, sh, sw], padding);
  const [n, d, h, wd, cin] = x.shape;
  const [kd, , , cout] = w.shape;
  const depth = d * sd + Math.max(kd - sd, 0);
  const plane: ConvTranspose2dOptions['padding'] = typeof padding === 'string' ? padding : [padding[1], padding[1], padding[2], padding[2]];
  return scope(() => {
    const planes = reshape(x, [n * d, h, wd, cin]);
    // Tap a's 2-D transposed convolution of every input plane: [N, D, Hy, Wy, Cout].
    const taps = depthTaps(w).map((wa) => {
      const y = convTranspose2d(planes, wa, null, { stride: [sh, sw], padding: plane });
      return reshape(y, [n, d, ...y.shape.slice(1)]);
    });
    const [hy, wy] = taps[0].shape.slice(2, 4);
    let full: Tensor;
    if (kd === sd) full = reshape(stack(taps, 2), [n, depth, hy, wy, cout]);
    else {
      let sum: Tensor | null = null;
      taps.forEach((t, a) => {
        // Input plane z at z·sd: the tap's planes with sd − 1 zero planes after each, the last's dropped.
        const spread = sd === 1 ? t : slice(reshape(stack([t, ...Array.from({ length: sd - 1 }, () => zeros(t.shape))], 2), [n, d * sd, hy, wy, cout]), [0, 0, 0, 0, 0], [n, (d - 1) * sd + 1, hy, wy, cout]);
        // Placed from plane a on, zero planes elsewhere, and added: one kernel (shifted-planes.ts).
        sum = addShiftedPlanes(sum, spread, -a, depth);
      });
      full = sum!;
    }
    const y = out[0] === depth ? full : slice(full, [0, front[0], 0, 0, 0], [n, out[0], hy, wy, cout]);
    // Every output voxel takes the bias once, after the taps.
    return b ? arithmetic('add', y, b) : y;
  });
}
