// 1-D convolution, NLC (TensorFlow's conv1d layout; PyTorch's Conv1d in channels-last):
// x [N, L, Cin], w [k, Cin, Cout] (Keras's Conv1D kernel), b [Cout]:
//
//   y[n, o, co] = b[co] + Σ_{j, ci} x[n, o·s − left + j·d, ci] · w[j, ci, co]
//
// A conv2d of one-row images (x [N, 1, L, Cin], w [1, k, Cin, Cout]), so its kernels, Winograd
// aside, run it and its gradients are theirs. Padding 'same' (TensorFlow's, the odd one at the
// right), 'valid' (tf.conv1d's default), PyTorch's padding=p, or [left, right].

import { ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectOptionalTensor, expectOptions, expectTensor } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import { formatShape, type Tensor } from '../graph/tensor.js';
import { conv2d, type ConvActivation } from './conv2d.js';

export interface Conv1dOptions {
  stride?: number;
  padding?: 'same' | 'valid' | number | readonly [number, number];
  /** Taps d apart (atrous, stride 1 only), as conv2d's. */
  dilation?: number;
  activation?: ConvActivation;
}

function padding2d(op: string, p: Conv1dOptions['padding']): 'same' | 'valid' | [number, number, number, number] {
  if (p === undefined || p === 'valid' || p === 'same') return p ?? 'valid';
  const pair = typeof p === 'number' ? [p, p] : Array.isArray(p) ? p : null;
  if (!pair || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new ShapeError(`${op}: padding must be 'same', 'valid', a non-negative integer or [left, right], got ${describeValue(p)}${Array.isArray(p) ? ` ${JSON.stringify(p)}` : ''}`);
  }
  return [0, 0, pair[0], pair[1]];
}

/** Differentiable tf.conv1d: x [N, L, Cin] and w [k, Cin, Cout] to [N, Lo, Cout]. */
export function conv1d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: Conv1dOptions = {}): Tensor {
  const op = 'conv1d';
  expectTensor(op, 'input x', x);
  expectTensor(op, 'weight w', w);
  expectOptionalTensor(op, 'bias b', b);
  expectOptions(op, opts, "{ stride: 2, padding: 'same' }");
  expectKnownOptions(op, opts, ['stride', 'padding', 'dilation', 'activation']);
  if (x.rank !== 3) throw new ShapeError(`${op}: x must be [N, L, Cin] (rank 3) but is ${x.describe()}`);
  if (w.rank !== 3) throw new ShapeError(`${op}: w must be [k, Cin, Cout] (rank 3) but is ${w.describe()}`);
  if (x.shape[2] !== w.shape[1]) throw new ShapeError(`${op}: input has ${x.shape[2]} channels but the weight expects ${w.shape[1]} (input ${formatShape(x.shape)}, weight ${formatShape(w.shape)})`);
  const padding = padding2d(op, opts.padding);
  const [n, l, cin] = x.shape;
  const [k, , cout] = w.shape;
  return scope(() => {
    const y = conv2d(reshape(x, [n, 1, l, cin]), reshape(w, [1, k, cin, cout]), b, {
      stride: [1, opts.stride ?? 1],
      padding,
      dilation: [1, opts.dilation ?? 1],
      activation: opts.activation ?? 'none',
    });
    return reshape(y, [n, y.shape[2], cout]);
  });
}
