// Element-wise ops. Unary: y = f(x), dx = dy * f'(·) where f' is written in terms of the saved
// input x or output y (sigmoid's derivative from y is exact and cheaper). Binary: out = a ∘ b
// where either operand may be a trailing suffix of the other's shape, leading 1s aside (a scalar,
// a per-channel vector against NHWC, ...): the flat index modulo the smaller size addresses it.
// The backward sums the broadcast gradient back over the leading dimensions with
// reduce.sumLeading. Other NumPy broadcasts ([N, 1] against [N, C]) are expanded first (broadcast.ts).
// All layouts are flat float32; shapes are only checked here.
// Past the binding limit both split into flat chunks of elements (kernels/chunking.ts), each
// dispatch seeing only its chunk; the smaller operand of a broadcast is bound whole, and chunks
// start at multiples of its size so `i % nb` still addresses it.
// More ops (pow, gelu, sin, maximum, comparisons, ...) are table entries in elementwise-math.ts,
// run by the same two kernels.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32, f32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectNumber, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { assertLive, emptyTensor, formatShape, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, lcm, part, planned, range } from './chunking.js';
import { BINARY_MORE, EXPM1, keepingNan, LOG, LOG1P, reluKeepingNan, reluPasses, TANH, UNARY_MORE, type MoreBinaryOp, type MoreUnaryOp } from './elementwise-math.js';
import { broadcastShapes, readsByPeriod, withBroadcast } from './broadcast.js';
import { sumLeading } from './reduce.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

// ---------------------------------------------------------------------------------------------
// Unary

export interface UnaryDef {
  /** y from x (and the scalar param c). */
  forward: string;
  /** dx from dy and saved `x` or `y` (and c). */
  backward: string;
  /** Which tensor the backward reads. */
  saves: 'x' | 'y';
  /** What the scalar c is, for ops that take one (checked, and named in errors). */
  param?: string;
  /** The public op an error names, where this is one step of it (clampMin is clamp's). */
  api?: string;
  /** WGSL helper functions the expressions call (over T; they may read params.nan and params.inf). */
  wgsl?: string;
}

