// conv2d's forward for convs with few inputs a pixel ('channel-lanes'): a lane per 4 output
// channels and a strip of P output pixels of a row, its K·Cin weights held in registers. Made for
// the first conv of VGG16 and of the U-Net (3x3 over 3 channels: K·Cin = 27), whose output is the
// largest tensor of either model.
//
// Why: there the implicit GEMM has a K of 27, too short for its tiles to amortise their staging,
// and the uniform-weights kernel (conv2d-uniform-weights.ts), a thread per pixel and every channel,
// stores a thread's 16 vec4s 256 bytes apart across a warp's lanes. On an H200 (2026-11-27)
// VGG16's conv1_1 ran at 24% of the FMA peak by the GEMM (0.49 ms, its floors 0.12 ms of compute
// and 0.14 ms of stores) and slower by the other kernels. Here the lanes of one strip hold
// consecutive output channels, so each store instruction writes Cout·4 contiguous bytes (256 at
// Cout = 64); the lanes of a strip read the same input value at the same moment (one cached load,
// broadcast), and walking the strip's input columns once, each value loaded feeds every pixel
// whose window covers it: about kh·Cin loads a pixel (9 at conv1_1) for K·Cin vec4 multiply-adds
// (27). No workgroup memory, no barriers.
//
// On an H200 (2026-11-28, run 11) it ran conv1_1 in 0.389 ms, faster than the implicit GEMM
// (0.488) but slower than the row-patch kernel (0.289, conv2d-row-patch.ts), which the GPU rule
// picks there; the benchmark times it beside every forward it fits, and tuneConvs on GPUs times it
// too. On lavapipe it lost:
// conv1_1 at scale 8 took 2.52 ms against the implicit GEMM's 0.99 (GPU timestamps, `dawnet bench
// --group conv2d --only conv2d.forward/vgg-conv1_1`, 2026-11-27), likely for its registers: 35
// vec4s live a lane, which LLVM spills when it runs 8 lanes in a 256-bit register.

