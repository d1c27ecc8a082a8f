// transpose(x, perm): the axes of x reordered, y.shape[d] = x.shape[perm[d]] (tf.transpose,
// PyTorch's permute), e.g. NCHW data to dawnet's NHWC with perm [0, 2, 3, 1]. Default perm: the
// axes reversed. Its gradient is the transpose of dy by the inverse permutation. Ranks up to 8.
//
// Before dispatch the permutation is reduced to as few axes as possible: size-1 axes drop out, and
// output axes d, d+1 that are neighbours in x too (stride_d = stride_{d+1}·size_{d+1}) merge into
// one. What is left of [0, 3, 1, 2] on [N, H, W, C] is [N, HW, C] -> [N, C, HW]; of [1, 0, 2, 3],
// a swap of two axes that moves rows of C·W floats whole. A permutation that reduces to one axis
// (the identity, or one that only moves size-1 axes) is a view over x's storage, as reshape is.
//
// The gather is written for exactly the reduced rank (as gather.ts's, and for the same reason: on
// CPU adapters a loop over a runtime rank indexes the uniform arrays dynamically and divides by a
// uniform on every axis, each a scalar divide per lane). Each thread takes PER_THREAD elements of
// the innermost output axis, so the divides that find its row are shared by them; that axis is
// moved as vec4s when it is x's innermost too and its size is a multiple of 4. The key names the
// rank and the width. Interleaved A/B on lavapipe (2 busy cores, medians of 7), [8, 128, 128, 32]:
// identity 106 -> 0.3 ms (a view), [1, 0, 2, 3] 59 -> 5.6, [0, 2, 3, 1] 57 -> 5.4, [0, 3, 1, 2]
// 120 -> 13, [3, 2, 1, 0] 96 -> 29, against a copy of 8-11 ms in the same runs; [1024, 1024] by
// [1, 0] 26 -> 2.5 (.exp/perf-p2/ab-transpose.mjs).

import { MAX_RANK, at, padToMaxRank, stridesOf } from './gather.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, shapeSize, type Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, type VecWidth } from './wgsl.js';

/** Elements per thread along the innermost output axis (gather.ts measured 4 against 1 and 8). */
const PER_THREAD = 4;

/** One axis of the reduced output: its size, and the stride in x of the axis it reads. */
export interface TransposeAxis {
  size: number;
  stride: number;
}

/** The reduced axes of transpose(x of `shape`, perm) (see the header); [] when the result is a view. */
export function transposeAxes(shape: readonly number[], perm: readonly number[]): TransposeAxis[] {
  const strides = stridesOf(shape);
  const out: TransposeAxis[] = [];
  for (const a of perm) {
    if (shape[a] === 1) continue;
    const prev = out[out.length - 1];
    if (prev && prev.stride === strides[a] * shape[a]) out[out.length - 1] = { size: prev.size * shape[a], stride: strides[a] };
    else out.push({ size: shape[a], stride: strides[a] });
  }
  return out.length <= 1 ? [] : out;
}

/** WGSL: c0..c{n-1}, the coordinates of `rest` over the first n axes of params.size (outermost c0). */
function coordsWgsl(n: number): string[] {
  const coords: string[] = [];
  for (let d = n - 1; d > 0; d--) coords.push(`let c${d} = rest % ${at('size', d)};`, `rest /= ${at('size', d)};`);
  coords.push('let c0 = rest;');
  return coords;
}

/** Built once per key: a transpose runs many times a step, and its spec is the same for a key. */
const specs = new Map<string, KernelSpec>();
const cached = (key: string, make: () => KernelSpec): KernelSpec => {
  let s = specs.get(key);
  if (!s) specs.set(key, (s = make()));
  return s;
};

function spec(rank: number, width: VecWidth): KernelSpec {
  return cached(`r${rank}w${width}`, () => makeSpec(rank, width));
}

function makeSpec(rank: number, width: VecWidth): KernelSpec {
  const last = rank - 1;
  const coords = coordsWgsl(last);
  const base = Array.from({ length: last }, (_, d) => `c${d} * ${at('stride', d)}`).join(' + ');
  const type = vecType(width);
  return {
    name: 'transpose',
    key: `r${rank}w${width}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { threads: u32, pad0: u32, pad1: u32, pad2: u32, size: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read_write> y: array<${type}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.threads) { return; }
  let n = ${at('size', last)};
  let inner = ${at('stride', last)};
  let blocks = (n + ${PER_THREAD - 1}u) / ${PER_THREAD}u;
  let b = i % blocks;
  let row = i / blocks;
  var rest = row;
  ${coords.join('\n  ')}
  let base = ${base};
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let c = b + k * blocks;
    if (c >= n) { break; }
    y[row * n + c] = x[base + c * inner];
  }
}`,
  };
}

/**
 * The 4x4 kernel: where x's innermost axis lands on output axis k < last and both it and the
 * output's innermost axis are multiples of 4, a thread reads a 4x4 block as four vec4 rows of x and
 * writes it as four vec4 rows of y, transposed in registers: every load and store is a whole
 * vec4, and the thread's divides are paid once for 16 elements. All offsets are in vec4s, each
 * axis's tile coordinate scaled by its step (src/dst below) so the kernel needs no k: its key is
 * the rank. Against the scalar kernel on [8, 128, 128, 32] perm [0, 3, 1, 2], lavapipe: 41 -> 13 ms.
 */
