// conv2d's forward for convs with few inputs a pixel ('row-patch'): a workgroup owns a strip of
// one output row, stages the input rows under it and all the weights in workgroup memory once,
// and each thread multiplies P adjacent pixels by 4 output channels from there. Made for the first
// conv of VGG16 and of the U-Net (3x3 over 3 channels: K·Cin = 27).
//
// Why: the implicit GEMM runs VGG16's conv1_1 at 24% of an H200's FMA peak (0.49 ms; floors 0.12
// ms of compute, 0.14 of stores). Its 128x64 tile walks a K of 27 in four 8-deep slices, the last
// five-eighths empty, decoding an im2col index for every value it stages; the two kernels built
// for the conv before this one hold the weights in registers or a uniform buffer and read the input
// through the cache (conv2d-channel-lanes.ts, conv2d-uniform-weights.ts). Here the input is staged
// as it lies: a strip of S output pixels needs kh rows of (S − 1)·sw + kw columns, 594 floats at
// conv1_1 for S = 64, read once by the workgroup in memory order, with no index decoding; each
// thread then reads, per kernel row and input channel, the (P − 1)·sw + kw values its pixels'
// windows span and adds each into every pixel whose window holds it: about 14 workgroup reads for
// 3·P vec4 multiply-adds at conv1_1. The K of 27 is walked exactly, with one barrier a strip.
// Lanes hold consecutive output channels (Cout/4 lanes a pixel), so each store instruction writes a
// pixel's Cout·4 contiguous bytes, and the lanes of a pixel read one workgroup address
// (a broadcast).
//
// On an H200 (2026-11-28, bench/results/nvidia-h200-2026-11-28/run11-candidates.json) it ran
// conv1_1 in 0.289 ms at 4 pixels a thread and 0.317 at 8, against the implicit GEMM's 0.488 and
// the channel-lanes kernel's 0.389; GPU tuning chose it there, and the GPU rule now does
// (ruleConvAlgorithm): 0.292 ms, 40.6% of the FMA peak, in run 13.