// Expressions over T, which is f32 or vec4<f32> (four elements per thread; U is its u32 twin, for
// bit tests): constants that meet a value in max/select/comparisons are written T(...), since WGSL
// does not splat those.
export const UNARY = {
  // Saves its output (y > 0 exactly where x > 0): the next conv saves the same tensor, so no extra
  // memory. NaN stays NaN and passes the gradient, as PyTorch's (reluKeepingNan, reluPasses).
  relu: { forward: reluKeepingNan('x', 'T', 'U'), backward: `select(T(0.0), dy, ${reluPasses('y', 'U')})`, saves: 'y' },
  sigmoid: { forward: '1.0 / (1.0 + exp(-x))', backward: 'dy * y * (1.0 - y)', saves: 'y' },
  // tanh by expm1 (elementwise-math.ts): WGSL's built-in lost all relative accuracy below |x| = 0.03.
  tanh: { forward: 'tanhT(x)', backward: 'dy * (1.0 - y * y)', saves: 'y', wgsl: TANH },
  exp: { forward: 'exp(x)', backward: 'dy * y', saves: 'y' },
  log: { forward: 'logT(x)', backward: 'dy / x', saves: 'x', wgsl: LOG },
  neg: { forward: '-x', backward: '-dy', saves: 'x' },
  square: { forward: 'x * x', backward: '2.0 * x * dy', saves: 'x' },
  sqrt: { forward: 'sqrt(x)', backward: 'dy * 0.5 / y', saves: 'y' },
  scale: { forward: 'x * c', backward: 'dy * c', saves: 'x', param: 'factor' },
  addScalar: { forward: 'x + c', backward: 'dy', saves: 'x', param: 'value' },
  leakyRelu: { forward: 'select(c * x, x, x > T(0.0))', backward: 'select(c * dy, dy, x > T(0.0))', saves: 'x', param: 'slope' },
  // clamp(x, lo, hi) runs as clampMin then clampMax; the gradient passes where x is inside the
  // bounds, the bounds themselves included, as PyTorch's clamp. A NaN x stays NaN and gets no
  // gradient, as there; both are tested from its bits (keepingNan), not left to max or >=.
  clampMin: { forward: keepingNan('x', 'max(x, T(c))'), backward: `select(T(0.0), dy, (x >= T(c)) & !${isNanBits('x', 'U')})`, saves: 'x', param: 'min', api: 'clamp' },
  clampMax: { forward: keepingNan('x', 'min(x, T(c))'), backward: `select(T(0.0), dy, (x <= T(c)) & !${isNanBits('x', 'U')})`, saves: 'x', param: 'max', api: 'clamp' },
  // d|x|/dx = sign(x): 0 at 0, as PyTorch's; NaN at NaN, as PyTorch's and the reference's (WGSL's
  // sign of a NaN is not defined, and lavapipe's is 0, which hid a NaN input from the gradient).
  abs: { forward: 'abs(x)', backward: `select(dy * sign(x), x, ${isNanBits('x', 'U')})`, saves: 'x' },
  // log(1 + e^x) as max(x, 0) + log1p(e^-|x|): no exp overflows, and below x = -17, where 1 + e^x
  // rounds to 1 in float32, log1p still gives e^x (log(1 + ...) gave 0). Its derivative is
  // sigmoid(x), 1/(1 + e^-x): relative accuracy kept, as e^-x is large where the value is small.
  softplus: { forward: 'max(x, T(0.0)) + log1pT(exp(-abs(x)))', backward: 'dy / (1.0 + exp(-x))', saves: 'x', wgsl: LOG1P },
  // x · sigmoid(x) (swish); derivative s (1 + x (1 - s)).
  silu: { forward: 'x / (1.0 + exp(-x))', backward: 'dy * (1.0 / (1.0 + exp(-x))) * (1.0 + x * (1.0 - 1.0 / (1.0 + exp(-x))))', saves: 'x' },
  // c·(e^x - 1) below 0 by expm1: e^x - 1 cancels near 0 (-1.19e-7 for x = -1e-7). Derivative c·e^x.
  elu: { forward: 'select(c * expm1T(x), x, x > T(0.0))', backward: 'select(dy * c * exp(x), dy, x > T(0.0))', saves: 'x', param: 'alpha', wgsl: EXPM1 },
  // A number on one side of sub or div (arithmetic below): c - x, x / c (a division, not a
  // multiply by 1/c, so it rounds as div(x, tensor) does) and c / x.
  rsubScalar: { forward: 'c - x', backward: '-dy', saves: 'x', param: 'value' },
  divScalar: { forward: 'x / c', backward: 'dy / c', saves: 'x', param: 'divisor' },
  // d(c/x)/dx = -(c/x)/x, as div's (and PyTorch's): x·x underflows below |x| = 1.1e-19 where c/x² may not.
  rdivScalar: { forward: 'c / x', backward: 'dy * (-(c / x) / x)', saves: 'x', param: 'numerator' },
} as const satisfies Record<string, UnaryDef>;

export type UnaryOp = keyof typeof UNARY;
export type AnyUnaryOp = UnaryOp | MoreUnaryOp;
const ALL_UNARY: Record<AnyUnaryOp, UnaryDef> = { ...UNARY, ...UNARY_MORE };

/**
 * width 4: each thread reads and writes vec4s, for sizes a multiple of 4 (nearly every
 * activation): on CPU adapters every load and store costs a bounds check and a branch per lane,
 * paid once per vec4 instead of per float.
 */
function unarySpec(op: AnyUnaryOp, direction: 'forward' | 'backward', width: VecWidth): KernelSpec {
  const def = ALL_UNARY[op];
  const t = vecType(width);
  const body =
    direction === 'forward'
      ? `let x = src[i]; out[i] = ${def.forward};`
      : `let dy = grad[i]; let ${def.saves} = saved[i]; out[i] = ${def.backward};`;
  const inputs = direction === 'forward' ? 'src' : 'grad, saved';
  const decls =
    direction === 'forward'
      ? `@group(0) @binding(0) var<storage, read> src: array<${t}>;`
      : `@group(0) @binding(0) var<storage, read> grad: array<${t}>;
@group(0) @binding(1) var<storage, read> saved: array<${t}>;`;
  const nIn = direction === 'forward' ? 1 : 2;
  return {
    name: `${op}.${direction}`,
    key: `w${width}`,
    inputs: nIn,
    outputs: 1,
    wgsl: () => /* wgsl */ `
alias T = ${t};
alias U = ${vecType(width, 'u32')};
struct Params { n: u32, c: f32, nan: f32, inf: f32 }
${decls}
@group(0) @binding(${nIn}) var<storage, read_write> out: array<T>;
@group(0) @binding(${nIn + 1}) var<uniform> params: Params;
${def.wgsl ?? ''}
// inputs: ${inputs}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let c = params.c;
  ${body}
}`,
  };
}

