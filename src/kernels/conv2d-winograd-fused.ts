// Winograd F(4x4, 3x3) in one kernel (the staged version and the matrices are in
// conv2d-winograd.ts): input transform, the 36 GEMMs and output transform without V and M ever
// reaching memory. The staged version writes V and M, 2.25x the input and output each, and reads
// them back: at the U-Net's first level (batch 16, 256x256x32) that is 1.2 GB of its 1.5 GB of
// traffic, and its batched GEMM, whose K is only the 32 channels, took three times its memory
// floor on an H200 (0.47 of the forward's 0.67 ms).
//
// A workgroup owns BT = 32 consecutive 4x4 blocks and CG vec4s of output channels (CG ≤ 8, so up
// to 32 channels), and walks the input channels CK at a time:
//   1. stage: each (block, channel) pair of the slice is one thread's: it reads the block's 6x6
//      patch (eight threads side by side read eight adjacent channels of a pixel, 32 bytes) and
//      writes the 36 values of Bᵀ d B to workgroup memory;
//   2. GEMM: thread (lane bt, group cg) adds V[ξ][bt][c] · U[ξ][c][4 channels] into 36 vec4
//      accumulators, one per ξ. The 32 lanes of a warp are 32 blocks of one channel group, so
//      their U reads are one address (a broadcast) and their V reads 32 consecutive banks (the
//      row stride S is odd);
//   3. after the last slice the thread holds all 36 ξ of its block and 4 channels: Aᵀ M A, the
//      bias, and 16 vec4 stores.
// The cost is registers (144 accumulators a thread) and, per slice, 36·BT·S floats of workgroup
// memory: CK = 8 needs 41 KiB (an H200 offers 48), lavapipe's 32 KiB get CK = 6, the 16 KiB every
// adapter offers CK = 2. Outputs need channels in multiples of 4 (vec4 weights and stores).
//
// On an H200 (2026-11-27) it was the fastest way at none of the U-Net's and VGG16's convs: 1.18x
// the staged Winograd's time at U-Net l1 (0.72 against 0.61 ms, where it moves 0.27 GB to the
// staged one's 1.5), 1.8x at l2 and up to 4.5x at VGG16's conv4_2 (512 channels), while its
// compute floor at l1 is 0.08 ms: it runs at about a tenth of the FMA peak. convAlgorithm's rule
// never picks it; tuneConvs (conv2d-tuning.ts) does on a conv where it times fastest,
// setConvAlgorithm('winograd-fused') forces it, and the benchmark times it beside every conv it fits.

