// dn.gradcheck(fn, args, options): checks the gradients autograd gives `fn` (built-in ops,
// customOps, runKernels, layers) against central finite differences, as PyTorch's
// torch.autograd.gradcheck does. The scalar probed is L = Σ_k Σ r_k · fn(args)_k for a seeded random
// r (signs at random, sizes in [0.5, 1]), so dL/dx is the backward of dy = r: every output element
// counts at least half as much as any other, with signs that make cancelling mistakes unlikely.
//
// Two ways to take the differences:
// - with `reference`, a float64 function of the same arguments on the host (the house rule for
//   dawnet's own kernels): its central differences are accurate to ~1e-9, so the GPU's float32
//   gradient is held to float32's accuracy, and the forward is checked against it too;
// - without, the differences of `fn` itself on the GPU in float32: the step must be large (1e-2)
//   for rounding not to swamp the difference, and the large step's truncation error is taken out
//   by Richardson's extrapolation where it shows; mistakes over 0.1% of a gradient, and over
//   1e-4 of the argument's largest, are caught (gradcheck-differences.ts).

import { ArgumentError, GradcheckError } from '../errors.js';
import { describeValue, expectFunction, expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions, expectReturnedTensors, isPlainObject } from './args.js';
import { enableGrad, gradientsOf, noGrad } from './autograd.js';
import { holdingState } from './recompute.js';
import { scope } from './scope.js';
import { nextTensorId, Tensor, tensor } from './tensor.js';
import { binary } from '../kernels/elementwise.js';
import { sum } from '../kernels/reduce.js';
import { mulberry32 } from '../util/random.js';
import { differences, type Probe, remeasure } from './gradcheck-differences.js';
import { describeFailure, type GradcheckReport, judgeForward, judgeInput, type Tolerance } from './gradcheck-report.js';

export type { GradcheckElement, GradcheckForward, GradcheckInput, GradcheckReport } from './gradcheck-report.js';

/** fn's arguments as the reference gets them: each tensor as a Float64Array of its values. */
export type GradcheckHostArgs<A extends readonly unknown[]> = { [K in keyof A]: A[K] extends Tensor ? Float64Array : A[K] };

/** A float64 reference of fn: its outputs' values, one array per output (or the one array). */
export type GradcheckReference<A extends readonly unknown[] = unknown[]> = (...args: GradcheckHostArgs<A>) => ArrayLike<number> | ArrayLike<number>[];

export interface GradcheckOptions<A extends readonly unknown[] = unknown[]> {
  /** The same function on the host in float64; its differences then judge the gradients. */
  reference?: GradcheckReference<A>;
  /** The step: 1e-6 with a reference, 1e-2 without; times |x| where |x| > 1. */
  eps?: number;
  /** Allowed |backward - differences|: atol × max(1, the largest difference of that input) + rtol × |difference|. */
  atol?: number;
  rtol?: number;
  /** How many elements of each input to check (default 64; all where fewer; `Infinity` for all). */
  elements?: number;
  /** Seeds r and the choice of elements. */
  seed?: number;
  /** How far two backward passes may differ (default 0: dawnet's kernels are deterministic). */
  nondetTol?: number;
  /** The forward against the reference: atol × max(1, the output's largest |value|) + rtol × |reference| (default 1e-5, 1e-4). */
  forwardTolerance?: { atol?: number; rtol?: number };
  /** Names fn in the messages (default fn.name). */
  name?: string;
  /** false: return the report of a failed check instead of throwing a GradcheckError. */
  throwOnFailure?: boolean;
}

const OPTIONS = ['reference', 'eps', 'atol', 'rtol', 'elements', 'seed', 'nondetTol', 'forwardTolerance', 'name', 'throwOnFailure'];

const SYNC_ONLY = 'fn must be synchronous (not async, returning no promise): gradcheck calls it many times and frees what each call made as soon as it returns';

/**
 * Checks the gradient of `fn(...args)` with respect to every tensor argument that requires one.
 * Resolves to a report; a mismatch throws a GradcheckError naming the argument and the element.
 * `fn` must be synchronous and deterministic (no dropout) and leave no state changed that a
 * later call reads; it runs about 2 × elements times per argument checked. No argument's
 * `.grad`, nor any weight's it closes over, is changed, nor a BatchNorm2d's running statistics.
 */
