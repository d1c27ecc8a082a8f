// gradcheck's verdicts: each checked argument's gradient against the differences, the forward
// against the reference, and the message of a failed check.

import type { Differences } from './gradcheck-differences.js';
import type { Tensor } from './tensor.js';

export interface GradcheckElement {
  /** Where, as an index into the tensor's shape. */
  index: number[];
  /** The gradient autograd gave. */
  backward: number;
  /** The central differences' estimate. */
  differences: number;
  /** How far apart the two may be there. */
  allowed: number;
}

export interface GradcheckInput {
  /** Its position in fn's arguments. */
  argument: number;
  /** The tensor's name and shape. */
  tensor: string;
  checked: number;
  of: number;
  /** Elements checked whose gradient is off. */
  failed: number;
  /** Elements whose float32 differences disagreed at the step and were measured again at a quarter of it. */
  remeasured: number;
  /**
   * Of those, the ones whose differences moved with the step beyond the tolerance: fn is not
   * differentiable within the step there (relu at 0, a tie in a max), so they are not judged. More
   * than half the elements checked fails the check: there is too little left to judge.
   */
  unsettled: number;
  /** The largest |backward - differences| over the checked elements. */
  maxError: number;
  /** The element furthest outside its allowance, or, where none is, the one nearest to it. */
  worst: GradcheckElement | null;
  /** The largest difference between two backward passes. */
  nondeterminism: number;
  /**
   * Whether any gradient reached it. false: its gradient is taken as 0, right where fn does not
   * depend on it, wrong where a backward returned null for it or part of fn ran under dn.noGrad.
   */
  reached: boolean;
}

export interface GradcheckForward {
  ok: boolean;
  failed: number;
  maxError: number;
  worst: { output: number; index: number; fn: number; reference: number; allowed: number } | null;
}

export interface GradcheckReport {
  ok: boolean;
  /** 'reference': float64 differences of the reference; 'float32': fn's own on the GPU. */
  mode: 'reference' | 'float32';
  /** The forward against the reference (reference mode only). */
  forward: GradcheckForward | null;
  inputs: GradcheckInput[];
  /** How many times fn or the reference ran. */
  evaluations: number;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/**
 * |backward - differences| <= atol × scale + rtol × |differences| + roundoff, scale being
 * max(1, the largest |difference| of the argument): a float32 gradient's rounding follows the
 * size of the terms it sums, which a near-zero element of a large gradient does not show.
 */
export function judgeInput(argument: number, x: Tensor, picks: readonly number[], backward: Float32Array, found: Differences, tol: Tolerance): { input: GradcheckInput; failing: number[] } {
  const { numeric, roundoff, unsettled } = found;
  let scale = 1;
  numeric.forEach((d, p) => {
    if (Number.isFinite(d) && !unsettled.has(p)) scale = Math.max(scale, Math.abs(d));
  });
  const failing: number[] = [];
  let maxError = 0;
  let worst: GradcheckElement | null = null;
  let worstMargin = -Infinity;
  picks.forEach((i, p) => {
    if (unsettled.has(p)) return;
    const a = backward[i];
    const d = numeric[p];
    const allowed = tol.atol * scale + tol.rtol * Math.abs(d) + roundoff[p];
    const err = Object.is(a, d) ? 0 : Math.abs(a - d);
    const margin = Number.isNaN(err) ? Infinity : err - allowed;
    if (!Number.isNaN(err)) maxError = Math.max(maxError, err);
    else maxError = NaN;
    if (margin > 0) failing.push(p);
    if (margin > worstMargin) {
      worstMargin = margin;
      worst = { index: unravel(i, x.shape), backward: a, differences: d, allowed };
    }
  });
  const input: GradcheckInput = { argument, tensor: x.describe(), checked: picks.length, of: x.size, failed: failing.length, remeasured: 0, unsettled: unsettled.size, maxError, worst, nondeterminism: 0, reached: true };
  return { input, failing };
}

/** fn's forward against the reference's: atol × max(1, the output's largest |value|) + rtol × |reference|. */
export function judgeForward(fn: readonly Float32Array[], reference: readonly Float64Array[], tol: Tolerance): GradcheckForward {
  const result: GradcheckForward = { ok: true, failed: 0, maxError: 0, worst: null };
  let worstMargin = -Infinity;
  reference.forEach((want, k) => {
    let scale = 1;
    for (const v of want) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    want.forEach((w, i) => {
      const got = fn[k][i];
      const allowed = tol.atol * scale + tol.rtol * Math.abs(w);
      const err = Object.is(got, w) ? 0 : Math.abs(got - w);
      const margin = Number.isNaN(err) ? Infinity : err - allowed;
      result.maxError = Number.isNaN(err) ? NaN : Math.max(result.maxError, err);
      if (margin > 0) result.failed++;
      if (margin > worstMargin) {
        worstMargin = margin;
        result.worst = { output: k, index: i, fn: got, reference: w, allowed };
      }
    });
  });
  result.ok = result.failed === 0;
  return result;
}

/** The message of a failed check: what disagrees, where, and by how much. */
export function describeFailure(what: string, report: GradcheckReport, nondetTol: number): string {
  const against = report.mode === 'reference' ? "float64 central differences of the reference" : 'float32 central differences of fn';
  const lines: string[] = [];
  const f = report.forward;
  if (f && !f.ok && f.worst) {
    lines.push(`the forward disagrees with the reference at ${f.failed} value(s); worst: output ${f.worst.output} at ${f.worst.index}, fn ${f.worst.fn}, reference ${f.worst.reference} (allowed ±${f.worst.allowed.toExponential(2)})`);
  }
  for (const input of report.inputs) {
    const w = input.worst;
    if (input.failed && w) {
      lines.push(
        `the gradient of argument ${input.argument} (${input.tensor}) is off at ${input.failed} of ${input.checked} element(s) checked; ` +
          `worst at [${w.index.join(', ')}]: backward ${w.backward}, differences ${w.differences} (allowed ±${w.allowed.toExponential(2)})` +
          (input.reached ? '' : '; no gradient reached it at all (a backward returned null for it, or part of fn ran under dn.noGrad?)'),
      );
    }
    if (input.unsettled > input.checked / 2) {
      lines.push(`argument ${input.argument} (${input.tensor}): at ${input.unsettled} of ${input.checked} element(s) checked the differences move with the step: fn is not differentiable within eps there (relu at 0, a tie in a max); choose values further from such points, or a smaller eps`);
    }
    if (input.nondeterminism > nondetTol) {
      lines.push(`two backward passes gave argument ${input.argument} (${input.tensor}) gradients up to ${input.nondeterminism} apart (nondetTol ${nondetTol})`);
    }
  }
  return `${what}: against ${against}:\n  ${lines.join('\n  ')}`;
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1, rest = flat; d >= 0; d--) {
    index[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
  }
  return index;
}