/**
 * One flat pass over same-sized tensors into a new one, in chunks when they exceed the binding
 * limit; `width` elements per thread (chunks stay multiples of it). NaN and infinity come in as
 * uniforms: WGSL rejects them as constants.
 */
function flatPass(spec: KernelSpec, inputs: Tensor[], label: string, c: number, width: VecWidth): Tensor {
  const shape = inputs[0].shape;
  const n = inputs[0].size;
  const per = chunkItems(spec.name, n, [...inputs, planned(label, shape)].map((t) => part(t, 1)), [], width);
  const out = emptyTensor(shape, label);
  forEachChunk(n, per, (first, count) => {
    const ranges = inputs.map((t) => range(t, first, count));
    const params = packParams([u32(count / width), f32(c), f32(NaN), f32(Infinity)]);
    dispatchChunk(spec, ranges, [range(out, first, count)], params, linearGrid(count / width));
  });
  return out;
}

// The runtime caches pipelines by name and key: a spec made per call compiles once.
export function unaryForward(op: AnyUnaryOp, x: Tensor, c = 0): Tensor {
  assertLive(op, x);
  const width = vecWidth(x.size);
  return flatPass(unarySpec(op, 'forward', width), [x], `${op}.out`, c, width);
}

export function unaryBackward(op: AnyUnaryOp, dy: Tensor, saved: Tensor, c = 0): Tensor {
  assertLive(op, dy, saved);
  const width = vecWidth(dy.size);
  return flatPass(unarySpec(op, 'backward', width), [dy, saved], `${op}.dx`, c, width);
}

/**
 * Differentiable unary op. An op with a param needs `c` given: dn.scale(x) in plain JavaScript
 * would otherwise scale by a default 0 without a word.
 */
export function unary(op: AnyUnaryOp, x: Tensor, given?: number): Tensor {
  const { param, saves, api = op }: UnaryDef = ALL_UNARY[op];
  expectTensor(api, 'x', x);
  if (param) expectNumber(api, param, given, { finite: false });
  const c = given ?? 0;
  const y = unaryForward(op, x, c);
  const saved = saves === 'x' ? x : y;
  return record(op, [x], y, (dy, _needs, [s]) => [unaryBackward(op, dy, s, c)], [saved]);
}

// ---------------------------------------------------------------------------------------------
// Binary with suffix broadcasting

export const BINARY = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
} as const;

export type BinaryOp = keyof typeof BINARY;
export type AnyBinaryOp = BinaryOp | MoreBinaryOp;
const ALL_BINARY: Record<AnyBinaryOp, string> = { ...BINARY, ...BINARY_MORE };

/**
 * `width` 4 reads and writes vec4s: a quarter of the loads, stores and index arithmetic, used when
 * every length and period is a multiple of 4 (then `i % na` in vec4 units is still exact).
 * `broadcastA` / `broadcastB`: that operand repeats (period na or nb); a full-size operand is read
 * at i directly, sparing `i % n`, an integer division per element that a CPU adapter runs lane by
 * lane.
 */
function binarySpec(op: AnyBinaryOp, width: VecWidth, broadcastA: boolean, broadcastB: boolean): KernelSpec {
  const t = vecType(width);
  return {
    name: `${op}.forward`,
    key: `w${width}${broadcastA ? 'a' : ''}${broadcastB ? 'b' : ''}`,
    inputs: 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
alias T = ${t};
alias U = ${vecType(width, 'u32')};
struct Params { n: u32, na: u32, nb: u32 }
@group(0) @binding(0) var<storage, read> lhs: array<T>;
@group(0) @binding(1) var<storage, read> rhs: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let a = lhs[${broadcastA ? 'i % params.na' : 'i'}];
  let b = rhs[${broadcastB ? 'i % params.nb' : 'i'}];
  out[i] = ${ALL_BINARY[op]};
}`,
  };
}

/**
 * The broadcast output shape (NumPy's, larger rank included), or a ShapeError naming the op and
 * both shapes. The raw kernels read an operand at i modulo its size, so here each must be a
 * trailing part of the output, leading 1s aside; the differentiable ops expand any other operand
 * first (broadcast.ts).
 */
export function broadcastShape(op: string, a: Shape, b: Shape): Shape {
  const shape = broadcastShapes(op, [a, b]);
  if (!readsByPeriod(a, shape) || !readsByPeriod(b, shape)) {
    throw new ShapeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} need expanding to ${formatShape(shape)} first (broadcast.ts)`);
  }
  return shape;
}

