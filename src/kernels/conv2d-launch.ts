// Picking and launching conv2d's GEMM kernels (conv2d-gemm.ts): which family runs on this device
// ('tiled' on GPUs, 'subgroup' on CPU adapters), how many lanes the subgroup family's workgroups
// have, which tile the tiled family takes (convTile: tuned, by the conv's rule in conv2d-tile-rule.ts,
// or one forced for the benchmark), the
// operand-load probe, and the dispatch itself. conv2d.ts (the direct convolution) and
// conv2d-winograd-run.ts (Winograd's batched GEMM) launch through here.

import { packParams, i32 } from '../gpu/params.js';
import { runtime } from '../gpu/runtime.js';
import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import type { Tensor } from '../graph/tensor.js';
import { dispatchChunk, type Range } from './chunking.js';
import type { ConvGeometry } from './conv2d.js';
import type { ConvDirection } from './conv2d-gemm-common.js';
import { gemmKernel, type ConvFamily, type GemmKernel } from './conv2d-gemm.js';
import { SUBGROUP_LANES, tileFit } from './conv2d-subgroup.js';
import { checkGemmTile, CONV_TILE, parseGemmTile, tiledTileFor, type GemmTile } from './conv2d-tiled.js';
import { ruleGemmTile } from './conv2d-tile-rule.js';
import { tunedConv } from './conv2d-tuned.js';
import type { ConvAlgorithm } from './conv2d-winograd-run.js';
import { workgroupGrid } from './wgsl.js';

const familyByDevice = new WeakMap<GPUDevice, ConvFamily>();
const lanesOverride = new WeakMap<GPUDevice, number>();

/**
 * Lanes of the subgroup family's workgroups on this device: 8 where every subgroup has at least 8
 * (lavapipe), 4 where the smallest has 4 (SwiftShader); 0 when subgroups cannot hold a workgroup.
 * A workgroup of that many lanes is always one subgroup (or part of one), which the kernels'
 * broadcasts rely on.
 */
export function subgroupLanes(): number {
  const rt = runtime();
  const forced = lanesOverride.get(rt.device);
  if (forced) return forced;
  if (!rt.device.features.has('subgroups')) return 0;
  const min = rt.ctx.adapterInfo?.subgroupMinSize ?? 0;
  return min >= SUBGROUP_LANES ? SUBGROUP_LANES : min >= 4 ? 4 : 0;
}

/** Lanes per workgroup of a family's kernels (the tiled family ignores it). */
export const familyLanes = (family: ConvFamily): number => (family === 'subgroup' && subgroupLanes()) || SUBGROUP_LANES;

/**
 * Runs the subgroup family with `lanes` lanes per workgroup on this device (tests and benchmarks:
 * the 4-lane kernels Chrome's SwiftShader gets also run on lavapipe's 8-lane subgroups); null
 * restores the adapter's choice.
 */
export function overrideSubgroupLanes(lanes: 4 | 8 | null): void {
  const device = runtime().device;
  if (lanes === null) lanesOverride.delete(device);
  else lanesOverride.set(device, lanes);
}

const tileOverride = new WeakMap<GPUDevice, GemmTile>();

/**
 * The tile of a GEMM with N columns that `dir` runs on this device, where only N is known (the
 * defaults of sizing helpers; a conv's own launch takes convTile's): the tile setConvTile chose,
 * else for the tiled family tiledTileFor's choice by N, and CONV_TILE for the subgroup family
 * (which takes only its K step from it).
 */
export function gemmTile(dir: ConvDirection, n: number, family = defaultConvFamily()): GemmTile {
  return tileOverride.get(runtime().device) ?? (family === 'tiled' ? tiledTileFor(dir, n) : CONV_TILE);
}

/**
 * The tile of a conv's GEMM when it runs by `algorithm` (Winograd: its batched GEMM): setConvTile's where set, else the tile tuneConvs chose for this very conv, where it chose
 * this algorithm (conv2d-tuning.ts), else for the tiled family the rule by the conv
 * (ruleGemmTile), and CONV_TILE for the subgroup family.
 */
export function convTile(dir: ConvDirection, g: ConvGeometry, family: ConvFamily, algorithm: ConvAlgorithm): GemmTile {
  const device = runtime().device;
  const forced = tileOverride.get(device);
  if (forced) return forced;
  if (family !== 'tiled') return CONV_TILE;
  const tuned = tunedConv(device, dir, g, family);
  return tuned?.tile && tuned.algorithm === algorithm ? parseGemmTile(tuned.tile) : ruleGemmTile(dir, g, algorithm);
}