export async function gradcheck<A extends unknown[]>(fn: (...args: A) => Tensor | Tensor[], args: readonly [...A], options: GradcheckOptions<A> = {}): Promise<GradcheckReport> {
  expectFunction('gradcheck', 'fn', fn);
  // Refused before it runs: an async fn's tensors made after its first await escape every scope.
  if (fn.constructor?.name === 'AsyncFunction') throw new ArgumentError(`gradcheck ${fn.name || 'fn'}: ${SYNC_ONLY}`);
  if (!Array.isArray(args)) throw new ArgumentError(`gradcheck: args must be an array of fn's arguments, got ${describeValue(args)}`);
  expectOptions('gradcheck', options, '{ reference, eps, atol, rtol }');
  expectKnownOptions('gradcheck', options, OPTIONS);
  if (options.name !== undefined && (typeof options.name !== 'string' || !options.name)) throw new ArgumentError(`gradcheck: name must be a non-empty string, got ${describeValue(options.name)}`);
  const name = options.name ?? (fn.name || 'fn');
  const what = `gradcheck ${name}`;
  const reference = options.reference as GradcheckReference | undefined;
  if (reference !== undefined) expectFunction(what, 'reference', reference);
  const mode = reference ? 'reference' : 'float32';
  const { settings, elements, forwardTolerance, nondetTol } = settingsOf(what, options, mode);
  const checked = args.flatMap((a, i) => (a instanceof Tensor && a.requiresGrad ? [i] : []));
  args.forEach((a, i) => {
    if (a instanceof Tensor && a.disposed) throw new ArgumentError(`${what}: argument ${i} (${a.describe()}) was disposed`);
  });
  if (!checked.length) throw new ArgumentError(`${what}: no argument is a Tensor that requires a gradient: nothing to check`);

  // Every call holds the model's state: a BatchNorm2d in train() leaves its running statistics as
  // they were (their update reads none of what the gradient depends on).
  const call = (values: readonly unknown[]): Tensor[] => {
    const result = holdingState(() => (fn as (...a: unknown[]) => unknown)(...values));
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      // Its rejection, if any, follows the tensors the enclosing scope frees: nobody else sees it.
      Promise.resolve(result).catch(() => undefined);
      throw new ArgumentError(`${what}: ${SYNC_ONLY}`);
    }
    return expectReturnedTensors(what, 'fn', result);
  };
  const rand = mulberry32(options.seed ?? 20261128);

  // The forward as it runs unrecorded, which the differences perturb.
  const base = await evaluate(() => noGrad(() => scope(() => call(args))));
  // r: a random sign each, so that mistakes in two outputs do not cancel, and a size in [0.5, 1],
  // so that no output's mistake is weighed down under the tolerance (uniform in [-1, 1], 5% of
  // the outputs would count less than a twentieth).
  const weights = base.map((f) => Float64Array.from(f, () => (rand() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rand())));
  const first = await analytic(call, args, checked, weights);
  const second = await analytic(call, args, checked, weights);
  const drift = firstDifference(first.outputs, base);
  if (drift) throw new GradcheckError(`${what}: fn is not deterministic: two runs gave ${drift} (dropout, or another random draw?); gradcheck needs the same function every call`, null);

  const data = await Promise.all(args.map(async (a) => (a instanceof Tensor ? await a.toArray() : null)));
  const probe: Probe = {
    what,
    weights,
    outputsOf: (argIndex, values) => {
      const perturbed = args.map((a, i) => (i === argIndex ? tensor(values, (a as Tensor).shape) : a));
      return evaluate(() => noGrad(() => scope(() => call(perturbed)))).finally(() => (perturbed[argIndex] as Tensor).dispose());
    },
    reference: reference && ((argIndex, values) => referenceOutputs(what, reference, args, data, argIndex, values, base)),
  };

  const report: GradcheckReport = { ok: true, mode, forward: null, inputs: [], evaluations: 3 };
  if (reference) {
    report.forward = judgeForward(base, referenceOutputs(what, reference, args, data, -1, null, base), forwardTolerance);
    report.evaluations++;
  }
  for (const [j, argIndex] of checked.entries()) {
    const values = data[argIndex]!;
    const picks = pickElements(values.length, elements, rand);
    const found = await differences(probe, argIndex, values, picks, settings.eps);
    report.evaluations += found.evaluations;
    let verdict = judgeInput(argIndex, args[argIndex] as Tensor, picks, first.grads[j], found, settings);
    // float32 differences at a step of 1e-2 can meet a large third derivative or straddle a kink
    // (relu at 0, a tie in a max): an element that disagrees is measured again at a quarter of the
    // step (remeasure says how that tells the three apart).
    if (mode === 'float32' && verdict.failing.length) {
      const again = await remeasure(probe, argIndex, values, picks, found, verdict.failing, first.grads[j], settings);
      report.evaluations += again.evaluations;
      verdict = judgeInput(argIndex, args[argIndex] as Tensor, picks, first.grads[j], found, settings);
      verdict.input.remeasured = again.evaluations / 2;
    }
    verdict.input.nondeterminism = maxDifference(first.grads[j], second.grads[j]);
    verdict.input.reached = first.reached[j];
    report.inputs.push(verdict.input);
  }
  report.ok = (report.forward?.ok ?? true) && report.inputs.every((i) => i.failed === 0 && i.unsettled <= i.checked / 2 && i.nondeterminism <= nondetTol);
  if (!report.ok && options.throwOnFailure !== false) throw new GradcheckError(describeFailure(what, report, nondetTol), report);
  return report;
}

