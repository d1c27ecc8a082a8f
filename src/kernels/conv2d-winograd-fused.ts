// Winograd F(4x4, 3x3) in one kernel (the staged version and the matrices are in
// conv2d-winograd.ts): input transform, the 36 GEMMs and output transform without V and M ever
// reaching memory. The staged version writes V and M, 2.25x the input and output each, and reads
// them back: at the U-Net's first level (batch 16, 256x256x32) that is 1.2 GB of its 1.5 GB of
// traffic, and on an H200 it sits at 0.60 ms where tfjs takes 1.14 and its memory floor is 0.37.
//
// A workgroup owns bt consecutive 4x4 blocks and nt4 vec4s of output channels, and walks the
// input channels ck at a time (the geometry: conv2d-winograd-fused-layout.ts):
//   1. stage: the slice's 6x6 patches, transformed (Bᵀ d B), into V's slice in workgroup memory,
//      blocks contiguous: a thread per (block, channel) or, split, in two rounds spread over all
//      threads with the next slice's reads in flight (conv2d-winograd-fused-staging.ts);
//   2. GEMM: the threads come in 36 groups, one per ξ, and each holds a register tile of tb
//      blocks × nb4 vec4s of channels of its ξ, like a GEMM's: per input channel it reads tb/4
//      vec4s of V and nb4 of U for tb · nb4 vec4 multiply-adds (4 + 8 floats for 32 at the
//      default tile);
//   3. after the last slice the threads hand M over through workgroup memory, a pass of channel
//      vec4s at a time, and one thread per (block, output channel) applies Aᵀ M A, the bias and
//      the fused ReLU and stores the block's pixels.
//
// Why this shape: the first version of this kernel (until 2026-11-28) gave each thread one block's
// 36 ξ for 4 channels, 144 accumulators, and read 36 values of V and 36 vec4s of U per channel
// for 36 vec4 multiply-adds. On an H200 it ran U-Net l1 at about a tenth of the FMA peak (0.72
// ms against the staged version's 0.61; 1.8x at l2, 4.5x at VGG16's conv4_2), and on lavapipe
// 5x slower than direct. Here each thread's loads per multiply-add are a quarter of that. The
// F(2x2) kernel (conv2d-winograd-f2.ts) has the same shape and ran at 18% of the FMA peak on an
// H200; F(4x4) needs 0.56x its multiply-adds, so at the same efficiency l1 would take ~0.44 ms.
// The tile (blocks, thread tile, U staged or not, the staging) is setFusedTile's, for the probes
// to time; no rule picks the kernel before a GPU has timed it.

import { deviceSetting } from '../gpu/device-setting.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import type { ConvGeometry } from './conv2d.js';
import { rep, XYZW } from './conv2d-gemm-common.js';
import { bindableSamples, dispatchFused, fusedBindings, outputBlock, transformWeights, winogradPlan, WINO_A, WINO_XI } from './conv2d-winograd.js';
import { splitSetup, stageSplit, stageWhole } from './conv2d-winograd-fused-staging.js';
import { DEFAULT_FUSED_TILE, FUSED_SLICE_DEPTHS, fusedLayout, parseFusedTile, type FusedLayout, type FusedTile } from './conv2d-winograd-fused-layout.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { tunedConv } from './conv2d-tuned.js';
import { defaultConvFamily } from './conv2d-launch.js';

/**
 * Channel vec4s per workgroup at most: 8 (32 channels) stages each slice once for 32 output
 * channels; 4 stages it twice as often with half the threads. Which wins is for a GPU to say
 * (setFusedGroups, bench --fused-groups, tuneConvs).
 */
const MAX_GROUPS = 8;
const groupsSetting = deviceSetting<number>();

/** Runs the fused kernel with at most `groups` channel vec4s per workgroup on this device; null restores 8. */
export function setFusedGroups(groups: 1 | 2 | 4 | 8 | null): void {
  groupsSetting.set(groups);
}

/** setFusedGroups's setting on this device, or null where none is forced. */
export function fusedGroupsOverride(): number | null {
  return groupsSetting.get() ?? null;
}

/** The channel vec4s per workgroup the fused kernel may take, most first: what tuneConvs times. */
export const FUSED_GROUP_CHOICES = [MAX_GROUPS, MAX_GROUPS / 2] as const;

/**
 * At most how many channel vec4s a workgroup of this conv's fused kernel takes: setFusedGroups's,
 * else the number tuneConvs chose for this very conv (conv2d-tuning.ts), else 8.
 */
export function fusedGroups(dir: 'forward' | 'backwardInput', g: ConvGeometry, family: ConvFamily): number {
  const forced = groupsSetting.get();
  if (forced) return forced;
  const tuned = tunedConv(runtime().device, dir, g, family);
  return (tuned?.algorithm === 'winograd-fused' ? tuned.groups : undefined) ?? MAX_GROUPS;
}

