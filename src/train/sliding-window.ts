// Whole-volume prediction with a model trained on patches of a few planes (a 3-D U-Net on
// lggVolumeDataset's patches): windows of `window` planes, `stride` apart along depth, the last
// ending at the volume's last plane, each plane's output the mean over the windows that hold it
// (nnU-Net's sliding window along one axis; uniform weights, or nnU-Net's Gaussian importance
// weighting). A volume thinner than the window is padded with zero planes after its last, and the
// output cropped back.
//
// The windows' outputs (times their planes' weights) are padded to the volume's depth at their
// place and summed on the GPU, then scaled plane by plane by 1 / (the weights of the windows
// holding it), summed on the host. Memory: the sum, one
// window's input and output, beyond the model's own.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectChoice, expectNumber, expectOptions, expectTensor } from '../graph/args.js';
import { scope } from '../graph/scope.js';
import { addShiftedPlanes } from '../kernels/shifted-planes.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { arithmetic } from '../kernels/elementwise.js';
import { depthPlanes, padDepth } from '../kernels/volume-axes.js';
import { Module } from '../nn/module.js';

export interface SlidingWindowOptions {
  /** Planes per window: the patch depth the model was trained on. */
  window: number;
  /** Planes between windows' starts; default half the window (rounded up), nnU-Net's overlap. */
  stride?: number;
  /**
   * How a plane's windows are averaged: 'uniform' (the default, each window alike) or 'gaussian'
   * (nnU-Net's importance weighting: a window's plane z weighs exp(−(z − c)² / 2σ²) about its
   * centre c, σ = window / 8, so a plane leans on the windows it lies deep inside, whose context
   * reaches furthest both ways).
   */
  weighting?: WindowWeighting;
}

export type WindowWeighting = 'uniform' | 'gaussian';
export const WINDOW_WEIGHTINGS: readonly WindowWeighting[] = ['uniform', 'gaussian'];

/**
 * Each plane's weight within a window: 1 ('uniform'), or the Gaussian about the window's centre
 * (σ = window / 8, nnU-Net's sigma_scale), scaled to 1 at the centre and floored at its smallest
 * value above 0, as nnU-Net floors its map, so that no plane's weights sum to 0 in float32.
 */
export function windowWeights(window: number, weighting: 'uniform' | 'gaussian'): Float32Array {
  if (weighting === 'uniform') return new Float32Array(window).fill(1);
  const sigma = window / 8;
  const centre = (window - 1) / 2;
  const w = Float32Array.from({ length: window }, (_, z) => Math.exp(-((z - centre) ** 2) / (2 * sigma * sigma)));
  const floor = Math.min(...w.filter((v) => v > 0));
  return w.map((v) => Math.max(v, floor));
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
  expectOptions(op, options, '{ window: 16 }', true);
  const { window } = options;
  expectNumber(op, 'window', window, { integer: true, min: 1 });
  const stride = options.stride ?? Math.ceil(window / 2);
  expectNumber(op, 'stride', stride, { integer: true, min: 1, max: window });
  const weighting = options.weighting ?? 'uniform';
  expectChoice(op, 'weighting', weighting, ['uniform', 'gaussian'], false);
  const depth = x.shape[1];
  return scope(() => {
    if (depth <= window) {
      const y = forward(padDepth(x, 0, window - depth));
      checkOutput(op, y, x, window);
      return depth === window ? y : depthPlanes(y, 0, 1, depth);
    }
    const starts = windowStarts(depth, window, stride);
    const weights = windowWeights(window, weighting);
    const perWindow = weighting === 'uniform' ? null : tensor(weights, [1, window, 1, 1, 1]);
    const total = new Float64Array(depth);
    let sum: Tensor | null = null;
    for (const s of starts) {
      // Each window's prediction added into the volume's sum at its planes (shifted-planes.ts), in
      // a scope of its own, and the sum before freed: one volume-sized sum held, not one a window.
      const next: Tensor = scope(() => {
        const y = forward(depthPlanes(x, s, 1, window));
        checkOutput(op, y, x, window);
        return addShiftedPlanes(sum, perWindow ? arithmetic('mul', y, perWindow) : y, -s, depth);
      });
      sum?.dispose();
      sum = next;
      for (let z = s; z < s + window; z++) total[z] += weights[z - s];
    }
    const scale = tensor(Float32Array.from(total, (t) => 1 / t), [1, depth, 1, 1, 1]);
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