/** The options' numbers, checked, with each mode's defaults (the README says why these). */
function settingsOf(what: string, options: Omit<GradcheckOptions, 'reference'>, mode: 'reference' | 'float32') {
  const reference = mode === 'reference';
  const settings = {
    eps: options.eps ?? (reference ? 1e-6 : 1e-2),
    atol: options.atol ?? (reference ? 1e-5 : 1e-4),
    rtol: options.rtol ?? 1e-3,
  };
  for (const [key, v] of Object.entries(settings)) expectNumber(what, key, v, { min: key === 'eps' ? Number.MIN_VALUE : 0 });
  const elements = options.elements ?? 64;
  if (elements !== Infinity) expectNumber(what, 'elements', elements, { integer: true, min: 1 });
  if (options.seed !== undefined) expectNumber(what, 'seed', options.seed, { integer: true, min: 0 });
  const given = options.forwardTolerance ?? {};
  if (!isPlainObject(given)) throw new ArgumentError(`${what}: forwardTolerance must be an object such as { atol: 1e-5, rtol: 1e-4 }, got ${describeValue(given)}`);
  expectKnownOptions(`${what}: forwardTolerance`, given, ['atol', 'rtol']);
  const forwardTolerance: Tolerance = { atol: given.atol ?? 1e-5, rtol: given.rtol ?? 1e-4 };
  expectNumber(what, 'forwardTolerance.atol', forwardTolerance.atol, { min: 0 });
  expectNumber(what, 'forwardTolerance.rtol', forwardTolerance.rtol, { min: 0 });
  const nondetTol = options.nondetTol ?? 0;
  expectNumber(what, 'nondetTol', nondetTol, { min: 0 });
  expectOptionalBoolean(what, 'throwOnFailure', options.throwOnFailure);
  return { settings, elements, forwardTolerance, nondetTol };
}

/**
 * Runs a forward that returns tensors, reads them, and disposes those it made: fn may return a
 * tensor it did not make (an argument, a constant it closes over), which stays its owner's.
 */
async function evaluate(run: () => Tensor[]): Promise<Float32Array[]> {
  const firstNew = nextTensorId();
  const outs = run();
  try {
    return await Promise.all(outs.map((t) => t.toArray()));
  } finally {
    for (const t of outs) if (t.id >= firstNew) t.dispose();
  }
}

/**
 * The backward's gradients of L with respect to the checked arguments, on leaves that share their
 * storage (the caller's tensors keep their `.grad`), and the recorded forward's outputs.
 */
