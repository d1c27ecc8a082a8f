// addShiftedPlanes: a volume's planes added, shifted along depth, into a running sum. NDHWC,
// y [N, Din, H, W, C], sum and out [N, Dout, H, W, C]:
//
//   out[n, p] = sum[n, p] + y[n, p + shift]   where 0 <= p + shift < Din, else sum[n, p]
//
// With no sum (a first term) out is y's shifted planes alone, zero planes where none lands.
// conv3d at depth stride 1 sums its depth taps this way: tap a's conv2d result holds every input
// plane convolved, and output plane p takes its plane p + a − front. One kernel writes the new
// sum; the slice of the tap's planes, their zero-padded copy and the add that it replaces each
// made an output-sized tensor.
// Backward: dSum = dOut (a share, no copy); dY[n, q] = dOut[n, q − shift] where that plane
// exists, else 0: the same kernel with no sum and the shift negated (a share too at shift 0
// between equal depths). Nothing is saved (only
// shapes and the shift), so neither sum nor y need outlive the forward.
// One thread per element (vec4 where a plane's H·W·C allows), chunked by samples past the binding
// limit (chunking.ts's runPerSample); a single sample must fit one binding.

import { ArgumentError, ShapeError } from '../errors.js';
import { i32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectNumber, expectOptionalTensor, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { emptyTensor, formatShape, type Tensor } from '../graph/tensor.js';
import { runPerSample } from './chunking.js';
import { LINEAR_MAIN_ARGS, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

const OP = 'addShiftedPlanes';

const PARAMS = /* wgsl */ `struct Params { total: u32, plane: u32, depth: u32, depthIn: u32, shift: i32 }`;

/** `name` labels the kernel and its output: the forward with or without a sum, or the backward's dY. */
function shiftSpec(name: string, withSum: boolean, width: VecWidth): KernelSpec {
  const t = vecType(width);
  const reads = withSum ? ['sum', 'src'] : ['src'];
  return {
    name,
    key: `${withSum ? 'sum' : 'alone'}w${width}`,
    inputs: reads.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${PARAMS}
${reads.map((r, k) => `@group(0) @binding(${k}) var<storage, read> ${r}: array<${t}>;`).join('\n')}
@group(0) @binding(${reads.length}) var<storage, read_write> out: array<${t}>;
@group(0) @binding(${reads.length + 1}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let e = i % params.plane;
  let planeIndex = i / params.plane;
  let q = i32(planeIndex % params.depth) + params.shift;
  let n = planeIndex / params.depth;
  var v = ${withSum ? 'sum[i]' : `${t}(0.0)`};
  if (q >= 0 && q < i32(params.depthIn)) { v += src[(n * params.depthIn + u32(q)) * params.plane + e]; }
  out[i] = v;
}`,
  };
}

const SPECS = {
  forward: [shiftSpec(`${OP}.out`, true, 1), shiftSpec(`${OP}.out`, true, 4)],
  first: [shiftSpec(`${OP}.out`, false, 1), shiftSpec(`${OP}.out`, false, 4)],
  backward: [shiftSpec(`${OP}.dy`, false, 1), shiftSpec(`${OP}.dy`, false, 4)],
};

/** out [N, depth, ...src's plane] = (sum or zeros) + src's planes shifted: the raw kernel, no tape. */
function shiftPlanes(kind: keyof typeof SPECS, sum: Tensor | null, src: Tensor, shift: number, depth: number): Tensor {
  const [n, depthIn, h, w, c] = src.shape;
  const shape = [n, depth, h, w, c];
  const plane = h * w * c;
  const width = vecWidth(plane);
  const spec = SPECS[kind][width === 4 ? 1 : 0];
  // An empty result has no planes to divide the index by: nothing to dispatch.
  if (n * depth * plane === 0) return emptyTensor(shape, spec.name);
  const params = (threads: number) => packParams([u32(threads), u32(plane / width), u32(depth), u32(depthIn), i32(shift)]);
  return runPerSample(spec, n, sum ? [sum, src] : [src], [[spec.name, shape]], params, undefined, width)[0];
}

/** The depth of the result: sum's, or `depth` (required without a sum), both checked against y. */
function checkArgs(sum: Tensor | null, y: Tensor, shift: number, depth: number | undefined): number {
  expectOptionalTensor(OP, 'sum', sum);
  expectTensor(OP, 'planes y', y);
  expectNumber(OP, 'shift', shift, { integer: true });
  if (y.rank !== 5) throw new ShapeError(`${OP}: y must be [N, D, H, W, C] (rank 5) but is ${y.describe()}`);
  if (depth !== undefined) expectNumber(OP, 'depth', depth, { integer: true, min: 0 });
  if (!sum) {
    if (depth === undefined) throw new ArgumentError(`${OP}: without a sum the result's depth must be given (y ${y.describe()})`);
    return depth;
  }
  const d = sum.shape[1];
  const want = [y.shape[0], depth ?? d, ...y.shape.slice(2)];
  if (formatShape(sum.shape) !== formatShape(want)) {
    throw new ShapeError(`${OP}: sum must be ${formatShape(want)} for y ${formatShape(y.shape)}${depth === undefined ? '' : ` and depth ${depth}`}, got ${sum.describe()}`);
  }
  return d;
}

/**
 * Differentiable out = sum + y's planes shifted along depth (see the header); sum null: the
 * shifted planes alone, `depth` of them. A shift that leaves no overlap gives sum (or zeros).
 */
export function addShiftedPlanes(sum: Tensor | null, y: Tensor, shift: number, depth?: number): Tensor {
  const depthOut = checkArgs(sum, y, shift, depth);
  const depthIn = y.shape[1];
  const out = shiftPlanes(sum ? 'forward' : 'first', sum, y, shift, depthOut);
  // Unshifted and as deep as the result: dY is dOut itself, a share rather than a copy.
  const dY = (dOut: Tensor) => (shift === 0 && depthIn === depthOut ? dOut.share() : shiftPlanes('backward', null, dOut, -shift, depthIn));
  if (!sum) return record(OP, [y], out, (dOut) => [dY(dOut)]);
  return record(OP, [sum, y], out, (dOut, needs) => [needs[0] ? dOut.share() : null, needs[1] ? dY(dOut) : null]);
}
