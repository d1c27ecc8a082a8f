// What the volume ops (conv3d.ts, conv-transpose3d.ts, pool3d.ts) share about an NDHWC volume's
// depth axis: a size or stride given as one number or [depth, height, width], a padding option
// ('valid', 'same' or PyTorch's p per axis), the planes a depth step takes, zero planes before
// and after (a pad2d of the volume seen as [N, D, H·W, C] images), and a 3-D kernel's depth taps.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import { reshape } from '../graph/reshape.js';
import { scope } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { split } from './concat.js';
import { pad2d } from './pad.js';
import { slice, stridedSlice } from './slice.js';

/** [depth, height, width] from a number or three of them, each an integer >= min. */
export function volumeTriple(op: string, what: string, v: unknown, min = 1): [number, number, number] {
  const t: unknown[] = Array.isArray(v) ? [...v] : [v, v, v];
  if (t.length !== 3 || !t.every((e) => typeof e === 'number' && Number.isInteger(e) && e >= min)) {
    throw new ShapeError(`${op}: ${what} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer or three of them [depth, height, width], got ${describeValue(v)}${Array.isArray(v) ? ` ${JSON.stringify(v)}` : ''}`);
  }
  return t as [number, number, number];
}

/**
 * A volume op's padding option, checked: 'valid' (also for undefined, the default) or 'same' as
 * they are, PyTorch's p (a number or [pd, ph, pw]) as three counts; any other string an
 * ArgumentError.
 */
export function volumePadding(op: string, padding: unknown): 'valid' | 'same' | [number, number, number] {
  if (padding === undefined) return 'valid';
  if (padding === 'same' || padding === 'valid') return padding;
  if (typeof padding === 'string') throw new ArgumentError(`${op}: padding must be 'valid', 'same', a non-negative integer or [pd, ph, pw], got ${describeValue(padding)}`);
  return volumeTriple(op, 'padding', padding, 0);
}

/** Planes first, first + step, ... (count of them) of x [N, D, H, W, C]. */
export function depthPlanes(x: Tensor, first: number, step: number, count: number): Tensor {
  const [n, , h, w, c] = x.shape;
  if (step === 1) return slice(x, [0, first, 0, 0, 0], [n, count, h, w, c]);
  return stridedSlice(x, [0, first, 0, 0, 0], [n, first + step * (count - 1) + 1, h, w, c], [1, step, 1, 1, 1]);
}

/** x [N, D, H, W, C] with `before` and `after` zero planes. */
export function padDepth(x: Tensor, before: number, after: number): Tensor {
  if (before + after === 0) return x;
  const [n, d, h, w, c] = x.shape;
  return scope(() => reshape(pad2d(reshape(x, [n, d, h * w, c]), [before, after, 0, 0]), [n, d + before + after, h, w, c]));
}

/**
 * The kd depth taps of a 3-D kernel w [kd, kh, kw, a, b], each [kh, kw, a, b]: one split, so the
 * weight's gradient is made once from the taps' gradients (a tap left unused gets zeros), where a
 * slice per tap gave kd weight-sized gradients, each the tap's padded with zeros, summed by kd − 1
 * adds.
 */
export function depthTaps(w: Tensor): Tensor[] {
  const [kd, ...tap] = w.shape;
  return split(w, Array.from({ length: kd }, () => 1), 0).map((t) => reshape(t, tap));
}