async function analytic(call: (values: readonly unknown[]) => Tensor[], args: readonly unknown[], checked: number[], weights: Float64Array[]): Promise<{ outputs: Float32Array[]; grads: Float32Array[]; reached: boolean[] }> {
  const leaves = args.map((a) => (a instanceof Tensor ? Object.assign(a.share(), { requiresGrad: a.requiresGrad }) : a));
  const wanted = checked.map((i) => leaves[i] as Tensor);
  const firstNew = nextTensorId();
  try {
    const { outs, grads } = enableGrad(() =>
      scope(() => {
        const outs = call(leaves);
        const terms = outs.map((o, k) => sum(binary('mul', o, tensor(Float32Array.from(weights[k]), o.shape))));
        const loss = terms.reduce((l, t) => binary('add', l, t));
        const grads = loss.requiresGrad ? gradientsOf(loss, null, wanted) : wanted.map(() => null);
        return { outs, grads };
      }),
    );
    try {
      const outputs = await Promise.all(outs.map((t) => t.toArray()));
      const read = await Promise.all(grads.map((g, j) => (g ? g.toArray() : new Float32Array(wanted[j].size))));
      return { outputs, grads: read, reached: grads.map((g) => g !== null) };
    } finally {
      for (const t of [...outs, ...grads]) if (t && t.id >= firstNew) t.dispose();
    }
  } finally {
    for (const l of leaves) if (l instanceof Tensor) l.dispose();
  }
}

/** The reference's outputs, checked against fn's in number and size, with one argument replaced. */
function referenceOutputs(
  what: string,
  reference: GradcheckReference,
  args: readonly unknown[],
  data: readonly (Float32Array | null)[],
  argIndex: number,
  values: Float64Array | null,
  base: readonly Float32Array[],
): Float64Array[] {
  const hostArgs = args.map((a, i) => (i === argIndex ? values : data[i] ? Float64Array.from(data[i]!) : a));
  const result = (reference as (...a: unknown[]) => unknown)(...hostArgs);
  const list = isArrayOfArrays(result) ? result : [result];
  if (list.length !== base.length) throw new ArgumentError(`${what}: reference returned ${list.length} output(s), fn ${base.length}`);
  return list.map((out, k) => {
    if (!isNumberArray(out)) throw new ArgumentError(`${what}: reference must return an array of numbers (or one per output of fn), got ${describeValue(out)}`);
    if (out.length !== base[k].length) throw new ArgumentError(`${what}: reference's output ${k} has ${out.length} values, fn's ${base[k].length}`);
    // A NaN would be judged as a forward or a gradient off by NaN: it is the reference that broke.
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i]) && Number.isFinite(base[k][i])) {
        const where = argIndex < 0 ? '' : ` with argument ${argIndex} moved by the step (an element within eps of the edge of its domain?)`;
        throw new ArgumentError(`${what}: reference's output ${k} is ${out[i]} at ${i}${where}, where fn gives ${base[k][i]}`);
      }
    }
    return Float64Array.from(out);
  });
}

const isNumberArray = (v: unknown): v is ArrayLike<number> => (Array.isArray(v) && v.every((x) => typeof x === 'number')) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
const isArrayOfArrays = (v: unknown): v is unknown[] => Array.isArray(v) && v.length > 0 && v.every((x) => isNumberArray(x));

/**
 * Which elements to check: all if there are no more than `count`, else the first, the last and a
 * seeded draw of the rest (an indexing mistake at an edge is the common one).
 */
function pickElements(size: number, count: number, rand: () => number): number[] {
  if (size <= count) return Array.from({ length: size }, (_, i) => i);
  const picked = new Set<number>([0, size - 1].slice(0, count));
  while (picked.size < count) picked.add(Math.floor(rand() * size));
  return [...picked].sort((a, b) => a - b);
}

function firstDifference(a: readonly Float32Array[], b: readonly Float32Array[]): string | null {
  for (let k = 0; k < a.length; k++) {
    for (let i = 0; i < a[k].length; i++) {
      if (!Object.is(a[k][i], b[k][i])) return `output ${k} at ${i}: ${a[k][i]} then ${b[k][i]}`;
    }
  }
  return null;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Object.is(a[i], b[i]) ? 0 : Math.abs(a[i] - b[i]);
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return worst;
}
