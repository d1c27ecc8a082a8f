// conv2d's forward with the weights in a uniform buffer ('uniform-weights'), for convs whose
// weights are small (K·Cout floats within maxUniformBufferBindingSize, 64 KiB on most adapters)
// and whose output channels fit one thread's accumulators (Cout ≤ 64, a multiple of 4): VGG16's
// first conv (K = 27, Cout = 64) and the U-Net's first level (K = 288, Cout = 32).
//
// Why: such a conv's GEMM has a short K (27 at VGG's conv1_1) or few columns, so the implicit-GEMM
// tiles spend much of their time staging operands and writing tiles rather than multiplying; on an
// H200 conv1_1 ran at 19.4% of the FMA peak. Here each thread owns P adjacent output pixels of a row
// and every output channel, and walks K: for each input value it loads, it adds x · w[k][co] into
// P·Cout/4 vec4 accumulators. Every thread of a workgroup reads the same weight at the same
// moment, which is what a uniform buffer is for: GPUs serve it from a constant cache as one
// broadcast, and where the index is a compile-time constant (the taps unrolled, as at conv1_1) an
// FMA can take it as an operand with no load at all. The input comes through the ordinary cache,
// neighbouring threads reading overlapping patches. No workgroup memory, no barriers.
//
// On an H200 (2026-11-27, bench/results/nvidia-h200-2026-11-27) it lost at both convs it was
// aimed at: VGG16's conv1_1 took 0.62 ms at its default 2 pixels a thread (0.55 at 1, 1.08 at 4)
// against the implicit GEMM's 0.49, and U-Net l1 0.79 ms at 4 (1.19 at 2, 4.7-5.2 at 1 and 8)
// against Winograd's 0.61. So no rule picks it; setConvAlgorithm('uniform-weights') forces it,
// tuneConvs times it where it fits, and the benchmark times it beside every conv forward it fits.
// A guess at why, for whoever takes it up: a thread's Cout/4 vec4 stores land 256 bytes apart
// across a warp's lanes (one pixel's 64 channels a lane), so no store instruction is coalesced; a
// lane per 4 output channels (16 lanes a pixel, the weights in a storage buffer since the lanes
// would read 16 addresses of a uniform one) would write 512 contiguous bytes a warp.