/** setConvTile's tile on this device, or null where none is forced. */
export function convTileOverride(): GemmTile | null {
  return tileOverride.get(runtime().device) ?? null;
}

/**
 * Runs the tiled family with one tile for every GEMM on this device (an object or 'BMxBNxBK/TMxTN',
 * checked as parseGemmTile checks one),
 * for the benchmark to compare tiles on a GPU in one run; null restores the choice by shape.
 */
export function setConvTile(tile: GemmTile | string | null): void {
  // Checked here: a tile the kernel generator cannot build would fail at the next conv's compile.
  const who = 'setConvTile: conv tile';
  const checked = tile === null ? null : typeof tile === 'string' ? parseGemmTile(tile, who) : checkGemmTile(tile, undefined, who);
  const device = runtime().device;
  if (checked === null) tileOverride.delete(device);
  else tileOverride.set(device, checked);
}

const operandProbe = new WeakSet<GPUDevice>();

/**
 * Runs both families' forward and backward input on this device with their operand loads
 * replaced by register arithmetic (OperandSource 'registers'; the tiled family still stages the
 * values in workgroup memory): a measurement probe for the benchmark, whose outputs are
 * meaningless; false restores the kernels.
 */
export function setOperandProbe(on: boolean): void {
  if (on) operandProbe.add(runtime().device);
  else operandProbe.delete(runtime().device);
}

/**
 * 'subgroup' on CPU adapters (lavapipe, SwiftShader) with subgroups of 4 lanes or more, where it
 * measured several times faster on lavapipe; 'tiled' elsewhere (4- or 8-lane workgroups would
 * leave a GPU idle).
 */
export function defaultConvFamily(): ConvFamily {
  const rt = runtime();
  const known = familyByDevice.get(rt.device);
  if (known) return known;
  const family: ConvFamily = isCpuAdapterReport(rt.ctx.report) && subgroupLanes() > 0 ? 'subgroup' : 'tiled';
  familyByDevice.set(rt.device, family);
  return family;
}

/**
 * The kernel launch() runs for an M×N GEMM (its tile: bm rows, bn columns). With batched weights
 * the subgroup family sizes its tile by one sample's rows (g.ho), which Winograd pads to it.
 */
export function launchedKernel(dir: ConvDirection, family: ConvFamily, tile: GemmTile, g: ConvGeometry, m: number, n: number, hasBias: boolean, batchedWeights = false, relu = false): GemmKernel {
  const probe = dir !== 'backwardWeight' && operandProbe.has(runtime().device);
  return gemmKernel(dir, family, hasBias, batchedWeights ? g.ho : m, n, tileFit(dir, g), familyLanes(family), tile, probe ? 'registers' : 'memory', batchedWeights, relu);
}

/**
 * Dispatches an M×N GEMM kernel `batches` times over (phases or K slices). A bias is inputs[2].
 * `tile` is gemmTile's for this GEMM: the caller has worked its K step into `extras` already.
 * `relu`: the forward stores max(y, 0) (conv2d's fused ReLU).
 */
export function launch(dir: ConvDirection, family: ConvFamily, tile: GemmTile, g: ConvGeometry, inputs: (Tensor | Range)[], out: Tensor | Range, m: number, n: number, batches: number, extras: Record<string, number>, batchedWeights = false, relu = false): void {
  const kernel = launchedKernel(dir, family, tile, g, m, n, inputs.length === 3, batchedWeights, relu);
  const mTiles = Math.ceil(m / kernel.bm);
  // Backward weight may give each workgroup several column tiles (extras.nPer): nTiles counts groups of them.
  const nTiles = Math.ceil(Math.ceil(n / kernel.bn) / (extras.nPer ?? 1));
  const groups = mTiles * nTiles * batches;
  const values: Record<string, number> = { ...g, mTiles, nTiles, groups, ...extras };
  const params = packParams(kernel.params.map((f) => {
    if (values[f] === undefined) throw new Error(`${kernel.spec.name}: param ${f} missing`);
    return i32(values[f]);
  }));
  dispatchChunk(kernel.spec, inputs, [out], params, workgroupGrid(groups));
}
