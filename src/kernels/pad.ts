// Spatial padding of NHWC images (tf.pad / tf.mirrorPad, PyTorch's F.pad on H and W):
// y [N, H + top + bottom, W + left + right, C], each output pixel the input pixel its row and
// column map to, per axis:
//   constant:  i itself, or `value` outside [0, n)
//   reflect:   mirrored about the edge pixel, which is not repeated (…2 1 | 0 1 2 … n−1 | n−2…),
//              PyTorch's 'reflect' and tf.mirrorPad's 'REFLECT': a pad must be less than n
//   replicate: the edge pixel repeated (PyTorch's 'replicate', tf's 'SYMMETRIC' is not this)
// Backward: dx[h, w] sums dy over every output pixel that maps to (h, w), a gather per input
// pixel over at most three rows (reflect: itself and the two mirrors) or, for replicate's edges,
// the padded rows beyond them. One thread per element, vec4 over channels where C % 4 == 0.

import { ArgumentError, ShapeError } from '../errors.js';
import { f32, i32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectChoice, expectKnownOptions, expectNumber, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

export type PadMode = 'constant' | 'reflect' | 'replicate';
export const PAD_MODES: readonly PadMode[] = ['constant', 'reflect', 'replicate'];

export interface Pad2dOptions {
  mode?: PadMode;
  /** The fill of 'constant' (default 0). */
  value?: number;
}

const PARAMS = /* wgsl */ `struct Params { total: u32, c: u32, h: i32, w: i32, outH: i32, outW: i32, top: i32, left: i32, value: f32 }`;

/** WGSL: the input index of padded index i on an axis of n (−1 outside, for 'constant'). */
const SOURCE: Record<PadMode, string> = {
  constant: 'fn source(i: i32, n: i32) -> i32 { return select(-1, i, i >= 0 && i < n); }',
  reflect: 'fn source(i: i32, n: i32) -> i32 { return select(select(i, 2 * (n - 1) - i, i >= n), -i, i < 0); }',
  replicate: 'fn source(i: i32, n: i32) -> i32 { return clamp(i, 0, n - 1); }',
};

/**
 * One thread per element of `dst` (f32 or vec4 of channels): the shared head that decodes its
 * row, column and sample over the dst image's `rows` × `cols`, then `body`.
 */
function padSpec(direction: 'forward' | 'backward', mode: PadMode, width: VecWidth, src: string, dst: string, rows: string, cols: string, helpers: string, body: string): KernelSpec {
  const t = vecType(width);
  return {
    name: `pad2d.${direction}`,
    key: `${mode}w${width}`,
    inputs: 1,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${PARAMS}
@group(0) @binding(0) var<storage, read> ${src}: array<${t}>;
@group(0) @binding(1) var<storage, read_write> ${dst}: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;
${helpers}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let ch = i % params.c;
  let pix = i32(i / params.c);
  let col = pix % ${cols};
  let row = (pix / ${cols}) % ${rows};
  let n = pix / (${cols} * ${rows});
  ${body}
}`,
  };
}

function forwardSpec(mode: PadMode, width: VecWidth): KernelSpec {
  return padSpec('forward', mode, width, 'x', 'y', 'params.outH', 'params.outW', SOURCE[mode], /* wgsl */ `let sh = source(row - params.top, params.h);
  let sw = source(col - params.left, params.w);
  var v = ${vecType(width)}(params.value);
  if (sh >= 0 && sw >= 0) { v = x[u32((n * params.h + sh) * params.w + sw) * params.c + ch]; }
  y[i] = v;`);
}

/**
 * WGSL: `candidates(h, n, pad, out)`, the (at most three) padded indices on an axis that reflect
 * maps to input index h, −1 for none; constant has one, replicate's edges a range (backwardSpec).
 */
const CANDIDATES = /* wgsl */ `
fn candidates(h: i32, n: i32, pad: i32, out: i32) -> vec3<i32> {
  // Itself, its mirror before the start (h ≥ 1) and after the end (h ≤ n − 2); −1 where none.
  let a = h + pad;
  let b = select(-1, pad - h, h >= 1 && pad - h >= 0);
  let c = select(-1, pad + 2 * (n - 1) - h, h <= n - 2 && pad + 2 * (n - 1) - h < out);
  return vec3<i32>(a, b, c);
}`;

function backwardSpec(mode: PadMode, width: VecWidth): KernelSpec {
  // Per axis, the padded range that maps to h: [lo, hi) for replicate (itself, and all of the
  // padding beyond an edge pixel), up to three single indices for reflect, one for constant.
  const axis = (name: string, n: string, pad: string, out: string) =>
    mode === 'replicate'
      ? `let ${name}Lo = select(${name} + ${pad}, 0, ${name} == 0);
  let ${name}Hi = select(${name} + ${pad} + 1, ${out}, ${name} == ${n} - 1);`
      : mode === 'reflect'
        ? `let ${name}C = candidates(${name}, ${n}, ${pad}, ${out});`
        : `let ${name}C = vec3<i32>(${name} + ${pad}, -1, -1);`;
  const loops =
    mode === 'replicate'
      ? `for (var y = rowLo; y < rowHi; y++) { for (var x = colLo; x < colHi; x++) { acc += dy[u32((n * params.outH + y) * params.outW + x) * params.c + ch]; } }`
      : `for (var a = 0; a < 3; a++) {
    let y = rowC[a];
    if (y < 0) { continue; }
    for (var b = 0; b < 3; b++) {
      let x = colC[b];
      if (x < 0) { continue; }
      acc += dy[u32((n * params.outH + y) * params.outW + x) * params.c + ch];
    }
  }`;
  return padSpec('backward', mode, width, 'dy', 'dx', 'params.h', 'params.w', mode === 'reflect' ? CANDIDATES : '', /* wgsl */ `${axis('row', 'params.h', 'params.top', 'params.outH')}
  ${axis('col', 'params.w', 'params.left', 'params.outW')}
  var acc = ${vecType(width)}(0.0);
  ${loops}
  dx[i] = acc;`);
}

const SPECS = Object.fromEntries(
  PAD_MODES.map((m) => [m, { forward: [forwardSpec(m, 1), forwardSpec(m, 4)], backward: [backwardSpec(m, 1), backwardSpec(m, 4)] }]),
) as Record<PadMode, { forward: KernelSpec[]; backward: KernelSpec[] }>;

interface PadGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  pads: [number, number, number, number];
  mode: PadMode;
  value: number;
}

function geometry(x: Tensor, pads: unknown, options: Pad2dOptions): PadGeometry {
  const op = 'pad2d';
  expectTensor(op, 'input x', x);
  expectOptions(op, options, "{ mode: 'reflect' }");
  expectKnownOptions(op, options, ['mode', 'value'], {});
  const mode = options.mode ?? 'constant';
  expectChoice(op, 'mode', mode, PAD_MODES);
  const value = options.value ?? 0;
  expectNumber(op, 'value', value, { finite: false });
  if (x.rank !== 4) throw new ShapeError(`${op}: expected an NHWC input x of rank 4, got ${x.describe()}`);
  const p = typeof pads === 'number' ? [pads, pads, pads, pads] : pads;
  const what = 'pads must be a non-negative integer or [top, bottom, left, right] of them';
  if (!Array.isArray(p) || p.some((v) => typeof v !== 'number')) throw new ArgumentError(`${op}: ${what}, got ${describeValue(pads)}`);
  if (p.length !== 4 || !p.every((v: number) => Number.isInteger(v) && v >= 0)) throw new ShapeError(`${op}: ${what}, got [${p.join(', ')}]`);
  const [n, h, w, c] = x.shape;
  const [top, bottom, left, right] = p as number[];
  if (mode === 'reflect' && (Math.max(top, bottom) >= h || Math.max(left, right) >= w)) {
    throw new ShapeError(`${op}: reflect padding must be less than the size it mirrors: pads [${p.join(',')}] on ${x.describe()}`);
  }
  if (mode === 'replicate' && (h === 0 || w === 0)) throw new ShapeError(`${op}: nothing to replicate in ${x.describe()}`);
  return { n, h, w, c, pads: [top, bottom, left, right], mode, value };
}

function launch(direction: 'forward' | 'backward', g: PadGeometry, src: Tensor): Tensor {
  const [top, bottom, left, right] = g.pads;
  const [outH, outW] = [g.h + top + bottom, g.w + left + right];
  const shape = direction === 'forward' ? [g.n, outH, outW, g.c] : [g.n, g.h, g.w, g.c];
  const out = emptyTensor(shape, `pad2d.${direction}`);
  const width = vecWidth(g.c);
  const total = out.size / width;
  const params = packParams([u32(total), u32(g.c / width), i32(g.h), i32(g.w), i32(outH), i32(outW), i32(top), i32(left), f32(g.value)]);
  runtime().dispatch(SPECS[g.mode][direction][width === 4 ? 1 : 0], { inputs: [src.slice], outputs: [out.slice], params }, linearGrid(total));
  return out;
}

/** Differentiable spatial padding of an NHWC tensor by [top, bottom, left, right] (or one number for all four). */
export function pad2d(x: Tensor, pads: number | readonly [number, number, number, number], options: Pad2dOptions = {}): Tensor {
  const g = geometry(x, pads, options);
  const y = launch('forward', g, x);
  return record('pad2d', [x], y, (dy) => {
    if (dy.shape.join() !== y.shape.join()) throw new ShapeError(`pad2d.backward: dy ${formatShape(dy.shape)} for output ${formatShape(y.shape)}`);
    return [launch('backward', g, dy)];
  });
}
