// Whole-volume prediction with a model trained on patches of a few planes (a 3-D U-Net on
// lggVolumeDataset's patches): windows of `window` planes, `stride` apart along depth, the last
// ending at the volume's last plane, each plane's output the mean over the windows that hold it
// (nnU-Net's sliding window along one axis, with uniform weights). A volume thinner than the
// window is padded with zero planes after its last, and the output cropped back.
//
// The windows' outputs are padded to the volume's depth at their place and summed on the GPU, then
// scaled plane by plane by 1 / (windows holding it), counted on the host. Memory: the sum, one
// window's input and output, beyond the model's own.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectNumber, expectTensor } from '../graph/args.js';
import { scope } from '../graph/scope.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { arithmetic } from '../kernels/elementwise.js';
import { depthPlanes, padDepth } from '../kernels/volume-axes.js';
import { Module } from '../nn/module.js';

export interface SlidingWindowOptions {
  /** Planes per window: the patch depth the model was trained on. */
  window: number;
  /** Planes between windows' starts; default half the window (rounded up), nnU-Net's overlap. */
  stride?: number;
}

/** The windows' first planes over a depth of d: 0, stride, ..., and d − window last. */
export function windowStarts(depth: number, window: number, stride: number): number[] {
  const last = Math.max(0, depth - window);
  const starts: number[] = [];
  for (let s = 0; s < last; s += stride) starts.push(s);
  starts.push(last);
  return starts;
}

/**
 * The model's output for a whole volume x [N, D, H, W, C], window by window along depth, each
 * plane the mean of its windows' outputs. `model` is a Module (its forward runs; put it in eval
 * mode first) or a function of a [N, window, H, W, C] patch.
 */
export function slidingWindowDepth(model: Module | ((x: Tensor) => Tensor), x: Tensor, options: SlidingWindowOptions): Tensor {
  const op = 'slidingWindowDepth';
  const forward = model instanceof Module ? (t: Tensor) => model.forward(t) : model;
  if (typeof forward !== 'function') throw new ArgumentError(`${op}: model must be a Module or a function of a patch, got ${describeValue(model)}`);
  expectTensor(op, 'volume x', x);
  if (x.rank !== 5) throw new ShapeError(`${op}: x must be volumes [N, D, H, W, C] (rank 5) but is ${x.describe()}`);
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`${op}: options must be an object such as { window: 16 }, got ${describeValue(options)}`);
  const { window } = options;
  expectNumber(op, 'window', window, { integer: true, min: 1 });
  const stride = options.stride ?? Math.ceil(window / 2);
  expectNumber(op, 'stride', stride, { integer: true, min: 1, max: window });
  const depth = x.shape[1];
  return scope(() => {
    if (depth <= window) {
      const y = forward(padDepth(x, 0, window - depth));
      checkOutput(op, y, x, window);
      return depth === window ? y : depthPlanes(y, 0, 1, depth);
    }
    const starts = windowStarts(depth, window, stride);
    const count = new Float32Array(depth);
    let sum: Tensor | null = null;
    for (const s of starts) {
      const y = forward(depthPlanes(x, s, 1, window));
      checkOutput(op, y, x, window);
      const placed = padDepth(y, s, depth - s - window);
      sum = sum ? arithmetic('add', sum, placed) : placed;
      for (let z = s; z < s + window; z++) count[z]++;
    }
    const scale = tensor(count.map((c) => 1 / c), [1, depth, 1, 1, 1]);
    return arithmetic('mul', sum!, scale);
  });
}

/** A window's output must keep its planes and image size for the planes to be stitched. */
function checkOutput(op: string, y: Tensor, x: Tensor, window: number): void {
  const [n, , h, w] = x.shape;
  if (!(y instanceof Object) || y.rank !== 5 || y.shape[0] !== n || y.shape[1] !== window || y.shape[2] !== h || y.shape[3] !== w) {
    throw new ShapeError(`${op}: the model's output for a [${n}, ${window}, ${h}, ${w}, ${x.shape[4]}] window must be [${n}, ${window}, ${h}, ${w}, C] to be stitched, got ${describeValue(y)}${y?.shape ? ` ${JSON.stringify(y.shape)}` : ''}`);
  }
}
