// Winograd F(2x2, 3x3) in one kernel ('winograd-f2'), for 3x3 stride-1 forwards and backward
// inputs whose output channels come in 32s: each 2x2 block of outputs is Aᵀ [Σ_c U_c ⊙ V_c] A
// with V = Bᵀ d B of its 4x4 input patch and U = G g Gᵀ, 16 GEMMs (one per transform position ξ)
// of 4/9 the direct multiply-adds, V and M never reaching memory.
//
// Why another fused kernel: at the U-Net's first level (batch 16, 256x256, 32 -> 32) the staged
// F(4x4) Winograd moves 1.2 GB of V and M and sits at 0.61 ms on an H200, its memory floor 0.37;
// the fused F(4x4) kernel (conv2d-winograd-fused.ts) moves none of it but ran at about a tenth of
// the FMA peak (0.72 ms): each thread holds one block's 36 positions for 4 channels, 144
// accumulators, and per input channel reads 36 values of V and 36 vec4s of U for 36 vec4
// multiply-adds. F(2x2) has 16 positions, which a workgroup of 256 threads splits one per 16
// threads: each thread owns one ξ and a register tile of 8 blocks × 8 output channels, like a
// GEMM's, and per input channel reads 2 vec4s of V and 2 of U for 16 vec4 multiply-adds. It does
// 1.78x the multiply-adds of F(4x4) (16 per 4 outputs against 36 per 16), 4/9 of direct's.
//
// A workgroup owns 32 consecutive blocks and 32 output channels and walks the input channels CK at
// a time: it stages V (its threads transform the 32 blocks' 4x4 patches) and the slice of U
// (transformed once per conv, as the staged kernels do) in workgroup memory, then each thread
// multiplies. After the last slice the threads hand M through workgroup memory, 8 channels a round,
// and 64 threads apply Aᵀ M A, the bias and the fused ReLU and store 2x2 pixels as vec4s.
//
// Accuracy: Bᵀ and Aᵀ hold only 0 and ±1 and G halves, where F(4x4)'s scale by up to 5 and 8; the
// tests hold it to the staged F(4x4)'s tolerance (test/helpers/close.ts winogradTolerance).
//
// On an H200 (2026-11-28, runs 11 and 13, bench/results/nvidia-h200-2026-11-28/) it lost at every
// conv it fits: U-Net l1 0.969 ms with 8-channel slices and 0.775 with 4 (18% of the FMA peak on
// its own multiply-adds), against the staged F(4x4)'s 0.604; l2 0.698 against 0.374; l3-l5
// 0.85-0.88 against 0.24-0.26. So no rule picks it; the benchmark times it beside every conv it
// fits and tuneConvs on GPUs times it too. What holds it at 18% is not established (see
// bench/README.md's H200 section for the candidates).

import { deviceSetting } from '../gpu/device-setting.js';
import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, part, planned } from './chunking.js';
import type { ConvGeometry } from './conv2d.js';
import { rep } from './conv2d-gemm-common.js';
import { dispatchFused, fusedBindings, gWeightTransformSpec, patchCorner, patchOrigin, sandwich, winogradPlan } from './conv2d-winograd.js';
import { reluKeepingNan } from './elementwise-math.js';
import { linearGrid } from './wgsl.js';

/** Outputs per block side, transform side, and transform positions. */
const M2 = 2;
const A2 = 4;
const XI2 = A2 * A2;

/** Bᵀ (4x4), G (4x3) and Aᵀ (2x4) of F(2x2, 3x3) (Lavin and Gray, 2016). */
export const WINO2_BT: readonly (readonly number[])[] = [
  [1, 0, -1, 0],
  [0, 1, 1, 0],
  [0, -1, 1, 0],
  [0, 1, 0, -1],
];
export const WINO2_G: readonly (readonly number[])[] = [
  [1, 0, 0],
  [1 / 2, 1 / 2, 1 / 2],
  [1 / 2, -1 / 2, 1 / 2],
  [0, 0, 1],
];
export const WINO2_AT: readonly (readonly number[])[] = [
  [1, 1, 1, 0],
  [0, 1, -1, -1],
];

