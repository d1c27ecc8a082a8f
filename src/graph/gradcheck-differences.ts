// Central differences of gradcheck's probe L = Σ_k Σ r_k · f_k, one element of one argument at a
// time, by the float64 reference or by fn itself on the GPU in float32.

import { ArgumentError } from '../errors.js';

/** How gradcheck evaluates f with one argument's values replaced. */
export interface Probe {
  /** Names the check in messages ('gradcheck NAME'). */
  what: string;
  /** r, one array per output. */
  weights: readonly Float64Array[];
  /** fn on the GPU (float32 values of the argument). */
  outputsOf: (argIndex: number, values: Float32Array) => Promise<Float32Array[]>;
  /** The reference on the host (float64 values of the argument). */
  reference: ((argIndex: number, values: Float64Array) => Float64Array[]) | undefined;
}

export interface Differences {
  /** dL/dx at each picked element. */
  numeric: Float64Array;
  /** A bound on the float32 rounding in each (0 for the reference's differences). */
  roundoff: Float64Array;
  /** Picked elements whose differences did not settle as the step shrank: not judged. */
  unsettled: Set<number>;
  evaluations: number;
}

/**
 * float32 differences carry the rounding of both outputs divided by the step. The outputs that did
 * not change cancel exactly (dawnet's kernels are deterministic), so only the changed ones count:
 * each off by at most a few ulps of its own size in a well-conditioned op. 32 ulps leaves room for
 * chains of ops; what cancellation inside an op adds beyond that, atol covers.
 */
const ROUNDING = 32 * 2 ** -24;

/** The differences at `picks` (flat indices into `values`) with the step eps · max(1, |x|); `given` is the caller's eps, for messages. */
export async function differences(probe: Probe, argIndex: number, values: Float32Array, picks: readonly number[], eps: number, given = eps): Promise<Differences> {
  const numeric = new Float64Array(picks.length);
  const roundoff = new Float64Array(picks.length);
  let evaluations = 0;
  if (probe.reference) {
    const x = Float64Array.from(values);
    for (const [p, i] of picks.entries()) {
      const h = eps * Math.max(1, Math.abs(values[i]));
      x[i] = values[i] + h;
      const up = weightedSum(probe.weights, probe.reference(argIndex, x));
      x[i] = values[i] - h;
      const down = weightedSum(probe.weights, probe.reference(argIndex, x));
      x[i] = values[i];
      numeric[p] = (up - down) / (2 * h);
      evaluations += 2;
    }
    return { numeric, roundoff, unsettled: new Set(), evaluations };
  }
  const x = Float32Array.from(values);
  for (const [p, i] of picks.entries()) {
    const h = eps * Math.max(1, Math.abs(values[i]));
    // The step actually taken is between the float32 values either side, not 2h.
    const xUp = Math.fround(values[i] + h);
    const xDown = Math.fround(values[i] - h);
    const step = xUp - xDown;
    // Below float32's spacing at x, x ± h round to x: the difference would be 0 / 0, not a kink.
    if (!(step > 0)) {
      throw new ArgumentError(
        `${probe.what}: eps ${given} is too small for float32 differences: argument ${argIndex}'s element ${i} (${values[i]}) ± ${h.toExponential(2)} rounds to itself ` +
          `(the step is eps × max(1, |x|), a quarter of it where an element is measured again); use eps of 1e-3 or more, or a reference`,
      );
    }
    x[i] = xUp;
    const up = await probe.outputsOf(argIndex, x);
    x[i] = xDown;
    const down = await probe.outputsOf(argIndex, x);
    x[i] = values[i];
    let changed = 0;
    for (const [k, r] of probe.weights.entries()) {
      for (let e = 0; e < r.length; e++) {
        if (up[k][e] !== down[k][e]) changed += Math.abs(r[e]) * (Math.abs(up[k][e]) + Math.abs(down[k][e]));
      }
    }
    numeric[p] = (weightedSum(probe.weights, up) - weightedSum(probe.weights, down)) / step;
    roundoff[p] = (ROUNDING * changed) / step;
    evaluations += 2;
  }
  return { numeric, roundoff, unsettled: new Set(), evaluations };
}

/**
 * Measures the elements at pick positions `failing` again at a quarter of the step. Where L is
 * smooth, a central difference's error is c·h² (float32 rounding apart), so Richardson's
 * (16·D(h/4) - D(h)) / 15 cancels it and replaces the estimate: a steep function (1/x near 0.2)
 * then passes. Where that still disagrees with the backward, the two estimates tell a wrong
 * gradient, which both miss alike, from a kink within the step (relu at 0, a tie in a max), which
 * moves them apart: such an element is marked unsettled and not judged.
 */
export async function remeasure(
  probe: Probe,
  argIndex: number,
  values: Float32Array,
  picks: readonly number[],
  found: Differences,
  failing: readonly number[],
  backward: Float32Array,
  tol: { eps: number; atol: number; rtol: number },
): Promise<{ evaluations: number }> {
  const again = await differences(probe, argIndex, values, failing.map((p) => picks[p]), tol.eps / 4, tol.eps);
  let scale = 1;
  for (const d of found.numeric) if (Number.isFinite(d)) scale = Math.max(scale, Math.abs(d));
  const allowance = (d: number, roundoff: number): number => tol.atol * scale + tol.rtol * Math.abs(d) + roundoff;
  failing.forEach((p, q) => {
    const coarse = found.numeric[p];
    const fine = again.numeric[q];
    const extrapolated = (16 * fine - coarse) / 15;
    const roundoff = (16 * again.roundoff[q] + found.roundoff[p]) / 15;
    const matches = Math.abs(backward[picks[p]] - extrapolated) <= allowance(extrapolated, roundoff);
    const agree = Math.abs(fine - coarse) <= allowance(Math.max(Math.abs(fine), Math.abs(coarse)), found.roundoff[p] + again.roundoff[q]);
    if (!matches && !agree) found.unsettled.add(p);
    found.numeric[p] = extrapolated;
    found.roundoff[p] = roundoff;
  });
  return { evaluations: again.evaluations };
}

/** Σ_k Σ r_k · f_k in float64. */
function weightedSum(weights: readonly Float64Array[], outputs: readonly ArrayLike<number>[]): number {
  let s = 0;
  for (const [k, r] of weights.entries()) for (let e = 0; e < r.length; e++) s += r[e] * outputs[k][e];
  return s;
}
