// CPU references for the losses in src/kernels/loss.ts (float64 loops, the specification).
// Every forward returns the reduced loss as a plain number (or the per-element losses for
// reduction 'none'); every backward returns dL/dp for an upstream gradient `dy` (a number for
// reduced losses, one value per element for 'none'); every target backward dL/dy, the target's
// gradient where it requires one.

import { nd, ndZeros, type NdArray } from './array.js';

export type Reduction = 'mean' | 'sum' | 'none';

/** The per-element losses reduced as `reduction` says (the other loss references use it too). */
export function reduce(perElement: NdArray, reduction: Reduction): NdArray {
  if (reduction === 'none') return perElement;
  let s = 0;
  for (const v of perElement.data) s += v;
  return nd([reduction === 'mean' ? s / perElement.data.length : s], []);
}

/** Scale of each element's gradient: dy per element for 'none', dy / n for 'mean', dy for 'sum'. */
export function upstream(dy: NdArray, i: number, n: number, reduction: Reduction): number {
  if (reduction === 'none') return dy.data[i];
  return reduction === 'mean' ? dy.data[0] / n : dy.data[0];
}

// ---------------------------------------------------------------------------------------------
// Binary cross-entropy from probabilities, clamped to [eps, 1 - eps] (Keras); zero gradient where
// the clamp is active, as for tf.clip_by_value.

export function bceForwardRef(p: NdArray, y: NdArray, eps = 1e-7, reduction: Reduction = 'mean'): NdArray {
  const out = ndZeros(p.shape);
  for (let i = 0; i < p.data.length; i++) {
    const pc = Math.min(Math.max(p.data[i], eps), 1 - eps);
    const t = y.data[i];
    out.data[i] = -(t * Math.log(pc) + (1 - t) * Math.log(1 - pc));
  }
  return reduce(out, reduction);
}

export function bceBackwardRef(p: NdArray, y: NdArray, dy: NdArray, eps = 1e-7, reduction: Reduction = 'mean'): NdArray {
  const dp = ndZeros(p.shape);
  const n = p.data.length;
  for (let i = 0; i < n; i++) {
    const pv = p.data[i];
    if (pv < eps || pv > 1 - eps) continue;
    const t = y.data[i];
    dp.data[i] = upstream(dy, i, n, reduction) * (-t / pv + (1 - t) / (1 - pv));
  }
  return dp;
}

/** dL/dy = -log pc + log(1 - pc): the loss is linear in y, with p clamped as in the forward. */
export function bceTargetBackwardRef(p: NdArray, y: NdArray, dy: NdArray, eps = 1e-7, reduction: Reduction = 'mean'): NdArray {
  const dt = ndZeros(y.shape);
  const n = p.data.length;
  for (let i = 0; i < n; i++) {
    const pc = Math.min(Math.max(p.data[i], eps), 1 - eps);
    dt.data[i] = upstream(dy, i, n, reduction) * (Math.log(1 - pc) - Math.log(pc));
  }
  return dt;
}

// ---------------------------------------------------------------------------------------------
// Binary cross-entropy from logits: softplus(z) - z*y, written so that no exp overflows.

export function bceWithLogitsForwardRef(z: NdArray, y: NdArray, reduction: Reduction = 'mean'): NdArray {
  const out = ndZeros(z.shape);
  for (let i = 0; i < z.data.length; i++) {
    const v = z.data[i];
    out.data[i] = Math.max(v, 0) - v * y.data[i] + Math.log1p(Math.exp(-Math.abs(v)));
  }
  return reduce(out, reduction);
}

export function bceWithLogitsBackwardRef(z: NdArray, y: NdArray, dy: NdArray, reduction: Reduction = 'mean'): NdArray {
  const dz = ndZeros(z.shape);
  const n = z.data.length;
  for (let i = 0; i < n; i++) {
    const sigmoid = 1 / (1 + Math.exp(-z.data[i]));
    dz.data[i] = upstream(dy, i, n, reduction) * (sigmoid - y.data[i]);
  }
  return dz;
}

/** dL/dy = -z. */
export function bceWithLogitsTargetBackwardRef(z: NdArray, y: NdArray, dy: NdArray, reduction: Reduction = 'mean'): NdArray {
  const dt = ndZeros(y.shape);
  const n = z.data.length;
  for (let i = 0; i < n; i++) dt.data[i] = upstream(dy, i, n, reduction) * -z.data[i];
  return dt;
}

// ---------------------------------------------------------------------------------------------
// Soft Dice. A group is the whole batch, or one sample (leading dimension) when perSample; with
// perChannel each of those is split by channel (the last axis):
//   L_g = 1 - (2 I_g + s) / (S_g + s),  I_g = sum p*y,  S_g = sum p + sum y
//   L   = mean over groups of L_g
//   dL/dp_i = -(1/G) (2 y_i (S_g + s) - (2 I_g + s)) / (S_g + s)^2