export function binaryForward(op: AnyBinaryOp, a: Tensor, b: Tensor): Tensor {
  assertLive(op, a, b);
  const shape = broadcastShape(op, a.shape, b.shape);
  const n = shapeSize(shape);
  // A broadcast operand is bound whole; chunks start at multiples of its size.
  const small = [a, b].filter((t) => t.size < n);
  const granule = small.reduce((g, t) => lcm(g, t.size), 1);
  const big = [a, b, planned(`${op}.out`, shape)].filter((t) => t.size === n);
  const per = chunkItems(`${op}.forward`, n, big.map((t) => part(t, 1)), small, granule);
  const out = emptyTensor(shape, `${op}.out`);
  forEachChunk(n, per, (first, count) => {
    const bind = (t: Tensor) => (t.size < n ? t : range(t, first, count));
    const periods = [count, a.size < n ? a.size : count, b.size < n ? b.size : count];
    const w = first % 4 === 0 && periods.every((p) => p % 4 === 0) ? 4 : 1;
    const params = packParams(periods.map((p) => u32(p / w)));
    dispatchChunk(binarySpec(op, w, a.size < n, b.size < n), [bind(a), bind(b)], [range(out, first, count)], params, linearGrid(count / w));
  });
  return out;
}

/** Sums a broadcast gradient back to `like`'s shape. Consumes g when it reduces. */
export function unbroadcast(g: Tensor, like: Tensor): Tensor {
  if (g.size === like.size) return g;
  const reduced = sumLeading(g, like.size);
  g.dispose();
  return reduced;
}

/**
 * add, sub, mul and div as the API takes them: two tensors (binary), or a tensor and a number on
 * either side, which runs as one unary op with the number as its constant (no scalar tensor to
 * upload and free).
 */
export function arithmetic(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof a === 'number' && typeof b === 'number') {
    throw new ArgumentError(`${op}: at least one operand must be a Tensor, got the numbers ${a} and ${b}`);
  }
  if (typeof b === 'number') {
    expectTensor(op, 'a', a);
    // x − c is x + (−c); the others take c as it is.
    return unary(NUMBER_RIGHT[op], a, op === 'sub' ? -b : b);
  }
  if (typeof a === 'number') {
    expectTensor(op, 'b', b);
    return unary(NUMBER_LEFT[op], b, a);
  }
  return binary(op, a, b);
}

/** The unary op of `tensor ∘ c` and of `c ∘ tensor`, c a number. */
const NUMBER_RIGHT = { add: 'addScalar', sub: 'addScalar', mul: 'scale', div: 'divScalar' } as const satisfies Record<BinaryOp, UnaryOp>;
const NUMBER_LEFT = { add: 'addScalar', sub: 'rsubScalar', mul: 'scale', div: 'rdivScalar' } as const satisfies Record<BinaryOp, UnaryOp>;

/** Differentiable binary op with NumPy's broadcasting. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  expectTensor(op, 'a', a);
  expectTensor(op, 'b', b);
  return withBroadcast(op, [a, b], ([x, y]) => binaryRecorded(op, x, y));
}

function binaryRecorded(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(op, a, b);
  const saved = op === 'mul' || op === 'div' ? [a, b] : [];
  return record(
    op,
    [a, b],
    out,
    (dy, needs, [sa, sb]) => {
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (needs[0]) {
        if (op === 'add' || op === 'sub') ga = unbroadcast(dy.share(), a);
        else if (op === 'mul') ga = unbroadcast(binaryForward('mul', dy, sb!), a);
        else ga = unbroadcast(binaryForward('div', dy, sb!), a);
      }
      if (needs[1]) {
        if (op === 'add') gb = unbroadcast(dy.share(), b);
        else if (op === 'sub') gb = unbroadcast(unaryForward('neg', dy), b);
        else if (op === 'mul') gb = unbroadcast(binaryForward('mul', dy, sa!), b);
        else {
          // d(a/b)/db = -a / b^2 = -(a/b) / b
          const q = binaryForward('div', sa!, sb!);
          const t = binaryForward('div', q, sb!);
          const u = binaryForward('mul', dy, t);
          gb = unbroadcast(unaryForward('neg', u), b);
          q.dispose();
          t.dispose();
          u.dispose();
        }
      }
      return [ga, gb];
    },
    saved,
  );
}