/** Blocks and output channels per workgroup, and a thread's register tile (blocks × channels). */
const BLOCKS = 32;
const CHANNELS = 32;
const TILE = 8;
const THREADS = XI2 * (BLOCKS / TILE) * (CHANNELS / TILE);
/** Workgroup memory every adapter offers: M's hand-over takes all of it (16 ξ × 32 blocks × 8 channels). */
const HANDOVER_BYTES = XI2 * BLOCKS * TILE * 4;

/** Whether the kernel runs a Winograd conv of `n` output channels (its GEMM's N): whole workgroups of 32. */
export const winograd2Fits = (n: number): boolean => n % CHANNELS === 0;

/**
 * V's staging: a row of 32 blocks per channel, padded to 9 vec4s (36 words) so that the 8 channels
 * of one block that neighbouring threads write land in 8 banks 4 apart (unpadded, all in one
 * bank), its vec4 reads staying aligned; and a vec4 more per ξ, which staggers the banks that the
 * GEMM's two ξ a warp read. U's: 8 vec4s of channels per input channel, a vec4 more per ξ.
 */
const V_ROW = BLOCKS / 4 + 1;
const vStride = (ck: number): number => ck * V_ROW + 1;
const uStride = (ck: number): number => (ck * CHANNELS) / 4 + 1;
const stagingBytes = (ck: number): number => XI2 * (vStride(ck) + uStride(ck)) * 16;

const SLICE_DEPTHS = [8, 4, 2];
const depthSetting = deviceSetting<number>();
const fitting = (limit: number): number[] => SLICE_DEPTHS.filter((ck) => Math.max(stagingBytes(ck), HANDOVER_BYTES) <= limit);

/**
 * Input channels a slice on this device (or the override): 4 where its staging fits (17.5 KiB),
 * else 2. On an H200 4 ran U-Net l1 in 0.80x the time of 8 (2026-11-28, run 12, timed cold; the
 * bench in runs 11 and 13: 0.969 ms at 8, 0.775 at 4), whose staging (34.5 KiB; 33 when timed)
 * leaves fewer workgroups an SM; setWinograd2SliceDepth(8) runs 8.
 */
export function winograd2SliceDepth(): number {
  const rt = runtime();
  return depthSetting.get() ?? (fitting(rt.limits.maxComputeWorkgroupStorageSize).includes(4) ? 4 : 2);
}

/** Forces the slice depth on this device (tests: the staging of another adapter), one that fits its workgroup memory; null restores it. */
export function setWinograd2SliceDepth(ck: number | null): void {
  const fits = fitting(runtime().limits.maxComputeWorkgroupStorageSize);
  if (ck !== null && !fits.includes(ck)) throw new RangeError(`setWinograd2SliceDepth: ${ck} channels a slice; this device takes ${fits.join(', ')}`);
  depthSetting.set(ck);
}

const prefetchSetting = deviceSetting<boolean>();
/** Sets whether the next slice's reads are issued before the current one's GEMM (the benchmark's probes; null restores false). */
export const setWinograd2Prefetch = (on: boolean | null): void => prefetchSetting.set(on);
const prefetching = (): boolean => prefetchSetting.get() ?? false;

/**
 * Staging of V: pair p of the slice (channel p mod CK of block p / CK), its 4x4 patch transformed
 * into sh. Neighbouring threads take neighbouring channels of one block: their global reads are
 * adjacent, and V's padded rows keep their workgroup writes in distinct banks. The other way
 * round (neighbouring blocks of one channel, unpadded rows) ran 1.2-1.5x slower on an H200
 * (2026-11-28, run 12, at U-Net l1 and l2), when the rows were unpadded and these writes landed
 * CK·32 words apart, in one bank; the padding came after that run and is not yet timed.
 */
