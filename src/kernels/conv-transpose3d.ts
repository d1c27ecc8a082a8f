// Transposed 3-D convolution (a 3-D U-Net's up-convolution), NDHWC, 'valid' padding as Keras's
// Conv3DTranspose: x [N, D, H, W, Cin], w [kd, kh, kw, Cout, Cin], b [Cout] -> y [N, Dy, Hy, Wy,
// Cout], every input voxel scattering x[n, z, r, q, :] · w[a, i, j, :, :]ᵀ to y[n, z·sd + a,
// r·sh + i, q·sw + j, :]; Dy = D·sd + max(kd − sd, 0), and the same on H and W.
//
// Composed of convTranspose2d (itself conv2d's kernels), one per depth tap a: every input plane z
// scattered in 2-D by w[a], the result landing on output plane z·sd + a. Where the taps tile the
// depth (kd = sd, the usual 2x2x2 stride 2) the kd results interleave plane by plane (a stack);
// otherwise each is spread sd planes apart, shifted by a (zero planes between, padding before and
// after) and the kd summed. The gradients are those ops'.

import { ShapeError } from '../errors.js';
import { expectKnownOptions, expectOptionalTensor, expectOptions, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, zeros, type Tensor } from '../graph/tensor.js';
import { convTranspose2d } from './conv-transpose2d.js';
import { arithmetic } from './elementwise.js';
import { slice } from './slice.js';
import { stack } from './stack.js';
import { padDepth, volumeTriple } from './volume-axes.js';

export interface ConvTranspose3dOptions {
  /** A number, or [sd, sh, sw]. Default 1. */
  stride?: number | readonly [number, number, number];
}

function checkArgs(op: string, x: Tensor, w: Tensor, b: Tensor | null, opts: ConvTranspose3dOptions): void {
  expectTensor(op, 'input x', x);
  expectTensor(op, 'weight w', w);
  expectOptionalTensor(op, 'bias b', b);
  expectOptions(op, opts, '{ stride: 2 }');
  expectKnownOptions(op, opts, ['stride']);
  if (x.rank !== 5) throw new ShapeError(`${op}: x must be [N, D, H, W, Cin] (rank 5) but is ${x.describe()}`);
  if (w.rank !== 5) throw new ShapeError(`${op}: w must be [kd, kh, kw, Cout, Cin] (rank 5) but is ${w.describe()}`);
  if (x.shape[4] !== w.shape[4]) throw new ShapeError(`${op}: input has ${x.shape[4]} channels but the weight expects ${w.shape[4]} (input ${formatShape(x.shape)}, weight ${formatShape(w.shape)})`);
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[3])) throw new ShapeError(`${op}: bias must be [${w.shape[3]}] but is ${b.describe()}`);
}

/** Differentiable Conv3DTranspose ('valid'): [N, D, H, W, Cin] to [N, D·sd + max(kd − sd, 0), ...the same on H and W, Cout]. */
export function convTranspose3d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: ConvTranspose3dOptions = {}): Tensor {
  const op = 'convTranspose3d';
  checkArgs(op, x, w, b, opts);
  const [sd, sh, sw] = volumeTriple(op, 'stride', opts.stride ?? 1);
  const [n, d, h, wd, cin] = x.shape;
  const [kd, kh, kw, cout] = w.shape;
  const depth = d * sd + Math.max(kd - sd, 0);
  return scope(() => {
    const planes = reshape(x, [n * d, h, wd, cin]);
    // Tap a's 2-D transposed convolution of every input plane: [N, D, Hy, Wy, Cout].
    const taps = Array.from({ length: kd }, (_, a) => {
      const wa = reshape(slice(w, [a, 0, 0, 0, 0], [1, kh, kw, cout, cin]), [kh, kw, cout, cin]);
      const y = convTranspose2d(planes, wa, null, { stride: [sh, sw], padding: 'valid' });
      return reshape(y, [n, d, ...y.shape.slice(1)]);
    });
    const [hy, wy] = taps[0].shape.slice(2, 4);
    // Every output voxel takes the bias once, after the taps.
    const withBias = (y: Tensor): Tensor => (b ? arithmetic('add', y, b) : y);
    if (kd === sd) return withBias(reshape(stack(taps, 2), [n, depth, hy, wy, cout]));
    let sum: Tensor | null = null;
    taps.forEach((t, a) => {
      // Input plane z at z·sd: the tap's planes with sd − 1 zero planes after each, the last's dropped.
      const spread = sd === 1 ? t : slice(reshape(stack([t, ...Array.from({ length: sd - 1 }, () => zeros(t.shape))], 2), [n, d * sd, hy, wy, cout]), [0, 0, 0, 0, 0], [n, (d - 1) * sd + 1, hy, wy, cout]);
      const length = (d - 1) * sd + 1;
      const placed = padDepth(spread, a, depth - a - length);
      sum = sum ? arithmetic('add', sum, placed) : placed;
    });
    return withBias(sum!);
  });
}