const tileSetting = deviceSetting<FusedTile>();
const depthSetting = deviceSetting<number>();

/** Forces the kernel's tile on this device (the probes; tests: every code path on one adapter); null restores DEFAULT_FUSED_TILE. */
export function setFusedTile(tile: FusedTile | null): void {
  tileSetting.set(tile);
}

/** setFusedTile's tile on this device, or null where none is forced. */
export function fusedTileOverride(): FusedTile | null {
  return tileSetting.get() ?? null;
}

/**
 * The tile this conv's fused kernel takes: setFusedTile's, else the one tuneConvs chose for this
 * very conv, else DEFAULT_FUSED_TILE.
 */
export function fusedTile(dir: 'forward' | 'backwardInput', g: ConvGeometry, family: ConvFamily): FusedTile {
  const forced = tileSetting.get();
  if (forced) return forced;
  const tuned = tunedConv(runtime().device, dir, g, family);
  return tuned?.algorithm === 'winograd-fused' && tuned.fusedTile ? parseFusedTile(tuned.fusedTile) : DEFAULT_FUSED_TILE;
}

/**
 * The layout a conv of n4 output channel vec4s over `blocks` 4x4 blocks gets on this device, at
 * most `groups` channel vec4s a workgroup, at `tile` (default: setFusedTile's, else the default).
 */
export function currentFusedLayout(n4: number, groups: number = MAX_GROUPS, blocks = Infinity, tile = tileSetting.get() ?? DEFAULT_FUSED_TILE): FusedLayout {
  return fusedLayout(n4, groups, tile, depthSetting.get() ?? null, fusedLimits(), blocks);
}

/** The device's limits as the layout needs them: its threads a workgroup, which the kernel lays along x. */
function fusedLimits() {
  const limits = runtime().limits;
  return {
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX),
  };
}

/** Input channels a slice on this device at 32 output channels: the deepest (of 8, 4, 2, 1) that fits its workgroup memory, or the override. */
export const fusedSliceDepth = (): number => currentFusedLayout(MAX_GROUPS).ck;

/**
 * Forces the slice depth on this device (tests: every staging pattern on one adapter; probes: 16),
 * one of 16, 8, 4, 2 or 1 that fits its workgroup memory at the current tile; null restores it.
 */
export function setFusedSliceDepth(ck: number | null): void {
  if (ck !== null) {
    const limits = fusedLimits();
    const tile = tileSetting.get() ?? DEFAULT_FUSED_TILE;
    const fits = FUSED_SLICE_DEPTHS.filter((d) => {
      try {
        return fusedLayout(MAX_GROUPS, MAX_GROUPS, tile, d, limits).ck === d;
      } catch {
        return false;
      }
    });
    if (!fits.includes(ck as (typeof FUSED_SLICE_DEPTHS)[number])) throw new RangeError(`setFusedSliceDepth: ${ck} channels a slice; this device takes ${fits.join(', ')}`);
  }
  depthSetting.set(ck);
}

/** Whether the fused kernel can run a Winograd conv: output channels in whole vec4s. */
export const fusedFits = (n: number): boolean => n % 4 === 0;

/** The GEMM of one staged slice: per channel, the thread's tb blocks (a·) and nb4 channel vec4s (b·) of its ξ. */
function multiplySlice(L: FusedLayout): string {
  if (L.ablate === 'gemm') return '';
  const loadsU = L.sharedU
    ? rep(L.nb4, (v) => `let b${v} = sh[uAt + c * ${L.nt4} + ${v}];`, '\n      ')
    : `let uRow = (xi * params.k + ci0 + c) * params.n4;
      ${rep(L.nb4, (v) => `let b${v} = u[uRow + cq${v}];`, '\n      ')}`;
  return `let kc = min(${L.ck}, params.k - ci0);
    for (var c = 0; c < kc; c++) {
      ${rep(L.tb / 4, (i) => `let a${i} = sh[vAt + c * ${L.rs4} + ${i}];`, '\n      ')}
      ${loadsU}
      ${rep(L.tb * L.nb4, (i) => {
        const [j, v] = [Math.floor(i / L.nb4), i % L.nb4];
        return `acc${j}_${v} = fma(vec4<f32>(a${j >> 2}.${XYZW[j & 3]}), b${v}, acc${j}_${v});`;
      }, '\n      ')}
    }`;
}