function stageV(ck: number): string {
  const stride = vStride(ck);
  return `${patchOrigin(ck, M2)}
      ${rep(XI2, (e) => {
        const [r, q] = [Math.floor(e / A2), e % A2];
        return `var d${r}_${q} = 0.0;
      if (inH${r} && inW${q}) { d${r}_${q} = src[(base + (h0 + ${r}) * params.w + w0 + ${q}) * params.k + ci]; }`;
      }, '\n      ')}
      ${sandwich(WINO2_BT, WINO2_BT, 'd', 'e', 'x', 'f32').replace(/\n {2}/g, '\n      ')}
      let at = c * ${V_ROW} + tb / 4;
      let lane = tb % 4;
      ${rep(XI2, (xi) => `sh[${xi * stride} + at][lane] = x${Math.floor(xi / A2)}_${xi % A2};`, '\n      ')}`;
}

/**
 * The GEMM of one staged slice: per channel, the thread's 8 blocks (a0, a1) and 8 output channels
 * (b0, b1) of its ξ, 16 vec4 multiply-adds into acc{block}_{channel vec4}.
 */
function multiplySlice(ck: number): string {
  const madds = rep(TILE * 2, (i) => {
    const [j, v] = [i >> 1, i & 1];
    return `acc${j}_${v} = fma(vec4<f32>(a${j >> 2}.${'xyzw'[j & 3]}), b${v}, acc${j}_${v});`;
  }, '\n      ');
  return `    for (var c = 0; c < ${ck}; c++) {
      let a0 = sh[vAt + c * ${V_ROW}];
      let a1 = sh[vAt + c * ${V_ROW} + 1];
      let b0 = sh[uAt + c * ${CHANNELS / 4}];
      let b1 = sh[uAt + c * ${CHANNELS / 4} + 1];
      ${madds}
    }`;
}

/** The slices, each staged (global reads, transform, workgroup writes) then multiplied. */
function plainSlices(ck: number): string {
  const stride = uStride(ck);
  const uBase = XI2 * vStride(ck);
  const uVec4s = XI2 * ck * (CHANNELS / 4);
  return `  for (var ci0 = 0; ci0 < params.k; ci0 += ${ck}) {
    for (var p = l; p < ${BLOCKS * ck}; p += ${THREADS}) {
      ${stageV(ck)}
    }
    // U's slice: (ξ, c, 8 vec4s of channels), zeros past K.
    for (var e = l; e < ${uVec4s}; e += ${THREADS}) {
      let q = e % ${CHANNELS / 4};
      let c = (e / ${CHANNELS / 4}) % ${ck};
      let x = e / ${ck * (CHANNELS / 4)};
      var val = vec4<f32>(0.0);
      if (ci0 + c < params.k) { val = u[(x * params.k + ci0 + c) * params.n4 + co4 + q]; }
      sh[${uBase} + x * ${stride} + c * ${CHANNELS / 4} + q] = val;
    }
    workgroupBarrier();
${multiplySlice(ck)}
    workgroupBarrier();
  }`;
}

/**
 * The slices with the next one's reads in flight during the current one's multiply-adds: each
 * thread holds its block's 16 patch values and its vec4s of U in registers, writes them (V
 * transformed) after the barrier that ends the last slice's GEMM, then issues the next reads and
 * multiplies. Every thread stages at most one (block, channel) pair: BLOCKS·CK <= THREADS.
 */
