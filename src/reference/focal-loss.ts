// CPU references for the focal losses in src/kernels/focal-loss.ts (float64 loops, the
// specification). Per element, for a probability p (or p = σ(z) from a logit z) and target y:
//   ce = −(y log pc + (1 − y) log(1 − pc)), pc = clamp(p, eps, 1 − eps)   (probabilities)
//   ce = max(z, 0) − z y + log1p(e^−|z|)                                   (logits)
//   q  = y(1 − p) + (1 − y)p,  w = α y + (1 − α)(1 − y) (1 when alpha is null)
//   l  = w q^γ ce
//   dl/dp = w (γ q^(γ−1) (1 − 2y) ce + q^γ dce/dp),  dce/dp = −y/p + (1 − y)/(1 − p), 0 where clamped
//   dl/dz = w (γ q^(γ−1) (1 − 2y) σ(z)σ(−z) ce + q^γ (σ(z) − y))
// with γ q^(γ−1) taken as 0 where q = 0. Forwards return the reduced loss (or the per-element
// losses for 'none'); backwards dL/dx for an upstream dy (one value, or one per element).

import { ndZeros, type NdArray } from './array.js';
import { reduce, upstream, type Reduction } from './loss.js';

export interface FocalRefOptions {
  alpha: number | null;
  gamma: number;
  reduction: Reduction;
  /** Probabilities only. */
  eps?: number;
}

/** σ(z) without overflow for either sign. */
function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

interface Pieces {
  /** p, or σ(z). */
  prob: number;
  /** 1 − p, or σ(−z) (exact where σ(z) rounds to 1). */
  complement: number;
  ce: number;
  /** dce/dx. */
  dce: number;
  /** dp/dx: 1, or σ(z)σ(−z). */
  dprob: number;
}

function fromProbability(p: number, y: number, eps: number): Pieces {
  const pc = Math.min(Math.max(p, eps), 1 - eps);
  const inside = p >= eps && p <= 1 - eps;
  const ce = -(y * Math.log(pc) + (1 - y) * Math.log(1 - pc));
  return { prob: p, complement: 1 - p, ce, dce: inside ? -y / p + (1 - y) / (1 - p) : 0, dprob: 1 };
}

function fromLogit(z: number, y: number): Pieces {
  const s = sigmoid(z);
  const ce = Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
  const c = sigmoid(-z);
  return { prob: s, complement: c, ce, dce: s - y, dprob: s * c };
}

function perElement(x: number, y: number, logits: boolean, o: FocalRefOptions): { l: number; dl: number } {
  const { prob, complement, ce, dce, dprob } = logits ? fromLogit(x, y) : fromProbability(x, y, o.eps ?? 1e-7);
  const q = y * complement + (1 - y) * prob;
  const w = o.alpha === null ? 1 : o.alpha * y + (1 - o.alpha) * (1 - y);
  const factor = q ** o.gamma;
  const dFactor = q > 0 ? o.gamma * q ** (o.gamma - 1) : 0;
  return { l: w * factor * ce, dl: w * (dFactor * (1 - 2 * y) * dprob * ce + factor * dce) };
}

function forward(x: NdArray, y: NdArray, logits: boolean, o: FocalRefOptions): NdArray {
  const out = ndZeros(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = perElement(x.data[i], y.data[i], logits, o).l;
  return reduce(out, o.reduction);
}

function backward(x: NdArray, y: NdArray, dy: NdArray, logits: boolean, o: FocalRefOptions): NdArray {
  const dx = ndZeros(x.shape);
  const n = x.data.length;
  for (let i = 0; i < n; i++) {
    dx.data[i] = upstream(dy, i, n, o.reduction) * perElement(x.data[i], y.data[i], logits, o).dl;
  }
  return dx;
}

export const focalForwardRef = (p: NdArray, y: NdArray, o: FocalRefOptions): NdArray => forward(p, y, false, o);
export const focalBackwardRef = (p: NdArray, y: NdArray, dy: NdArray, o: FocalRefOptions): NdArray => backward(p, y, dy, false, o);
export const sigmoidFocalForwardRef = (z: NdArray, y: NdArray, o: FocalRefOptions): NdArray => forward(z, y, true, o);
export const sigmoidFocalBackwardRef = (z: NdArray, y: NdArray, dy: NdArray, o: FocalRefOptions): NdArray => backward(z, y, dy, true, o);