interface DiceSums {
  groups: number;
  groupSize: number;
  intersection: Float64Array;
  total: Float64Array;
}

/** Element i's group: its sample (with perSample) times the channels, plus its channel (with perChannel). */
export function diceGroupOf(p: NdArray, perSample: boolean, perChannel: boolean): { groups: number; groupOf: (i: number) => number } {
  const samples = perSample ? p.shape[0] : 1;
  const channels = perChannel ? p.shape[p.shape.length - 1] : 1;
  const perSampleSize = p.data.length / samples;
  return { groups: samples * channels, groupOf: (i) => Math.floor(i / perSampleSize) * channels + (i % channels) };
}

function diceSums(p: NdArray, y: NdArray, perSample: boolean, perChannel: boolean): DiceSums & { groupOf: (i: number) => number } {
  const { groups, groupOf } = diceGroupOf(p, perSample, perChannel);
  const groupSize = p.data.length / groups;
  const intersection = new Float64Array(groups);
  const total = new Float64Array(groups);
  for (let i = 0; i < p.data.length; i++) {
    const g = groupOf(i);
    intersection[g] += p.data[i] * y.data[i];
    total[g] += p.data[i] + y.data[i];
  }
  return { groups, groupSize, intersection, total, groupOf };
}

export function diceForwardRef(p: NdArray, y: NdArray, smooth = 1, perSample = false, perChannel = false): number {
  const { groups, intersection, total } = diceSums(p, y, perSample, perChannel);
  let loss = 0;
  // A group empty in p and y with smooth 0 is 0/0: scored perfect, the limit as smooth goes to 0.
  for (let g = 0; g < groups; g++) if (total[g] + smooth !== 0) loss += 1 - (2 * intersection[g] + smooth) / (total[g] + smooth);
  return loss / groups;
}

export function diceBackwardRef(p: NdArray, y: NdArray, dy: number, smooth = 1, perSample = false, perChannel = false): NdArray {
  const { groups, intersection, total, groupOf } = diceSums(p, y, perSample, perChannel);
  const dp = ndZeros(p.shape);
  for (let i = 0; i < p.data.length; i++) {
    const g = groupOf(i);
    const num = 2 * intersection[g] + smooth;
    const den = total[g] + smooth;
    // Gradient 0 where the group was scored perfect by 0/0 (see diceForwardRef).
    dp.data[i] = den === 0 ? 0 : (-dy / groups) * (2 * y.data[i] * den - num) / (den * den);
  }
  return dp;
}

/**
 * dL/dy_i = -(1/G) (2 p_i (S_g + s) - (2 I_g + s)) / (S_g + s)^2: Dice is symmetric in p and y, so
 * it is dL/dp with the two swapped (the groups depend on the shape alone).
 */
export function diceTargetBackwardRef(p: NdArray, y: NdArray, dy: number, smooth = 1, perSample = false, perChannel = false): NdArray {
  return diceBackwardRef(y, p, dy, smooth, perSample, perChannel);
}

// ---------------------------------------------------------------------------------------------
// BCE (mean) + Dice, weighted.

export interface BceDiceRefOptions {
  bceWeight?: number;
  diceWeight?: number;
  smooth?: number;
  eps?: number;
  perSample?: boolean;
  perChannel?: boolean;
}

export function bceDiceForwardRef(p: NdArray, y: NdArray, o: BceDiceRefOptions = {}): number {
  const bce = bceForwardRef(p, y, o.eps ?? 1e-7, 'mean').data[0];
  const dice = diceForwardRef(p, y, o.smooth ?? 1, o.perSample ?? false, o.perChannel ?? false);
  return (o.bceWeight ?? 1) * bce + (o.diceWeight ?? 1) * dice;
}

export function bceDiceBackwardRef(p: NdArray, y: NdArray, dy: number, o: BceDiceRefOptions = {}): NdArray {
  const bce = bceBackwardRef(p, y, nd([dy * (o.bceWeight ?? 1)], []), o.eps ?? 1e-7, 'mean');
  const dice = diceBackwardRef(p, y, dy * (o.diceWeight ?? 1), o.smooth ?? 1, o.perSample ?? false, o.perChannel ?? false);
  return nd(bce.data.map((v, i) => v + dice.data[i]), p.shape);
}

export function bceDiceTargetBackwardRef(p: NdArray, y: NdArray, dy: number, o: BceDiceRefOptions = {}): NdArray {
  const bce = bceTargetBackwardRef(p, y, nd([dy * (o.bceWeight ?? 1)], []), o.eps ?? 1e-7, 'mean');
  const dice = diceTargetBackwardRef(p, y, dy * (o.diceWeight ?? 1), o.smooth ?? 1, o.perSample ?? false, o.perChannel ?? false);
  return nd(bce.data.map((v, i) => v + dice.data[i]), y.shape);
}