import { ArgumentError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import { deviceSetting } from '../gpu/device-setting.js';
import { packParams, i32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import type { Range } from './chunking.js';
import { dispatchChunk } from './chunking.js';
import { fixedGeometry, type ConvDirection, type FixedGeometry } from './conv2d-gemm-common.js';
import type { ConvGeometry } from './conv2d.js';
import { reluKeepingNan } from './elementwise-math.js';
import { workgroupGrid } from './wgsl.js';
import type { Tensor } from '../graph/tensor.js';

/** Most weights the kernel stages (K·Cin, each Cout/4 vec4s): 3x3 over up to 4 channels, 1x1 over up to 36. */
export const ROW_PATCH_MAX_TAPS = 36;
/** Most output channels: 16 lanes a pixel, and with 36 taps 9 KiB of weights. */
export const ROW_PATCH_MAX_COUT = 64;
/**
 * Output pixels a thread by default: 4 vec4 accumulators, and an input row of P + 2 values at 3x3.
 * On an H200 (2026-11-28, run 11) VGG16's conv1_1 took 0.289 ms at 4, 0.317 at 8 and 0.342 at 16.
 */
export const ROW_PATCH_PIXELS = 4;
/** Threads a workgroup at most. */
const MAX_THREADS = 256;
/** Workgroup memory the kernel plans within: what every WebGPU adapter offers. */
const WORKGROUP_BYTES = 16384;

/** Whether the forward of `g` can run by this kernel: output channels in vec4s up to 64, K·Cin within ROW_PATCH_MAX_TAPS. */
export function rowPatchFits(dir: ConvDirection, g: ConvGeometry): boolean {
  return dir === 'forward' && g.cout % 4 === 0 && g.cout <= ROW_PATCH_MAX_COUT && g.kh * g.kw * g.cin <= ROW_PATCH_MAX_TAPS && rowPatchLayout(g, rowPatchPixels()) !== null;
}

/** How a workgroup covers its strip: `lanes` (Cout/4) lanes a pixel group, `groups` groups of `pixels` pixels. */
export interface RowPatchLayout {
  lanes: number;
  groups: number;
  pixels: number;
  /** Input columns the strip's windows span: (groups·pixels − 1)·sw + kw. */
  columns: number;
}

/**
 * The layout for `g` at `pixels` a thread: as many pixel groups as fill 256 threads, halved until
 * the staged input (kh·Cin·columns floats) and weights fit WORKGROUP_BYTES, and no more groups
 * than the row needs; null where even one group does not fit.
 */
export function rowPatchLayout(g: ConvGeometry, pixels: number): RowPatchLayout | null {
  const lanes = g.cout / 4;
  const weightBytes = g.kh * g.kw * g.cin * g.cout * 4;
  const columnsFor = (groups: number) => (groups * pixels - 1) * g.sw + g.kw;
  let groups = Math.floor(MAX_THREADS / lanes);
  while (groups > 1 && (groups - 1) * pixels >= g.wo) groups = Math.ceil(groups / 2);
  while (groups >= 1 && weightBytes + g.kh * g.cin * columnsFor(groups) * 4 > WORKGROUP_BYTES) groups = Math.floor(groups / 2);
  return groups >= 1 ? { lanes, groups, pixels, columns: columnsFor(groups) } : null;
}

const pixelsSetting = deviceSetting<number>();

/**
 * Runs the kernel with `pixels` output pixels a thread on this device (null restores
 * ROW_PATCH_PIXELS): for the benchmark, which times other counts beside the default on GPUs.
 */
export function setRowPatchPixels(pixels: number | null): void {
  if (pixels !== null && !(Number.isInteger(pixels) && pixels >= 1 && pixels <= 32)) throw new ArgumentError(`setRowPatchPixels: expected a whole number from 1 to 32 or null, got ${describeValue(pixels)} (pixels a thread)`);
  pixelsSetting.set(pixels);
}

/** The pixels a thread the kernel runs with on this device. */
export const rowPatchPixels = (): number => pixelsSetting.get() ?? ROW_PATCH_PIXELS;

/** The other pixel counts the benchmark times beside the default on GPUs. */
export const ROW_PATCH_PIXEL_VARIANTS: readonly number[] = [2, 8];

interface Shape extends FixedGeometry {
  layout: RowPatchLayout;
}

function spec(s: Shape): KernelSpec {
  const { groups, pixels } = s.layout;
  const key = [s.kh, s.kw, s.cin, s.cout, s.sh, s.sw, s.padTop, s.padLeft, groups, pixels, +s.bias, +s.relu].join(',');
  return { name: 'conv2d.forwardRowPatch', key, inputs: s.bias ? 3 : 2, outputs: 1, wgsl: () => wgsl(s) };
}

/**
 * A thread's multiply-adds for kernel row `i`, input channel `ci`: the (P − 1)·sw + kw staged values
 * its pixels' windows span, each read once and added into every pixel p whose window holds it
 * (tap j = column − p·sw within 0..kw−1), each weight read once.
 */
function rowChannel(s: Shape, i: number, ci: number, lines: string[]): void {
  const { kw, cin, sw } = s;
  const { pixels: P, columns } = s.layout;
  const span = (P - 1) * sw + kw;
  const lanes = s.layout.lanes;
  lines.push(`  {`);
  lines.push(`    let at = ${(i * cin + ci) * columns} + c0;`);
  for (let j = 0; j < kw; j++) lines.push(`    let w${j} = wsh[${((i * kw + j) * cin + ci) * lanes} + q];`);
  for (let col = 0; col < span; col++) {
    const users: [number, number][] = [];
    for (let p = 0; p < P; p++) {
      const j = col - p * sw;
      if (j >= 0 && j < kw) users.push([p, j]);
    }
    if (!users.length) continue;
    lines.push(`    { let v = vec4<f32>(xsh[at + ${col}]);`);
    for (const [p, j] of users) lines.push(`      a${p} = fma(v, w${j}, a${p});`);
    lines.push(`    }`);
  }
  lines.push(`  }`);
}

/**
 * The kernel's WGSL. Staged input: xsh[(i·Cin + ci)·columns + col], kernel row i, input column
 * col of the strip (0 in the padding and past the image), so a thread's values for one (i, ci) are
 * consecutive. Staged weights: w[kh][kw][Cin][Cout] as vec4s along Cout, copied as they lie.
 */
function wgsl(s: Shape): string {
  const { kh, kw, cin, sh, sw, padTop, padLeft } = s;
  const { lanes, groups, pixels: P, columns } = s.layout;
  const threads = lanes * groups;
  const staged = kh * cin * columns;
  const weights = kh * kw * cin * lanes;
  const lines: string[] = [];
  for (let p = 0; p < P; p++) lines.push(`  var a${p} = vec4<f32>(0.0);`);
  for (let i = 0; i < kh; i++) for (let ci = 0; ci < cin; ci++) rowChannel(s, i, ci, lines);
  for (let p = 0; p < P; p++) {
    let v = `a${p}`;
    if (s.bias) v = `${v} + b`;
    if (s.relu) v = reluKeepingNan(`(${v})`, 'vec4<f32>');
    lines.push(`  if (ox + ${p} < params.wo) { y[out + ${p * lanes}] = ${v}; }`);
  }
  return /* wgsl */ `
struct Params { h: i32, w: i32, ho: i32, wo: i32, stripsPerRow: i32, strips: i32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<vec4<f32>>;
${s.bias ? '@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;' : ''}
@group(0) @binding(${s.bias ? 3 : 2}) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(${s.bias ? 4 : 3}) var<uniform> params: Params;

var<workgroup> xsh: array<f32, ${staged}>;
var<workgroup> wsh: array<vec4<f32>, ${weights}>;

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let strip = i32(wid.x + wid.y * nwg.x);
  if (strip >= params.strips) { return; }
  let l = i32(lidx);
  let row = strip / params.stripsPerRow;
  let ox0 = (strip - row * params.stripsPerRow) * ${groups * P};
  let oy = row % params.ho;
  let n = row / params.ho;
  // Staging in the input's own order (column-major within a row: Cin values a pixel), so that
  // neighbouring threads read neighbouring floats; stored transposed, a row of columns a channel.
  let ix0 = ox0 * ${sw} - ${padLeft};
  for (var e = l; e < ${staged}; e += ${threads}) {
    let i = e / ${columns * cin};
    let rest = e - i * ${columns * cin};
    let col = rest / ${cin};
    let ci = rest - col * ${cin};
    let iy = oy * ${sh} - ${padTop} + i;
    let ix = ix0 + col;
    var v = 0.0;
    if (iy >= 0 && iy < params.h && ix >= 0 && ix < params.w) { v = x[((n * params.h + iy) * params.w + ix) * ${cin} + ci]; }
    xsh[(i * ${cin} + ci) * ${columns} + col] = v;
  }
  for (var e = l; e < ${weights}; e += ${threads}) { wsh[e] = wt[e]; }
  workgroupBarrier();
  // Lanes of one pixel group hold consecutive output channels: their stores are contiguous.
  let g = l / ${lanes};
  let q = l - g * ${lanes};
  let c0 = g * ${P * sw};
  let ox = ox0 + g * ${P};
  let out = ((n * params.ho + oy) * params.wo + ox) * ${lanes} + q;
  ${s.bias ? 'let b = bias[q];' : ''}
${lines.join('\n')}
}
`;
}

/**
 * One chunk of samples (gc.n of them) of y = conv2d(x, w) + b, max(·, 0) with `relu`: x and y are
 * the chunk's ranges, w and b whole. `pixels` a thread: rowPatchPixels()'s unless a test asks.
 */
export function rowPatchChunk(gc: ConvGeometry, x: Tensor | Range, w: Tensor | Range, b: Tensor | null, y: Tensor | Range, relu: boolean, pixels = rowPatchPixels()): void {
  const layout = rowPatchLayout(gc, pixels);
  if (!layout) throw new ArgumentError(`conv2d 'row-patch': a ${gc.kh}x${gc.kw} conv over ${gc.cin} channels to ${gc.cout} does not fit ${WORKGROUP_BYTES} bytes of workgroup memory at ${pixels} pixels a thread`);
  const stripsPerRow = Math.ceil(gc.wo / (layout.groups * pixels));
  const strips = gc.n * gc.ho * stripsPerRow;
  const s: Shape = { ...fixedGeometry(gc, b !== null, relu), layout };
  const params = packParams([gc.h, gc.w, gc.ho, gc.wo, stripsPerRow, strips].map(i32));
  dispatchChunk(spec(s), b ? [x, w, b] : [x, w], [y], params, workgroupGrid(strips));
}