import { i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import type { ConvGeometry } from './conv2d.js';
import { rep } from './conv2d-gemm-common.js';
import { bindableSamples, combination, dispatchFused, fusedBindings, outputBlock, patchOrigin, transformWeights, winogradPlan, WINO_A, WINO_BT, WINO_M, WINO_XI } from './conv2d-winograd.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { tunedConv } from './conv2d-tuned.js';
import { defaultConvFamily } from './conv2d-launch.js';

/** Blocks per workgroup: a warp's worth, one per lane in the GEMM. */
export const FUSED_BLOCKS = 32;
/**
 * Channel vec4s per workgroup at most: 8 (256 threads, 32 channels) stages each slice once for 32
 * output channels; 4 (128 threads) stages it twice as often, but two workgroups fit an SM where
 * one of 256 threads × ~200 registers leaves it idle at every barrier. Which wins is for a GPU to
 * say (setFusedGroups, bench --fused-groups).
 */
const MAX_GROUPS = 8;
const groupsOverride = new WeakMap<GPUDevice, number>();

/** Runs the fused kernel with at most `groups` channel vec4s per workgroup on this device; null restores 8. */
export function setFusedGroups(groups: 1 | 2 | 4 | 8 | null): void {
  const device = runtime().device;
  if (groups === null) groupsOverride.delete(device);
  else groupsOverride.set(device, groups);
}

/** setFusedGroups's setting on this device, or null where none is forced. */
export function fusedGroupsOverride(): number | null {
  return groupsOverride.get(runtime().device) ?? null;
}

/** The channel vec4s per workgroup the fused kernel may take, most first: what tuneConvs times. */
export const FUSED_GROUP_CHOICES = [MAX_GROUPS, MAX_GROUPS / 2] as const;

/**
 * At most how many channel vec4s a workgroup of this conv's fused kernel takes: setFusedGroups's,
 * else the number tuneConvs chose for this very conv (conv2d-tuning.ts), else 8.
 */
export function fusedGroups(dir: 'forward' | 'backwardInput', g: ConvGeometry, family: ConvFamily): number {
  const device = runtime().device;
  const forced = groupsOverride.get(device);
  if (forced) return forced;
  const tuned = tunedConv(device, dir, g, family);
  return (tuned?.algorithm === 'winograd-fused' ? tuned.groups : undefined) ?? MAX_GROUPS;
}

/** Channels per slice to try, most first. */
const SLICE_DEPTHS = [8, 6, 4, 2, 1];

/** Row stride of V's slice in workgroup memory: odd, so 32 lanes reading one c hit 32 banks. */
const sliceStride = (ck: number): number => (ck % 2 === 0 ? ck + 1 : ck);
const sliceBytes = (ck: number): number => WINO_XI * FUSED_BLOCKS * sliceStride(ck) * 4;

const depthOverride = new WeakMap<GPUDevice, number>();

/** Channels per slice on this device: the deepest whose V fits its workgroup memory (or the override). */
export function fusedSliceDepth(): number {
  const rt = runtime();
  const forced = depthOverride.get(rt.device);
  if (forced) return forced;
  const limit = rt.limits.maxComputeWorkgroupStorageSize;
  return SLICE_DEPTHS.find((ck) => sliceBytes(ck) <= limit) ?? 1;
}

/**
 * Forces the slice depth on this device (tests: every staging pattern on one adapter), one of 8,
 * 6, 4, 2 or 1 that fits its workgroup memory; null restores it.
 */
export function setFusedSliceDepth(ck: number | null): void {
  const rt = runtime();
  if (ck === null) {
    depthOverride.delete(rt.device);
    return;
  }
  const limit = rt.limits.maxComputeWorkgroupStorageSize;
  if (!SLICE_DEPTHS.includes(ck) || sliceBytes(ck) > limit) {
    throw new RangeError(`setFusedSliceDepth: ${ck} channels a slice; this device takes ${SLICE_DEPTHS.filter((d) => sliceBytes(d) <= limit).join(', ')}`);
  }
  depthOverride.set(rt.device, ck);
}

/** Whether the fused kernel can run a Winograd conv: output channels in whole vec4s. */
export const fusedFits = (n: number): boolean => n % 4 === 0;

function fusedSpec(ck: number, cg: number, hasBias: boolean, relu: boolean): KernelSpec {
  const [bt, s] = [FUSED_BLOCKS, sliceStride(ck)];
  const threads = bt * cg;
  const vAt = (xi: number, block: string, c: string) => `(${xi * bt} + ${block}) * ${s} + ${c}`;
  return {
    name: 'conv2d.winogradFused',
    key: `ck${ck}cg${cg}${hasBias ? 'b' : ''}${relu ? 'relu' : ''}`,
    inputs: hasBias ? 3 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${fusedBindings(hasBias)}
var<workgroup> vs: array<f32, ${WINO_XI * bt * s}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let l = i32(lidx);
  let t0 = (g / params.coTiles) * ${bt};
  // The GEMM's roles: lane bt (a block), channel group cg (four output channels).
  let bt = l % ${bt};
  let cg = (g % params.coTiles) * ${cg} + l / ${bt};
  let cgSafe = min(cg, params.n4 - 1);
  ${rep(WINO_XI, (xi) => `var acc${xi} = vec4<f32>(0.0);`)}
  for (var ci0 = 0; ci0 < params.k; ci0 += ${ck}) {
    for (var p = l; p < ${bt * ck}; p += ${threads}) {
      ${stage(ck, vAt)}
    }
    workgroupBarrier();
    let kc = min(${ck}, params.k - ci0);
    for (var c = 0; c < kc; c++) {
      let uRow = (ci0 + c) * params.n4 + cgSafe;
      let uPlane = params.k * params.n4;
      ${rep(WINO_XI, (xi) => `acc${xi} = fma(vec4<f32>(vs[${vAt(xi, 'bt', 'c')}]), u[${xi} * uPlane + uRow], acc${xi});`, '\n      ')}
    }
    workgroupBarrier();
  }
  let t = t0 + bt;
  if (t >= params.blocks || cg >= params.n4) { return; }
  ${rep(WINO_XI, (xi) => `let m${Math.floor(xi / WINO_A)}_${xi % WINO_A} = acc${xi};`)}
  ${outputBlock('vec4<f32>', hasBias ? 'b[cg]' : null, 'params.n4', 'cg', relu)}
}`,
  };
}

/**
 * Staging pair p of the slice: channel ci0 + p mod CK of block t0 + p / CK, transformed into vs
 * (zeros past the last block). Channels past K are never multiplied (the GEMM stops at kc); `live`
 * only keeps their reads inside the tensor.
 */
function stage(ck: number, vAt: (xi: number, block: string, c: string) => string): string {
  return `${patchOrigin(ck, WINO_M)}
      ${rep(WINO_A, (q) => patchColumn(q), '\n      ')}
      ${rep(WINO_A, (i) => transformRow(i, vAt), '\n      ')}`;
}

/**
 * Column q of the patch, d{r}_q, and its Bᵀ d column e{i}_q: the six loads die as soon as they are
 * used, so at most the 36 values of e are live beside the thread's 144 accumulators (all 36 loads
 * first, then Bᵀ d, kept up to 72).
 */
function patchColumn(q: number): string {
  return `${rep(WINO_A, (r) => `var d${r}_${q} = 0.0;
      if (inH${r} && inW${q}) { d${r}_${q} = src[(base + (h0 + ${r}) * params.w + w0 + ${q}) * params.k + ci]; }`, '\n      ')}
      ${rep(WINO_A, (i) => `let e${i}_${q} = ${combination(WINO_BT[i], WINO_BT.map((_, r) => `d${r}_${q}`))};`, '\n      ')}`;
}

/** Row i of Bᵀ d B, from row i of e, stored to vs as it is made. */
function transformRow(i: number, vAt: (xi: number, block: string, c: string) => string): string {
  return rep(WINO_A, (j) => `vs[${vAt(i * WINO_A + j, 'tb', 'c')}] = ${combination(WINO_BT[j], WINO_BT.map((_, q) => `e${i}_${q}`))};`, '\n      ');
}

/**
 * A forward (y from x) or backward input (dx from dy, + b for convTranspose2d) by the fused
 * Winograd kernel: the weights transformed once (as the staged version does), then one dispatch
 * per chunk of samples that fits the storage bindings; `relu` stores max(y, 0), NaN kept (conv2d's fused ReLU).
 */
export function winogradFusedConv(dir: 'forward' | 'backwardInput', g: ConvGeometry, src: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily(), relu = false): Tensor {
  const plan = winogradPlan(dir, g);
  const { op, s } = plan;
  if (!fusedFits(s.n)) throw new RangeError(`${op}: the fused Winograd kernel needs output channels in multiples of 4, got ${s.n}`);
  const per = bindableSamples(plan, g.n, src, w, b);
  const out = emptyTensor(plan.outShape, plan.outLabel);
  const u = transformWeights(plan, g, w);
  const n4 = s.n / 4;
  const cg = Math.min(fusedGroups(dir, g, family), n4);
  const coTiles = Math.ceil(n4 / cg);
  const spec = fusedSpec(fusedSliceDepth(), cg, b !== null, relu);
  dispatchFused(spec, plan, [plan.rows, plan.cols], g.n, per, src, u, b, out, FUSED_BLOCKS, coTiles);
  u.dispose();
  return out;
}
