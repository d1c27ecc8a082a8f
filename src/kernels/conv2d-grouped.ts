// Grouped conv2d (PyTorch's groups, Keras's Conv2D(groups=G)): the input channels split into G
// groups of Cin/G, each convolved with its own Cout/G filters, the outputs side by side. The
// weight is [kh, kw, Cin/G, Cout] (Keras's layout): group g owns output channels g·Cout/G onwards.
//
// Run as G ordinary convs over channel slices (split and concat along the channels, both
// differentiable, so autograd gives all three gradients): one more pass over x and y than a
// kernel of its own, and G dispatches a direction. G = Cin is a depthwise conv, and runs as one:
// the weight [kh, kw, 1, Cout] read as [kh, kw, Cin, Cout/Cin] is the same memory, and group c's
// output channels c·M..c·M + M − 1 are depthwiseConv2d's c·M + m.

import { ShapeError } from '../errors.js';
import { noGrad } from '../graph/autograd.js';
import { scope } from '../graph/scope.js';
import { reshape } from '../graph/reshape.js';
import { formatShape, type Shape, type Tensor } from '../graph/tensor.js';
import { concat, split } from './concat.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight, type Conv2dOptions } from './conv2d.js';
import { depthwiseConv2d, depthwiseConv2dBackwardInput, depthwiseConv2dBackwardWeight } from './depthwise-conv2d.js';

/** G, or 1 where no groups are asked; ShapeError naming `op` unless a positive integer. */
export function resolveGroups(op: string, groups: unknown): number {
  const g = groups ?? 1;
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 1) throw new ShapeError(`${op}: groups must be a positive integer, got ${JSON.stringify(groups)}`);
  return g;
}

export const isGrouped = (opts: Conv2dOptions): boolean => resolveGroups('conv2d', opts.groups) > 1;

interface Groups {
  g: number;
  cin: number;
  cout: number;
  /** Options for each group's plain conv. */
  inner: Conv2dOptions;
  depthwise: boolean;
}

function groupsOf(op: string, xShape: Shape, wShape: Shape, opts: Conv2dOptions): Groups {
  const g = resolveGroups(op, opts.groups);
  if (xShape.length !== 4 || wShape.length !== 4) throw new ShapeError(`${op}: input ${formatShape(xShape)} and weight ${formatShape(wShape)} must be rank 4`);
  const [cin, cout] = [xShape[3], wShape[3]];
  if (cin % g || cout % g) throw new ShapeError(`${op}: ${cin} input and ${cout} output channels do not split into ${g} groups`);
  if (wShape[2] !== cin / g) {
    throw new ShapeError(`${op}: with ${g} groups the weight must be [kh, kw, ${cin / g}, ${cout}] (input channels per group), got ${formatShape(wShape)}`);
  }
  return { g, cin, cout, inner: { ...opts, groups: 1 }, depthwise: g === cin };
}

const even = (total: number, parts: number): number[] => new Array<number>(parts).fill(total / parts);
/** The weight [kh, kw, 1, Cout] of G = Cin groups as depthwiseConv2d's [kh, kw, Cin, Cout/Cin]. */
const asDepthwise = (w: Tensor, p: Groups): Tensor => reshape(w, [w.shape[0], w.shape[1], p.cin, p.cout / p.cin]);

const rawScope = <T>(fn: () => T): T => noGrad(() => scope(fn));

/** Raw forward (no tape). */
export function groupedConvForward(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions): Tensor {
  return noGrad(() => groupedConv(x, w, b, opts));
}

/** Differentiable grouped conv. */
export function groupedConv(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions): Tensor {
  const p = groupsOf('conv2d', x.shape, w.shape, opts);
  return scope(() => {
    if (p.depthwise) return depthwiseConv2d(x, asDepthwise(w, p), b, p.inner);
    const xs = split(x, even(p.cin, p.g), -1);
    const ws = split(w, even(p.cout, p.g), -1);
    const bs = b ? split(b, even(p.cout, p.g), 0) : null;
    return concat(xs.map((xg, k) => conv2d(xg, ws[k], bs ? bs[k] : null, p.inner)), -1);
  });
}

// The raw backwards record nothing: a weight that requires gradients must not leave a tape behind.
export function groupedConvBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions): Tensor {
  const p = groupsOf('conv2d.backwardInput', xShape, w.shape, opts);
  return rawScope(() => {
    if (p.depthwise) return depthwiseConv2dBackwardInput(dy, asDepthwise(w, p), xShape, p.inner);
    const [dys, ws] = [split(dy, even(p.cout, p.g), -1), split(w, even(p.cout, p.g), -1)];
    const xg = [xShape[0], xShape[1], xShape[2], p.cin / p.g];
    return concat(dys.map((d, k) => conv2dBackwardInput(d, ws[k], xg, p.inner)), -1);
  });
}

export function groupedConvBackwardWeight(dy: Tensor, x: Tensor, wShape: Shape, opts: Conv2dOptions): Tensor {
  const p = groupsOf('conv2d.backwardWeight', x.shape, wShape, opts);
  return rawScope(() => {
    if (p.depthwise) return reshape(depthwiseConv2dBackwardWeight(dy, x, [wShape[0], wShape[1], p.cin, p.cout / p.cin], p.inner), wShape);
    const [dys, xs] = [split(dy, even(p.cout, p.g), -1), split(x, even(p.cin, p.g), -1)];
    const wg = [wShape[0], wShape[1], wShape[2], p.cout / p.g];
    return concat(dys.map((d, k) => conv2dBackwardWeight(d, xs[k], wg, p.inner)), -1);
  });
}
