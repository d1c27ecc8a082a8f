// The ops of elementwise-math.ts as the API takes them, thin wrappers like index.ts's relu and add:
// argument checks that name the op, a number on either side of maximum, minimum and the
// comparisons (run as one unary op with the number as its constant, as arithmetic() does), and
// maximum/minimum's backward, which composes the binary kernels:
//
//   d maximum(a, b) / da = [a > b] + ½[a = b],  d/db = [b > a] + ½[a = b]   (PyTorch's rule)
//
// as dy · tieShare(a, b), summed back over broadcast dimensions. Comparisons give 0/1 float32
// tensors that never require a gradient, as PyTorch's boolean results do not.

import { ArgumentError } from '../errors.js';
import { expectChoice, expectKnownOptions, expectNumber, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import type { Tensor } from '../graph/tensor.js';
import { withBroadcast } from './broadcast.js';
import { binaryForward, unary, unaryForward, unbroadcast } from './elementwise.js';
import type { ComparisonOp } from './elementwise-math.js';

/**
 * x^p for a finite number p (rounded to float32, as a float32 tensor's would be), as PyTorch's
 * pow: a negative x with a fractional p gives NaN; 0^p is 0 for p > 0 and +inf for p < 0; p = 0
 * gives 1 everywhere (NaN included), p = 1 and 2 are x and x·x exactly. The gradient p·x^(p-1) is
 * 0 for p = 0 and, at x = 0, +inf for 0 < p < 1, 1 for p = 1, 0 for p > 1 and -inf for p < 0
 * (PyTorch's values, not a subgradient). A zero base's sign is not kept: pow(-0, -1) is +inf
 * where C's is -inf.
 */
export function pow(x: Tensor, exponent: number): Tensor {
  expectTensor('pow', 'x', x);
  expectNumber('pow', 'exponent', exponent);
  return unary('pow', x, exponent);
}

/** 1 / sqrt(x): +inf at 0, NaN below. */
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
/** 1 / x. */
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
export const sin = (x: Tensor): Tensor => unary('sin', x);
export const cos = (x: Tensor): Tensor => unary('cos', x);
/** -1, 0 or 1 (NaN stays NaN); its gradient is 0. */
export const sign = (x: Tensor): Tensor => unary('sign', x);
/** Gradient 0, as PyTorch's. */
export const floor = (x: Tensor): Tensor => unary('floor', x);
/** To the nearest integer, halves to even (PyTorch's and NumPy's round); gradient 0. */
export const round = (x: Tensor): Tensor => unary('round', x);
/** log(1 + x), accurate for small x. */
export const log1p = (x: Tensor): Tensor => unary('log1p', x);
/** e^x - 1, accurate for small x. */
export const expm1 = (x: Tensor): Tensor => unary('expm1', x);

export interface GeluOptions {
  /** 'none' (default): x·Φ(x) with the normal CDF Φ; 'tanh': PyTorch's tanh approximation. */
  approximate?: 'none' | 'tanh';
}

/** x·Φ(x), Φ the standard normal CDF (PyTorch's GELU, both of its forms). */
export function gelu(x: Tensor, options: GeluOptions = {}): Tensor {
  expectTensor('gelu', 'x', x);
  expectOptions('gelu', options, "{ approximate: 'tanh' }");
  expectKnownOptions('gelu', options, ['approximate'], {});
  expectChoice('gelu', 'approximate', options.approximate, ['none', 'tanh']);
  return unary(options.approximate === 'tanh' ? 'geluTanh' : 'gelu', x);
}

/** The tensor and the number of `a ∘ b` when one operand is a number; null for two tensors. */
function withNumber(op: string, a: Tensor | number, b: Tensor | number): { tensor: Tensor; value: number; numberFirst: boolean } | null {
  if (typeof a === 'number' && typeof b === 'number') {
    throw new ArgumentError(`${op}: at least one operand must be a Tensor, got the numbers ${a} and ${b}`);
  }
  if (typeof b === 'number') {
    expectTensor(op, 'a', a);
    return { tensor: a, value: b, numberFirst: false };
  }
  if (typeof a === 'number') {
    expectTensor(op, 'b', b);
    return { tensor: b, value: a, numberFirst: true };
  }
  expectTensor(op, 'a', a);
  expectTensor(op, 'b', b);
  return null;
}

/** dy · tieShare(first, second), summed back to `like`'s shape. */
function extremumGrad(dy: Tensor, first: Tensor, second: Tensor, like: Tensor): Tensor {
  const share = binaryForward('tieShare', first, second);
  const g = binaryForward('mul', dy, share);
  share.dispose();
  return unbroadcast(g, like);
}

function extremum(op: 'maximum' | 'minimum', a: Tensor | number, b: Tensor | number): Tensor {
  const mixed = withNumber(op, a, b);
  if (mixed) return unary(`${op}Scalar`, mixed.tensor, mixed.value);
  return withBroadcast(op, [a as Tensor, b as Tensor], ([ta, tb]) => extremumRecorded(op, ta, tb));
}

function extremumRecorded(op: 'maximum' | 'minimum', ta: Tensor, tb: Tensor): Tensor {
  const out = binaryForward(op, ta, tb);
  return record(
    op,
    [ta, tb],
    out,
    (dy, needs, [sa, sb]) => {
      // minimum(a, b) is maximum's rule with the operands' roles swapped.
      const [winA, winB] = op === 'maximum' ? [[sa, sb], [sb, sa]] : [[sb, sa], [sa, sb]];
      return [needs[0] ? extremumGrad(dy, winA[0], winA[1], ta) : null, needs[1] ? extremumGrad(dy, winB[0], winB[1], tb) : null];
    },
    [ta, tb],
  );
}

/**
 * The larger of a and b element by element (NumPy's broadcasting, or a number on either side);
 * NaN where either is NaN. The gradient goes to the larger; a tie splits it half and half.
 */
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor => extremum('maximum', a, b);
/** The smaller of a and b; as maximum otherwise. */
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor => extremum('minimum', a, b);

/** c ∘ x as x ∘' c: the comparison with the operands swapped. */
const SWAPPED: Record<ComparisonOp, ComparisonOp> = {
  greater: 'less',
  greaterEqual: 'lessEqual',
  less: 'greater',
  lessEqual: 'greaterEqual',
  equal: 'equal',
  notEqual: 'notEqual',
};

function comparison(op: ComparisonOp, a: Tensor | number, b: Tensor | number): Tensor {
  const mixed = withNumber(op, a, b);
  if (!mixed) return withBroadcast(op, [a as Tensor, b as Tensor], ([ta, tb]) => binaryForward(op, ta, tb));
  return unaryForward(`${mixed.numberFirst ? SWAPPED[op] : op}Scalar`, mixed.tensor, mixed.value);
}

type Operand = Tensor | number;
/** 1 where a > b, else 0 (float32; NumPy's broadcasting or a number on either side; no gradient). */
export const greater = (a: Operand, b: Operand): Tensor => comparison('greater', a, b);
/** 1 where a >= b, else 0. */
export const greaterEqual = (a: Operand, b: Operand): Tensor => comparison('greaterEqual', a, b);
/** 1 where a < b, else 0. */
export const less = (a: Operand, b: Operand): Tensor => comparison('less', a, b);
/** 1 where a <= b, else 0. */
export const lessEqual = (a: Operand, b: Operand): Tensor => comparison('lessEqual', a, b);
/** 1 where a == b, else 0 (0 for NaN). */
export const equal = (a: Operand, b: Operand): Tensor => comparison('equal', a, b);
/** 1 where a != b, else 0 (1 for NaN). */
export const notEqual = (a: Operand, b: Operand): Tensor => comparison('notEqual', a, b);