function prefetchedSlices(ck: number): string {
  const [vs, us] = [vStride(ck), uStride(ck)];
  const uBase = XI2 * vs;
  const uPer = (XI2 * ck * (CHANNELS / 4)) / THREADS;
  const load = (ci0: string) => `{
      let ci = ${ci0} + c;
      let live = staging && ci < params.k;
      ${rep(XI2, (e) => {
        const [r, q] = [Math.floor(e / A2), e % A2];
        return `d${r}_${q} = 0.0;
      if (live && inH${r} && inW${q}) { d${r}_${q} = src[(base + (h0 + ${r}) * params.w + w0 + ${q}) * params.k + ci]; }`;
      }, '\n      ')}
      ${rep(uPer, (j) => `uv${j} = vec4<f32>(0.0);
      if (${ci0} + uc${j} < params.k) { uv${j} = u[(ux${j} * params.k + ${ci0} + uc${j}) * params.n4 + co4 + uq${j}]; }`, '\n      ')}
    }`;
  return `  let staging = l < ${BLOCKS * ck};
  let c = l % ${ck};
  let tb = min(l / ${ck}, ${BLOCKS - 1});
  let t = t0 + tb;
  ${patchCorner('t', M2)}
  ${rep(A2, (r) => `let inH${r} = t < params.blocks && h0 + ${r} >= 0 && h0 + ${r} < params.h;`)}
  ${rep(A2, (q) => `let inW${q} = w0 + ${q} >= 0 && w0 + ${q} < params.w;`)}
  let vStore = c * ${V_ROW} + tb / 4;
  let vLane = tb % 4;
  ${rep(uPer, (j) => `let uq${j} = (l + ${j * THREADS}) % ${CHANNELS / 4};
  let uc${j} = ((l + ${j * THREADS}) / ${CHANNELS / 4}) % ${ck};
  let ux${j} = (l + ${j * THREADS}) / ${ck * (CHANNELS / 4)};`)}
  ${rep(XI2, (e) => `var d${Math.floor(e / A2)}_${e % A2} = 0.0;`)}
  ${rep(uPer, (j) => `var uv${j} = vec4<f32>(0.0);`)}
  ${load('0')}
  for (var ci0 = 0; ci0 < params.k; ci0 += ${ck}) {
    if (staging) {
      ${sandwich(WINO2_BT, WINO2_BT, 'd', 'e', 'x', 'f32').replace(/\n {2}/g, '\n      ')}
      ${rep(XI2, (xi) => `sh[${xi * vs} + vStore][vLane] = x${Math.floor(xi / A2)}_${xi % A2};`, '\n      ')}
    }
    ${rep(uPer, (j) => `sh[${uBase} + ux${j} * ${us} + uc${j} * ${CHANNELS / 4} + uq${j}] = uv${j};`, '\n    ')}
    workgroupBarrier();
    if (ci0 + ${ck} < params.k) ${load(`(ci0 + ${ck})`)}
${multiplySlice(ck)}
    workgroupBarrier();
  }`;
}

