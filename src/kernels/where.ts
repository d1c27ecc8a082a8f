// where(cond, a, b): out[i] = cond[i] != 0 ? a[i] : b[i] (NaN counts as nonzero), PyTorch's and
// tfjs's where with a float mask (such as greater()'s 0/1 output).
//
// Shapes broadcast as the binary ops do (NumPy's, broadcast.ts): each tensor operand is the
// output's shape, a trailing part of it (leading 1s aside) or a single element, and is read at i
// modulo its size, any other being expanded first; a and b may
// also be plain numbers, which come in as uniforms (no tensor to upload and free). The output
// takes the largest shape. Gradients: where(cond, dy, 0) to a and where(cond, 0, dy) to b, summed
// back over broadcast dimensions; none to cond (a mask has no useful derivative). Saves cond.
// It is ternary, so it has its own kernel; it splits past the binding limit as binaryForward does
// (broadcast operands bound whole, chunks starting at multiples of their sizes).

import { ArgumentError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { assertLive, emptyTensor, shapeSize, Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, lcm, part, planned, range } from './chunking.js';
import { withBroadcast } from './broadcast.js';
import { broadcastShape, unbroadcast } from './elementwise.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, type VecWidth } from './wgsl.js';

/** How the kernel reads an operand: at i, at i modulo its size, or as a uniform number. */
type Read = 'full' | 'repeat' | 'number';
type Operand = Tensor | number;
const NAMES = ['cond', 'a', 'b'] as const;

function whereSpec(width: VecWidth, reads: readonly Read[]): KernelSpec {
  const bound = NAMES.filter((_, k) => reads[k] !== 'number');
  const value = (k: number): string => {
    const name = NAMES[k];
    if (reads[k] === 'number') return `T(params.${name}Value)`;
    return reads[k] === 'repeat' ? `${name}[i % params.${name}Size]` : `${name}[i]`;
  };
  return {
    name: 'where.forward',
    key: `w${width}${reads.map((r) => r[0]).join('')}`,
    inputs: bound.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `
alias T = ${vecType(width)};
alias U = ${vecType(width, 'u32')};
struct Params { n: u32, condSize: u32, aSize: u32, bSize: u32, aValue: f32, bValue: f32 }
${bound.map((name, k) => `@group(0) @binding(${k}) var<storage, read> ${name}: array<T>;`).join('\n')}
@group(0) @binding(${bound.length}) var<storage, read_write> out: array<T>;
@group(0) @binding(${bound.length + 1}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  // Zero is ±0 by its bits: WGSL lets a compiler assume no NaN, which must still pick a.
  out[i] = select(${value(1)}, ${value(2)}, (bitcast<U>(${value(0)}) & U(0x7fffffffu)) == U(0u));
}`,
  };
}

/** where without autograd: the forward, and the masking of the backward. */
function whereForward(cond: Tensor, a: Operand, b: Operand): Tensor {
  const operands = [cond, a, b];
  const tensors = operands.filter((t): t is Tensor => t instanceof Tensor);
  assertLive('where', ...tensors);
  const shape = tensors.reduce((s, t) => broadcastShape('where', s, t.shape), cond.shape);
  const n = shapeSize(shape);
  const small = tensors.filter((t) => t.size < n);
  const granule = small.reduce((g, t) => lcm(g, t.size), 1);
  const whole = [...tensors.filter((t) => t.size === n), planned('where.out', shape)];
  const per = chunkItems('where.forward', n, whole.map((t) => part(t, 1)), small, granule);
  const out = emptyTensor(shape, 'where.out');
  const reads = operands.map((t): Read => (!(t instanceof Tensor) ? 'number' : t.size < n ? 'repeat' : 'full'));
  const number = (v: Operand): number => (typeof v === 'number' ? v : 0);
  forEachChunk(n, per, (first, count) => {
    const periods = operands.map((t) => (t instanceof Tensor && t.size < n ? t.size : count));
    const w = first % 4 === 0 && [count, ...periods].every((p) => p % 4 === 0) ? 4 : 1;
    const params = packParams([u32(count / w), ...periods.map((p) => u32(p / w)), f32(number(a)), f32(number(b))]);
    const inputs = tensors.map((t) => (t.size < n ? t : range(t, first, count)));
    dispatchChunk(whereSpec(w, reads), inputs, [range(out, first, count)], params, linearGrid(count / w));
  });
  return out;
}

function expectOperand(role: string, v: unknown): asserts v is Operand {
  if (typeof v === 'number') return;
  if (!(v instanceof Tensor)) throw new ArgumentError(`where: ${role} must be a Tensor or a number, got ${describeValue(v)}`);
  expectTensor('where', role, v);
}

/**
 * a where cond is nonzero, else b. cond is a Tensor (0/1 from a comparison, or any values); a and b
 * are Tensors or numbers (±Infinity included, for masking). Differentiable in a and b.
 */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  expectTensor('where', 'cond', cond);
  expectOperand('a', a);
  expectOperand('b', b);
  return withBroadcast('where', [cond, a, b], ([c, x, y]) => whereRecorded(c as Tensor, x, y));
}

function whereRecorded(cond: Tensor, a: Operand, b: Operand): Tensor {
  const out = whereForward(cond, a, b);
  const inputs = [a, b].filter((t): t is Tensor => t instanceof Tensor);
  if (inputs.length === 0) return out;
  return record(
    'where',
    inputs,
    out,
    (dy, needs, [mask]) => {
      const grads: (Tensor | null)[] = [];
      if (a instanceof Tensor) grads.push(needs[grads.length] ? unbroadcast(whereForward(mask, dy, 0), a) : null);
      if (b instanceof Tensor) grads.push(needs[grads.length] ? unbroadcast(whereForward(mask, 0, dy), b) : null);
      return grads;
    },
    [cond],
  );
}