/**
 * M handed over, pw4 of the workgroup's channel vec4s a pass: each thread writes the accumulators
 * of its tile whose channels fall in the pass to sh[(ξ·bt + block)·pw4 + vec4], then a thread per
 * (block, channel) of the pass reads its 36 values and stores Aᵀ M A (+ bias, ReLU). The passes
 * cover the workgroup's channels exactly (pw4 divides nt4); channels past N and blocks past the
 * last are skipped.
 */
function handOver(L: FusedLayout, hasBias: boolean, relu: boolean): string {
  const pw4 = L.pw4;
  return `for (var round = 0; round < ${L.passes}; round++) {
    ${rep(L.nb4, (v) => `if ((sni * ${L.nb4} + ${v}) / ${pw4} == round) {
      let at = (xi * ${L.bt} + sbi * ${L.tb}) * ${pw4} + (sni * ${L.nb4} + ${v}) % ${pw4};
      ${rep(L.tb, (j) => `sh[at + ${j * pw4}] = acc${j}_${v};`, '\n      ')}
    }`, '\n    ')}
    workgroupBarrier();
    for (var it = l; it < ${L.bt * pw4 * 4}; it += ${L.threads}) {
      let ch = it % ${pw4 * 4};
      let tb = it / ${pw4 * 4};
      let t = t0 + tb;
      let co = co4 * 4 + round * ${pw4 * 4} + ch;
      if (t < params.blocks && co < params.n4 * 4${L.ablate === 'output' ? ' && params.groups < 0' : ''}) {
        ${rep(WINO_XI, (x) => `let m${Math.floor(x / WINO_A)}_${x % WINO_A} = sh[(${x * L.bt} + tb) * ${pw4} + ch / 4][ch % 4];`, '\n        ')}
        ${outputBlock('f32', hasBias ? 'b[co]' : null, 'params.n4 * 4', 'co', relu).replace(/\n {2}/g, '\n        ')}
      }
    }
    workgroupBarrier();
  }`;
}

/** WGSL for an ablated kernel, which may leave src or u unread: a store that never runs keeps both bound. */
const KEEP_BINDINGS = 'if (params.groups < 0) { y[0] = src[0] + u[0].x; }';

function fusedSpec(L: FusedLayout, hasBias: boolean, relu: boolean): KernelSpec {
  const sb = L.bt / L.tb;
  return {
    name: 'conv2d.winogradFused',
    key: `bt${L.bt}tb${L.tb}nb${L.nb4}sn${L.sn}ck${L.ck}p${L.pw4}${L.sharedU ? 'su' : ''}${L.splitStaging ? 'split' : ''}${L.ablate ? `-${L.ablate}` : ''}${hasBias ? 'b' : ''}${relu ? 'relu' : ''}`,
    inputs: hasBias ? 3 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${fusedBindings(hasBias, true)}
var<workgroup> sh: array<vec4<f32>, ${L.shVec4s}>;
@compute @workgroup_size(${L.threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let l = i32(lidx);
  ${L.ablate ? KEEP_BINDINGS : ''}
  let t0 = (g / params.coTiles) * ${L.bt};
  let co4 = (g % params.coTiles) * ${L.nt4};
  // The GEMM's roles: neighbouring lanes take channel subtiles, then block subtiles, then ξ.
  let sni = l % ${L.sn};
  let sbi = (l / ${L.sn}) % ${sb};
  let xi = l / ${L.sn * sb};
  let vAt = xi * ${L.xs4} + sbi * ${L.tb / 4};
  ${L.sharedU ? `let uAt = ${WINO_XI * L.xs4} + xi * ${L.us4} + sni * ${L.nb4};` : rep(L.nb4, (v) => `let cq${v} = min(co4 + sni * ${L.nb4} + ${v}, params.n4 - 1);`)}
  ${rep(L.tb * L.nb4, (i) => `var acc${Math.floor(i / L.nb4)}_${i % L.nb4} = vec4<f32>(0.0);`)}
  ${L.splitStaging ? splitSetup(L) : ''}
  for (var ci0 = 0; ci0 < params.k; ci0 += ${L.ck}) {
    ${L.splitStaging ? stageSplit(L) : stageWhole(L)}
    workgroupBarrier();
    ${multiplySlice(L)}
    workgroupBarrier();
  }
  ${handOver(L, hasBias, relu)}
}`,
  };
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
  const n4 = s.n / 4;
  const layout = currentFusedLayout(n4, fusedGroups(dir, g, family), Math.min(per, g.n) * plan.rows * plan.cols, fusedTile(dir, g, family));
  const out = emptyTensor(plan.outShape, plan.outLabel);
  const u = transformWeights(plan, g, w);
  dispatchFused(fusedSpec(layout, b !== null, relu), plan, [plan.rows, plan.cols], g.n, per, src, u, b, out, layout.bt, Math.ceil(n4 / layout.nt4));
  u.dispose();
  return out;
}