import { ArgumentError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import { deviceSetting } from '../gpu/device-setting.js';
import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import type { Range } from './chunking.js';
import { dispatchChunk } from './chunking.js';
import { fixedGeometry, type ConvDirection, type FixedGeometry } from './conv2d-gemm-common.js';
import type { ConvGeometry } from './conv2d.js';
import { reluKeepingNan } from './elementwise-math.js';
import { linearGrid, LINEAR_MAIN_ARGS, linearIndex } from './wgsl.js';
import type { Tensor } from '../graph/tensor.js';

/** Most output channels one thread accumulates (16 vec4s a pixel). */
export const UNIFORM_WEIGHTS_MAX_COUT = 64;
/** vec4 accumulators a thread holds at most (P pixels × Cout/4): 128 floats, within a GPU thread's registers. */
const MAX_ACCUMULATORS = 32;
/** Above this many vec4 multiply-add statements the kernel loops over taps instead of unrolling them. */
const MAX_UNROLLED = 2048;
const WG = 64;

/** Whether the forward of `g` can run with its weights in a uniform buffer on this device. */
export function uniformWeightsFits(dir: ConvDirection, g: ConvGeometry): boolean {
  if (dir !== 'forward' || g.cout % 4 !== 0 || g.cout > UNIFORM_WEIGHTS_MAX_COUT) return false;
  return g.kh * g.kw * g.cin * g.cout * 4 <= runtime().limits.maxUniformBufferBindingSize;
}

/**
 * How the kernel's code is laid out: `pixels` output pixels a thread (P), and whether the taps
 * are unrolled (every weight index a constant) or walked by a loop.
 */
export interface UniformWeightsLayout {
  pixels: number;
  unrollTaps: boolean;
}

/**
 * The layout for `g` on this device. GPUs: as many pixels as keep P·Cout/4 vec4 accumulators
 * within MAX_ACCUMULATORS (at most 8), the taps unrolled up to MAX_UNROLLED multiply-add
 * statements. CPU adapters, where no rule or default tuning picks this kernel: one pixel and a
 * loop over taps, since lavapipe's LLVM took 12-120 s to compile the GPU layouts of small convs
 * (a few thousand vec4 multiply-adds in straight lines) and would only run them slower.
 */
export function uniformWeightsLayout(g: ConvGeometry, cpu = isCpuAdapterReport(runtime().ctx.report)): UniformWeightsLayout {
  const forced = pixelsSetting.get();
  if (cpu) return { pixels: forced ?? 1, unrollTaps: false };
  const pixels = forced ?? defaultPixels(g.cout);
  return { pixels, unrollTaps: g.kh * g.kw * g.cin * (g.cout / 4) * pixels <= MAX_UNROLLED };
}

/** GPUs' pixels a thread for `cout` outputs: as many as keep the accumulators within MAX_ACCUMULATORS vec4s, 1 to 8. */
const defaultPixels = (cout: number): number => Math.max(1, Math.min(8, Math.floor(MAX_ACCUMULATORS / (cout / 4))));

const pixelsSetting = deviceSetting<number>();

/**
 * Runs the kernel with `pixels` output pixels a thread on this device (null restores the choice by
 * Cout): for the benchmark, which times other counts beside the default on GPUs, where the
 * register budget that decides the best count is the GPU's to say.
 */
export function setUniformWeightsPixels(pixels: number | null): void {
  if (pixels !== null && !(Number.isInteger(pixels) && pixels >= 1 && pixels <= 16)) throw new ArgumentError(`setUniformWeightsPixels: expected a whole number from 1 to 16 or null, got ${describeValue(pixels)} (pixels a thread)`);
  pixelsSetting.set(pixels);
}

/**
 * The other pixel counts worth timing for `cout` outputs: 1 to 8 whose accumulators stay within
 * twice MAX_ACCUMULATORS (the larger ones to see where spilling starts), the default left out.
 */
export function pixelVariants(cout: number): number[] {
  return [1, 2, 4, 8].filter((p) => p !== defaultPixels(cout) && p * (cout / 4) <= 2 * MAX_ACCUMULATORS);
}

interface Shape extends FixedGeometry {
  pixels: number;
  unrollTaps: boolean;
}

function spec(s: Shape): KernelSpec {
  const key = [s.kh, s.kw, s.cin, s.cout, s.sh, s.sw, s.padTop, s.padLeft, s.pixels, +s.unrollTaps, +s.bias, +s.relu].join(',');
  return { name: 'conv2d.forwardUniformWeights', key, inputs: s.bias ? 3 : 2, outputs: 1, uniformInputs: [1], wgsl: () => wgsl(s) };
}

const acc = (p: number, c: number) => `a${p}_${c}`;

/** Lines of WGSL, each at an indent. */
type Emit = (indent: string, line: string) => void;

/**
 * One tap (i, j) of P pixels: their input offsets (0 where the tap falls in the padding or past
 * the row), then per input value the P loads and Cout/4 weights, each weight feeding P
 * multiply-adds. `tap` is a WGSL expression for i·kw + j, a constant where the taps are unrolled.
 * Blocks keep each load's and each weight's names local (WGSL has no redeclaration in a scope).
 */
function tapBody(s: Shape, emit: Emit, indent: string, j: string, tap: string): void {
  const { cin, sw, padLeft, pixels: P } = s;
  const c4 = s.cout / 4;
  const vecIn = cin % 4 === 0;
  const loadsPerPixel = vecIn ? cin / 4 : cin;
  for (let p = 0; p < P; p++) {
    emit(indent, `let ix${p} = (ox0 + ${p}) * ${sw} - ${padLeft} + ${j};`);
    emit(indent, `let ok${p} = ix${p} >= 0 && ix${p} < params.w && ox0 + ${p} < params.wo;`);
    emit(indent, `let at${p} = select(0, (rowBase + ix${p}) * ${loadsPerPixel}, ok${p});`);
  }
  for (let l = 0; l < loadsPerPixel; l++) {
    emit(indent, `{`);
    for (let p = 0; p < P; p++) emit(indent + '  ', `let x${p} = select(${vecIn ? 'vec4<f32>' : 'f32'}(0.0), x[at${p} + ${l}], ok${p});`);
    const comps = vecIn ? ['.x', '.y', '.z', '.w'] : [''];
    comps.forEach((comp, q) => {
      const ci = vecIn ? 4 * l + q : l;
      emit(indent + '  ', `{`);
      for (let c = 0; c < c4; c++) {
        emit(indent + '    ', `let w${c} = wt[${tap} * ${cin * c4} + ${ci * c4 + c}];`);
        for (let p = 0; p < P; p++) emit(indent + '    ', `${acc(p, c)} = fma(vec4<f32>(x${p}${comp}), w${c}, ${acc(p, c)});`);
      }
      emit(indent + '  ', `}`);
    });
    emit(indent, `}`);
  }
}

/** The taps, unrolled (each row's bounds checked once) or as two loops, rows outside the image skipped. */
function taps(s: Shape, emit: Emit): void {
  const { kh, kw, sh, padTop } = s;
  if (s.unrollTaps) {
    for (let i = 0; i < kh; i++) {
      emit('  ', `{`);
      emit('    ', `let iy = oy * ${sh} - ${padTop} + ${i};`);
      emit('    ', `if (iy >= 0 && iy < params.h) {`);
      emit('      ', `let rowBase = (n * params.h + iy) * params.w;`);
      for (let j = 0; j < kw; j++) {
        emit('      ', `{`);
        tapBody(s, emit, '        ', String(j), String(i * kw + j));
        emit('      ', `}`);
      }
      emit('    ', `}`);
      emit('  ', `}`);
    }
    return;
  }
  emit('  ', `for (var i = 0; i < ${kh}; i++) {`);
  emit('    ', `let iy = oy * ${sh} - ${padTop} + i;`);
  emit('    ', `if (iy < 0 || iy >= params.h) { continue; }`);
  emit('    ', `let rowBase = (n * params.h + iy) * params.w;`);
  emit('    ', `for (var j = 0; j < ${kw}; j++) {`);
  emit('      ', `let tap = i * ${kw} + j;`);
  tapBody(s, emit, '      ', 'j', 'tap');
  emit('    ', `}`);
  emit('  ', `}`);
}

/** The P pixels' stores (those inside the row), with the bias and the fused ReLU (NaN kept, as relu's). */
function stores(s: Shape, emit: Emit): void {
  const c4 = s.cout / 4;
  for (let p = 0; p < s.pixels; p++) {
    emit('  ', `if (ox0 + ${p} < params.wo) {`);
    emit('    ', `let o${p} = ((n * params.ho + oy) * params.wo + ox0 + ${p}) * ${c4};`);
    for (let c = 0; c < c4; c++) {
      let v = acc(p, c);
      if (s.bias) v = `${v} + bias[${c}]`;
      if (s.relu) {
        emit('    ', `let preRelu${c} = ${v};`);
        v = reluKeepingNan(`preRelu${c}`, 'vec4<f32>');
      }
      emit('    ', `y[o${p} + ${c}] = ${v};`);
    }
    emit('  ', `}`);
  }
}

/**
 * The kernel's WGSL. x is bound as vec4s where Cin is a multiple of 4 (one load for four
 * channels), else as floats (VGG's three). The weights are w[kh][kw][Cin][Cout] as vec4s along Cout,
 * so weight (tap, ci, co4) is wt[(tap·Cin + ci)·Cout/4 + co4].
 */
function wgsl(s: Shape): string {
  const { kh, kw, cin } = s;
  const c4 = s.cout / 4;
  const xType = cin % 4 === 0 ? 'vec4<f32>' : 'f32';
  const lines: string[] = [];
  const emit: Emit = (indent, l) => lines.push(indent + l);
  for (let p = 0; p < s.pixels; p++) for (let c = 0; c < c4; c++) emit('  ', `var ${acc(p, c)} = vec4<f32>(0.0);`);
  taps(s, emit);
  stores(s, emit);
  const nw = kh * kw * cin * c4;
  return /* wgsl */ `
struct Params { h: i32, w: i32, ho: i32, wo: i32, stripsPerRow: i32, strips: i32 }
@group(0) @binding(0) var<storage, read> x: array<${xType}>;
@group(0) @binding(1) var<uniform> wt: array<vec4<f32>, ${nw}>;
${s.bias ? '@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;' : ''}
@group(0) @binding(${s.bias ? 3 : 2}) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(${s.bias ? 4 : 3}) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let strip = i32(${linearIndex(WG)});
  if (strip >= params.strips) { return; }
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
 * the chunk's ranges, b whole, w whole or one range (Winograd's U[ξ], conv2d-winograd-run.ts). `layout` overrides uniformWeightsLayout's (tests: the GPU
 * layouts on a CPU adapter).
 */
export function uniformWeightsChunk(gc: ConvGeometry, x: Tensor | Range, w: Tensor | Range, b: Tensor | null, y: Tensor | Range, relu: boolean, layout = uniformWeightsLayout(gc)): void {
  const { pixels, unrollTaps } = layout;
  const stripsPerRow = Math.ceil(gc.wo / pixels);
  const strips = gc.n * gc.ho * stripsPerRow;
  const s: Shape = { ...fixedGeometry(gc, b !== null, relu), pixels, unrollTaps };
  const params = packParams([gc.h, gc.w, gc.ho, gc.wo, stripsPerRow, strips].map(i32));
  dispatchChunk(spec(s), b ? [x, w, b] : [x, w], [y], params, linearGrid(strips, WG));
}
