// CPU references for the overlap losses in src/kernels/overlap-loss.ts (float64 loops, the
// specification), written from the textbook form rather than the kernels' rearrangement, so
// that the tests compare two derivations. Groups as for Dice (reference/loss.ts): the batch or
// each sample, split by channel of the last axis with perChannel.
//   TP_g = Σ p·y,  FP_g = Σ p(1 − y),  FN_g = Σ (1 − p)y
//   TI_g = (TP_g + s) / (TP_g + α FP_g + β FN_g + s) = num / den
//   L_g  = 1 − TI_g (Tversky), (1 − TI_g)^γ (focal Tversky);  L = mean_g L_g
//   dTI_g/dp_i = (y_i·den − num·(y_i + α(1 − y_i) − β y_i)) / den²
//   dL/dp_i    = −(1/G) · f'(1 − TI_g) · dTI_g/dp_i,  f'(u) = 1, or γ u^(γ−1) (0 where u = 0)

import { ndZeros, type NdArray } from './array.js';
import { diceGroupOf } from './loss.js';

export interface TverskyRefOptions {
  alpha: number;
  beta: number;
  smooth: number;
  perSample?: boolean;
  perChannel?: boolean;
  /** Present for focal Tversky: the exponent on 1 − TI. */
  gamma?: number;
}

interface GroupIndex {
  num: Float64Array;
  den: Float64Array;
  groupOf: (i: number) => number;
}

function tverskyIndex(p: NdArray, y: NdArray, o: TverskyRefOptions): GroupIndex {
  const { groups, groupOf } = diceGroupOf(p, o.perSample ?? false, o.perChannel ?? false);
  const tp = new Float64Array(groups);
  const fp = new Float64Array(groups);
  const fn = new Float64Array(groups);
  for (let i = 0; i < p.data.length; i++) {
    const g = groupOf(i);
    const pv = p.data[i];
    const yv = y.data[i];
    tp[g] += pv * yv;
    fp[g] += pv * (1 - yv);
    fn[g] += (1 - pv) * yv;
  }
  const num = tp.map((t) => t + o.smooth);
  const den = tp.map((t, g) => t + o.alpha * fp[g] + o.beta * fn[g] + o.smooth);
  return { num, den, groupOf };
}

/** Each group's term as a function of u = 1 − TI, and its derivative. */
function term(o: TverskyRefOptions): { f: (u: number) => number; df: (u: number) => number } {
  const gamma = o.gamma;
  if (gamma === undefined) return { f: (u) => u, df: () => 1 };
  return { f: (u) => u ** gamma, df: (u) => (u > 0 ? gamma * u ** (gamma - 1) : 0) };
}

/** Tversky (no gamma) or focal Tversky (gamma given) loss, a number. */
export function tverskyForwardRef(p: NdArray, y: NdArray, o: TverskyRefOptions): number {
  const { num, den } = tverskyIndex(p, y, o);
  const { f } = term(o);
  let loss = 0;
  // den = 0 only with smooth 0 and TP = M = 0: scored 0, the limit as smooth goes to 0.
  for (let g = 0; g < num.length; g++) if (den[g] !== 0) loss += f(1 - num[g] / den[g]);
  return loss / num.length;
}

/** dL/dp for an upstream gradient dy. */
export function tverskyBackwardRef(p: NdArray, y: NdArray, dy: number, o: TverskyRefOptions): NdArray {
  const { num, den, groupOf } = tverskyIndex(p, y, o);
  const { df } = term(o);
  const groups = num.length;
  const dp = ndZeros(p.shape);
  for (let i = 0; i < p.data.length; i++) {
    const g = groupOf(i);
    const yv = y.data[i];
    const dDen = yv + o.alpha * (1 - yv) - o.beta * yv;
    const dIndex = (yv * den[g] - num[g] * dDen) / (den[g] * den[g]);
    dp.data[i] = den[g] === 0 ? 0 : (-dy / groups) * df(1 - num[g] / den[g]) * dIndex;
  }
  return dp;
}
