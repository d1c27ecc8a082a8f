// Float64 reference for the weight average (src/kernels/ema.ts, src/train/ema.ts), written from
// the formulas and independent of the code under test.

/** One update: e ← d·e + (1 − d)·w, in float64. */
export function emaUpdateRef(shadow: ArrayLike<number>, live: ArrayLike<number>, decay: number): Float64Array {
  return Float64Array.from(shadow, (e, i) => decay * e + (1 - decay) * live[i]);
}

/** The decay of update number t (0-based): TensorFlow's num_updates warmup min(d, (1 + t) / (10 + t)). */
export function emaDecayRef(decay: number, t: number, warmup: boolean): number {
  return warmup ? Math.min(decay, (1 + t) / (10 + t)) : decay;
}
