// Batch norm's per-chunk channel sums (batchnorm.ts): a grid of workgroups, CH_LANES channel
// lanes (each 1 channel, or 4 as a vec4) by ROW_LANES row lanes per channel, one workgroup row
// per chunk of rows; the row lanes stride the chunk, so neighbouring threads read neighbouring
// channels and loads coalesce. Two ways to combine the row lanes' sums (BatchnormSumsWay):
// - 'tree': in workgroup memory, one partial per chunk and channel;
// - 'lanes': no workgroup memory; each row lane writes its own partial, ROW_LANES per chunk, and
//   the finish (a thread per channel) adds 8x as many. Dawn zeroes every workgroup's memory at its
//   start, which SwiftShader does slowly (bench/README's SwiftShader section: for a workgroup of
//   256 threads 0.055 ms with a 1 KiB array, 1.3 ms with 16 KiB), so there the sums do without it.

import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { zeroesWorkgroupMemorySlowly } from '../gpu/adapter-kind.js';
import { reluPasses } from './elementwise-math.js';
import { forcedWay } from './forced-way.js';
import { vecType, type VecWidth } from './wgsl.js';

/** Channel lanes per workgroup (each 1 channel, or 4 as a vec4) and row lanes per channel. */
export const CH_LANES: Record<VecWidth, number> = { 1: 32, 4: 8 };
export const ROW_LANES = 8;

/** Per-chunk channel sums. 'mean': Σx. 'var': Σ(x - mean)² and Σ(x - mean). 'grad': Σdy and Σdy * xhat. */
export type SumsMode = 'mean' | 'var' | 'grad';

export type BatchnormSumsWay = 'tree' | 'lanes';

const forced = forcedWay<BatchnormSumsWay>();

/** Runs fn with every batch norm's sums combined `way` (tests and the bench compare the two). */
export const withBatchnormSumsWay = <T>(way: BatchnormSumsWay, fn: () => T): T => forced.with(way, fn);

/**
 * 'lanes' on SwiftShader (zeroesWorkgroupMemorySlowly), 'tree' elsewhere. The bench's batchnorm
 * cases (the U-Net's levels at batch 2 of 32x32, GPU timestamps, 2026-11-28), in Chromium's
 * SwiftShader: 'lanes' took 0.14-0.86 ms against 'tree''s 0.47-1.34, 1.3x to 6.4x faster at every
 * level both ways (the deep levels' few rows most: their time is the zeroing). On lavapipe, three
 * runs: forwards 0.63-1.19x 'tree''s time, backwards 0.76-1.49x (l2's slower in all three), so
 * lavapipe keeps 'tree'. GPUs keep it too: a tree in workgroup memory is cheap there, and fewer
 * partials are written.
 */
export function batchnormSumsWay(): BatchnormSumsWay {
  return forced.current ?? (zeroesWorkgroupMemorySlowly(runtime().ctx.report) ? 'lanes' : 'tree');
}

/** Partials a chunk writes per channel sum: 1 ('tree') or one per row lane ('lanes'). */
export const partialsPerChunk = (way: BatchnormSumsWay): number => (way === 'lanes' ? ROW_LANES : 1);

/**
 * Per-chunk channel sums; params.c counts channels in units of the width (vec4s for width 4).
 * `relu` ('grad' only): the gradient arrives through a fused ReLU, so dy counts only where the
 * forward's output y is positive or NaN (reluPasses, as relu's backward). The partials are
 * [chunks · partialsPerChunk(way), sums, c].
 */
export function sumsSpec(mode: SumsMode, width: VecWidth, relu = false, way: BatchnormSumsWay = 'tree'): KernelSpec {
  const inputs = { mean: ['x'], var: ['x', 'mean'], grad: relu ? ['x', 'dy', 'y', 'mean', 'invStd'] : ['x', 'dy', 'mean', 'invStd'] }[mode];
  const T = vecType(width);
  const dyAt = (at: string) => (relu ? `select(${T}(0.0), dy[${at}], ${reluPasses(`y[${at}]`, vecType(width, 'u32'))})` : `dy[${at}]`);
  const body = {
    mean: 'a0 += x[r * params.c + ch];',
    var: 'let d = x[r * params.c + ch] - mu; a0 += d * d; a1 += d;',
    grad: `let g = ${dyAt('r * params.c + ch')}; a0 += g; a1 += g * (x[r * params.c + ch] - mu) * istd;`,
  }[mode];
  const perChannel = mode === 'mean' ? 1 : 2;
  const lanes = CH_LANES[width];
  const tree = /* wgsl */ `let slot = lid.y * ${lanes}u + lid.x;
  s0[slot] = a0;
  s1[slot] = a1;
  workgroupBarrier();
  for (var h = ${ROW_LANES / 2}u; h > 0u; h >>= 1u) {
    if (lid.y < h) {
      s0[slot] += s0[slot + h * ${lanes}u];
      s1[slot] += s1[slot + h * ${lanes}u];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && ch < params.c) {
    partial[chunk * ${perChannel}u * params.c + ch] = s0[lid.x];
    ${mode === 'mean' ? '' : 'partial[(chunk * 2u + 1u) * params.c + ch] = s1[lid.x];'}
  }`;
  // Row lane y of chunk k writes partial row k·ROW_LANES + y.
  const ownPartials = /* wgsl */ `if (ch < params.c) {
    let row = chunk * ${ROW_LANES}u + lid.y;
    partial[row * ${perChannel}u * params.c + ch] = a0;
    ${mode === 'mean' ? '' : 'partial[(row * 2u + 1u) * params.c + ch] = a1;'}
  }`;
  return {
    name: 'batchnorm.sums',
    key: `${mode}${relu ? 'Relu' : ''}c${lanes}r${ROW_LANES}w${width}${way}`,
    inputs: inputs.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { rows: u32, c: u32, rowsPerChunk: u32 }
${inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${T}>;`).join('\n')}
@group(0) @binding(${inputs.length}) var<storage, read_write> partial: array<${T}>;
@group(0) @binding(${inputs.length + 1}) var<uniform> params: Params;
${way === 'tree' ? `var<workgroup> s0: array<${T}, ${lanes * ROW_LANES}>;\nvar<workgroup> s1: array<${T}, ${lanes * ROW_LANES}>;` : ''}
@compute @workgroup_size(${lanes}, ${ROW_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let ch = wid.x * ${lanes}u + lid.x;
  let chunk = wid.y;
  let r1 = min((chunk + 1u) * params.rowsPerChunk, params.rows);
  var a0 = ${T}(0.0);
  var a1 = ${T}(0.0);
  if (ch < params.c) {
    ${mode === 'mean' ? '' : 'let mu = mean[ch];'}
    ${mode === 'grad' ? 'let istd = invStd[ch];' : ''}
    for (var r = chunk * params.rowsPerChunk + lid.y; r < r1; r += ${ROW_LANES}u) {
      ${body}
    }
  }
  ${way === 'tree' ? tree : ownPartials}
}`,
  };
}