function blockSpec(rank: number): KernelSpec {
  return cached(`block${rank}`, () => makeBlockSpec(rank));
}

function makeBlockSpec(rank: number): KernelSpec {
  const coords = coordsWgsl(rank);
  const sum = (name: string): string => Array.from({ length: rank }, (_, d) => `c${d} * ${at(name, d)}`).join(' + ');
  return {
    name: 'transpose.block4',
    key: `r${rank}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { threads: u32, srcRow: u32, dstRow: u32, pad0: u32, size: array<vec4<u32>, 2>, src: array<vec4<u32>, 2>, dst: array<vec4<u32>, 2> }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.threads) { return; }
  var rest = i;
  ${coords.join('\n  ')}
  let s = ${sum('src')};
  let o = ${sum('dst')};
  let v0 = x[s];
  let v1 = x[s + params.srcRow];
  let v2 = x[s + 2u * params.srcRow];
  let v3 = x[s + 3u * params.srcRow];
  y[o] = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
  y[o + params.dstRow] = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
  y[o + 2u * params.dstRow] = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
  y[o + 3u * params.dstRow] = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
}`,
  };
}

/** Dispatches the 4x4 kernel if `axes` allow it (see blockSpec); false if not. */
function permuteBlocks(x: Tensor, y: Tensor, axes: TransposeAxis[]): boolean {
  const last = axes.length - 1;
  const k = axes.findIndex((a) => a.stride === 1);
  if (k === last || axes[k].size % 4 !== 0 || axes[last].size % 4 !== 0) return false;
  // x's strides are all multiples of its innermost size (axes[k].size), so of 4; so are y's.
  const out = stridesOf(axes.map((a) => a.size));
  const size = axes.map((a, d) => (d === k || d === last ? a.size / 4 : a.size));
  const src = axes.map((a, d) => (d === k ? 1 : d === last ? a.stride : a.stride / 4));
  const dst = out.map((s, d) => (d === k ? s : d === last ? 1 : s / 4));
  const threads = shapeSize(size);
  const params = packParams([threads, axes[last].stride / 4, out[k] / 4, 0, ...padToMaxRank(size, 1), ...padToMaxRank(src, 0), ...padToMaxRank(dst, 0)].map((v) => u32(v)));
  runtime().dispatch(blockSpec(axes.length), { inputs: [x.slice], outputs: [y.slice], params }, linearGrid(threads));
  return true;
}

/** perm, checked to be a permutation of x's axes (negative axes count from the end). */
function resolvePerm(x: Tensor, perm: unknown): number[] {
  if (perm === undefined) return x.shape.map((_, d) => x.rank - 1 - d);
  if (!Array.isArray(perm) || perm.some((a) => typeof a !== 'number')) {
    throw new ArgumentError(`transpose: perm must be an array of axes, got ${describeValue(perm)}${Array.isArray(perm) ? ` ${describeValue(perm.find((a) => typeof a !== 'number'))} among them` : ''}`);
  }
  const p = perm.map((a: number) => (a < 0 ? a + x.rank : a));
  if (p.length !== x.rank || !p.every((a) => Number.isInteger(a) && a >= 0 && a < x.rank) || new Set(p).size !== x.rank) {
    throw new ShapeError(`transpose: perm must order all ${x.rank} axes of ${x.describe()} once each, got [${perm.join(', ')}]`);
  }
  return p as number[];
}

/** The raw transpose (no tape): a view when the reduced permutation is the identity. */
function permute(x: Tensor, perm: number[]): Tensor {
  const outShape = perm.map((a) => x.shape[a]);
  const axes = transposeAxes(x.shape, perm);
  if (axes.length === 0) return x.share(outShape);
  const y = emptyTensor(outShape, 'transpose.out');
  if (y.size === 0 || permuteBlocks(x, y, axes)) return y;
  const n = axes[axes.length - 1];
  const width: VecWidth = n.stride === 1 && n.size % 4 === 0 ? 4 : 1;
  const units = width === 4 ? axes.map((a, d) => (d === axes.length - 1 ? { size: a.size / 4, stride: 1 } : { size: a.size, stride: a.stride / 4 })) : axes;
  const inner = units[units.length - 1].size;
  const threads = shapeSize(units.slice(0, -1).map((a) => a.size)) * Math.ceil(inner / PER_THREAD);
  const sizes = padToMaxRank(units.map((a) => a.size), 1);
  const strides = padToMaxRank(units.map((a) => a.stride), 0);
  const params = packParams([threads, 0, 0, 0, ...sizes, ...strides].map((v) => u32(v)));
  runtime().dispatch(spec(units.length, width), { inputs: [x.slice], outputs: [y.slice], params }, linearGrid(threads));
  return y;
}

/** Differentiable transpose; `perm` defaults to the axes reversed. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  expectTensor('transpose', 'input x', x);
  if (x.rank > MAX_RANK) throw new ShapeError(`transpose: at most ${MAX_RANK} axes, got ${formatShape(x.shape)}`);
  const p = resolvePerm(x, perm);
  const inverse = p.map((_, d) => p.indexOf(d));
  return record('transpose', [x], permute(x, p), (dy) => [permute(dy, inverse)]);
}