import { packParams, i32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import type { Range } from './chunking.js';
import { dispatchChunk } from './chunking.js';
import { fixedGeometry, type ConvDirection, type FixedGeometry } from './conv2d-gemm-common.js';
import type { ConvGeometry } from './conv2d.js';
import { reluKeepingNan } from './elementwise-math.js';
import { linearGrid, LINEAR_MAIN_ARGS, linearIndex } from './wgsl.js';
import type { Tensor } from '../graph/tensor.js';

/**
 * Most weights a lane holds (K·Cin vec4s): 36 vec4s are 144 floats, with P vec4 accumulators within
 * a GPU thread's 255 registers; 3x3 over up to 4 channels, 1x1 over up to 36.
 */
export const CHANNEL_LANES_MAX_TAPS = 36;
/**
 * Output pixels a lane's strip covers: enough that each input column loaded serves several pixels
 * (kw of them), few enough that the accumulators stay in a GPU thread's registers beside the
 * weights (8 vec4s). On lavapipe 16 ran 1.13x faster than 8 and 4 1.6x slower (wall clock), but
 * 16's code takes LLVM twice as long to compile, and no rule or default tuning picks the kernel
 * there.
 */
export const CHANNEL_LANES_PIXELS = 8;
const WG = 64;

/** Whether the forward of `g` can run by this kernel: output channels in vec4s, K·Cin within CHANNEL_LANES_MAX_TAPS. */
export function channelLanesFits(dir: ConvDirection, g: ConvGeometry): boolean {
  return dir === 'forward' && g.cout % 4 === 0 && g.kh * g.kw * g.cin <= CHANNEL_LANES_MAX_TAPS;
}

interface Shape extends FixedGeometry {
  pixels: number;
}

function spec(s: Shape): KernelSpec {
  const key = [s.kh, s.kw, s.cin, s.cout, s.sh, s.sw, s.padTop, s.padLeft, s.pixels, +s.bias, +s.relu].join(',');
  return { name: 'conv2d.forwardChannelLanes', key, inputs: s.bias ? 3 : 2, outputs: 1, wgsl: () => wgsl(s) };
}

/**
 * The multiply-adds of kernel row `i`: the strip's input columns in order, each column's Cin values
 * loaded once (0 in the padding or past the row) and added into every pixel p whose window holds
 * that column (tap j = column − p·sw within 0..kw−1).
 */
function kernelRow(s: Shape, i: number, lines: string[]): void {
  const { kw, cin, sw, padLeft, pixels: P } = s;
  const columns = (P - 1) * sw + kw;
  for (let col = 0; col < columns; col++) {
    const users: [number, number][] = [];
    for (let p = 0; p < P; p++) {
      const j = col - p * sw;
      if (j >= 0 && j < kw) users.push([p, j]);
    }
    if (!users.length) continue;
    lines.push(`    {`);
    lines.push(`      let ix = ox0 * ${sw} - ${padLeft} + ${col};`);
    lines.push(`      let ok = ix >= 0 && ix < params.w;`);
    lines.push(`      let at = select(0, (rowBase + ix) * ${cin}, ok);`);
    for (let ci = 0; ci < cin; ci++) {
      lines.push(`      let v${ci} = vec4<f32>(select(0.0, x[at + ${ci}], ok));`);
      for (const [p, j] of users) lines.push(`      a${p} = fma(v${ci}, w${(i * kw + j) * cin + ci}, a${p});`);
    }
    lines.push(`    }`);
  }
}

/** The stores of the strip's pixels inside the row, with the bias and the fused ReLU (NaN kept, as relu's). */
function stores(s: Shape, lines: string[]): void {
  for (let p = 0; p < s.pixels; p++) {
    let v = `a${p}`;
    if (s.bias) v = `${v} + b`;
    if (s.relu) v = reluKeepingNan(`(${v})`, 'vec4<f32>');
    lines.push(`  if (ox0 + ${p} < params.wo) { y[out + ${p * (s.cout / 4)}] = ${v}; }`);
  }
}

/**
 * The kernel's WGSL: x as floats (Cin is small and need not be a multiple of 4), the weights
 * w[kh][kw][Cin][Cout] as vec4s along Cout, so that weight (tap, ci) of lane q is
 * wt[(tap·Cin + ci)·Cout/4 + q], and the strip's lanes read one contiguous run of them.
 */
function wgsl(s: Shape): string {
  const { kh, kw, cin, sh, padTop } = s;
  const c4 = s.cout / 4;
  const lines: string[] = [];
  for (let r = 0; r < kh * kw * cin; r++) lines.push(`  let w${r} = wt[${r * c4} + q];`);
  for (let p = 0; p < s.pixels; p++) lines.push(`  var a${p} = vec4<f32>(0.0);`);
  if (s.bias) lines.push(`  let b = bias[q];`);
  for (let i = 0; i < kh; i++) {
    lines.push(`  {`);
    lines.push(`    let iy = oy * ${sh} - ${padTop} + ${i};`);
    lines.push(`    if (iy >= 0 && iy < params.h) {`);
    lines.push(`    let rowBase = (n * params.h + iy) * params.w;`);
    kernelRow(s, i, lines);
    lines.push(`    }`);
    lines.push(`  }`);
  }
  lines.push(`  let out = ((n * params.ho + oy) * params.wo + ox0) * ${c4} + q;`);
  stores(s, lines);
  return /* wgsl */ `
struct Params { h: i32, w: i32, ho: i32, wo: i32, stripsPerRow: i32, lanes: i32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<vec4<f32>>;
${s.bias ? '@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;' : ''}
@group(0) @binding(${s.bias ? 3 : 2}) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(${s.bias ? 4 : 3}) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let lane = i32(${linearIndex(WG)});
  if (lane >= params.lanes) { return; }
  // The output channels vary fastest across lanes: a strip's lanes store one contiguous run.
  let strip = lane / ${c4};
  let q = lane - strip * ${c4};
  let row = strip / params.stripsPerRow;
  let ox0 = (strip - row * params.stripsPerRow) * ${s.pixels};
  let oy = row % params.ho;
  let n = row / params.ho;
${lines.join('\n')}
}
`;
}

/**
 * One chunk of samples (gc.n of them) of y = conv2d(x, w) + b, max(·, 0) with `relu`: x and y are
 * the chunk's ranges, w and b whole. `pixels` a strip: CHANNEL_LANES_PIXELS unless a test asks.
 */
export function channelLanesChunk(gc: ConvGeometry, x: Tensor | Range, w: Tensor | Range, b: Tensor | null, y: Tensor | Range, relu: boolean, pixels = CHANNEL_LANES_PIXELS): void {
  const stripsPerRow = Math.ceil(gc.wo / pixels);
  const lanes = gc.n * gc.ho * stripsPerRow * (gc.cout / 4);
  const s: Shape = { ...fixedGeometry(gc, b !== null, relu), pixels };
  const params = packParams([gc.h, gc.w, gc.ho, gc.wo, stripsPerRow, lanes].map(i32));
  dispatchChunk(spec(s), b ? [x, w, b] : [x, w], [y], params, linearGrid(lanes, WG));
}