function kernelSpec(ck: number, prefetch: boolean, hasBias: boolean, relu: boolean): KernelSpec {
  const uBase = XI2 * vStride(ck);
  const shVec4s = Math.max(stagingBytes(ck), HANDOVER_BYTES) / 16;
  // The thread's tile: blocks bg·8 .. bg·8 + 7 (a0, a1), channels cg·8 .. cg·8 + 7 (b0, b1).
  const accs = rep(TILE * 2, (i) => `var acc${i >> 1}_${i & 1} = vec4<f32>(0.0);`);
  return {
    name: 'conv2d.winograd2Fused',
    key: `ck${ck}${prefetch ? 'p' : ''}${hasBias ? 'b' : ''}${relu ? 'relu' : ''}`,
    inputs: hasBias ? 3 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${fusedBindings(hasBias)}
var<workgroup> sh: array<vec4<f32>, ${shVec4s}>;
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let l = i32(lidx);
  let t0 = (g / params.coTiles) * ${BLOCKS};
  let co4 = (g % params.coTiles) * ${CHANNELS / 4};
  // Neighbouring lanes: channel groups, then block groups, then ξ (two a warp).
  let cg = l % 4;
  let bg = (l / 4) % 4;
  let xi = l / 16;
  let vAt = xi * ${vStride(ck)} + bg * 2;
  let uAt = ${uBase} + xi * ${uStride(ck)} + cg * 2;
  ${accs}
${prefetch ? prefetchedSlices(ck) : plainSlices(ck)}
  // M handed over 8 channels (one cg) a round: sh[(ξ·32 + block)·2 + v].
  for (var round = 0; round < 4; round++) {
    if (cg == round) {
      ${rep(TILE * 2, (i) => `sh[(xi * ${BLOCKS} + bg * ${TILE} + ${i >> 1}) * 2 + ${i & 1}] = acc${i >> 1}_${i & 1};`, '\n      ')}
    }
    workgroupBarrier();
    if (l < ${BLOCKS * 2}) {
      let tb = l / 2;
      let v = l % 2;
      let t = t0 + tb;
      let at = tb * 2 + v;
      ${rep(XI2, (x) => `let m${Math.floor(x / A2)}_${x % A2} = sh[${x * BLOCKS * 2} + at];`, '\n      ')}
      ${sandwich(WINO2_AT, WINO2_AT, 'm', 'p', 'o', 'vec4<f32>').replace(/\n {2}/g, '\n      ')}
      let ch = co4 + round * 2 + v;
      let bias = ${hasBias ? 'b[ch]' : 'vec4<f32>(0.0)'};
      let n = t / (params.rows * params.cols);
      let h0 = ((t / params.cols) % params.rows) * ${M2};
      let w0 = (t % params.cols) * ${M2};
      let base = n * params.ho * params.wo;
      if (t < params.blocks) {
        ${rep(M2 * M2, (e) => {
          const [r, q] = [Math.floor(e / M2), e % M2];
          const yAt = `y[(base + (h0 + ${r}) * params.wo + w0 + ${q}) * params.n4 + ch]`;
          const value = relu ? reluKeepingNan(`(o${r}_${q} + bias)`, 'vec4<f32>') : `o${r}_${q} + bias`;
          return `if (h0 + ${r} < params.ho && w0 + ${q} < params.wo) { ${yAt} = ${value}; }`;
        }, '\n        ')}
      }
    }
    workgroupBarrier();
  }
}`,
  };
}

/**
 * A forward (y from x) or backward input (dx from dy, + b for convTranspose2d) by F(2x2, 3x3) in
 * one kernel: the weights transformed once, then one dispatch per chunk of samples that fits the
 * storage bindings; `relu` stores max(y, 0), NaN kept (conv2d's fused ReLU).
 */
export function winograd2Conv(dir: 'forward' | 'backwardInput', g: ConvGeometry, src: Tensor, w: Tensor, b: Tensor | null, relu = false): Tensor {
  const plan = winogradPlan(dir, g);
  const { op, s, perSample } = plan;
  if (!winograd2Fits(s.n)) throw new RangeError(`${op}: the F(2x2) Winograd kernel needs output channels in multiples of ${CHANNELS}, got ${s.n}`);
  const [rows, cols] = [Math.ceil(s.hOut / M2), Math.ceil(s.wOut / M2)];
  const uShape = [XI2, s.k, s.n];
  const per = chunkItems(op, g.n, [part(src, perSample.src), part(planned(plan.outLabel, plan.outShape), perSample.out)], [w, b, planned('conv2d.winograd2.u', uShape)]);
  const out = emptyTensor(plan.outShape, plan.outLabel);
  const u = emptyTensor(uShape, 'conv2d.winograd2.u');
  const flipped = dir === 'backwardInput';
  dispatchChunk(gWeightTransformSpec(WINO2_G, flipped ? 'conv2d.winograd2WeightsFlipped' : 'conv2d.winograd2Weights', flipped), [w], [u], packParams([i32(g.cin), i32(g.cout)]), linearGrid(s.k * s.n));
  const coTiles = s.n / CHANNELS;
  const spec = kernelSpec(winograd2SliceDepth(), prefetching(), b !== null, relu);
  dispatchFused(spec, plan, [rows, cols], g.n, per, src, u, b, out, BLOCKS, coTiles);
  u.dispose();
  return out;
}
