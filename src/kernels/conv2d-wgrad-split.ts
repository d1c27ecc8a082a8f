// How conv2d's weight gradient is cut up for the device: its K (the pixels summed over) in slices
// whose partial sums are added afterwards (split-K), and on the subgroup family several column
// tiles per workgroup; and the launch of its GEMM kernels over such slices. Both ways of
// computing it go through here: the direct implicit GEMM (conv2d.ts) and Winograd's 36 batched
// GEMMs (conv2d-winograd-wgrad.ts), whose slices never cross from one transform position to the next.

import type { Range } from './chunking.js';
import type { ConvGeometry } from './conv2d.js';
import type { ConvFamily } from './conv2d-gemm.js';
import { familyLanes, gemmTile, launch } from './conv2d-launch.js';
import { subgroupTile, tileFit } from './conv2d-subgroup.js';
import type { GemmTile } from './conv2d-tiled.js';
import type { Tensor } from '../graph/tensor.js';

/** Each split-K slice covers at least this many pixels, so its partial sums are worth their traffic. */
export const SPLIT_K_MIN = 512;

/**
 * K slices for backward weight: enough workgroups to keep the device busy (a few hundred on a GPU,
 * a few dozen on lavapipe's threads), each slice long enough to be worth its partial sums. `tile`
 * and `lanes` default to this device's; a record's (bench/bars.ts) need no device.
 */
export function splitKCount(g: ConvGeometry, family: ConvFamily, tile = gemmTile('backwardWeight', g.cout, family), lanes = familyLanes(family)): number {
  const m = g.kh * g.kw * g.cin;
  const sg = subgroupTile(m, g.cout, tileFit('backwardWeight', g), lanes);
  const [bm, bn, target] = family === 'tiled' ? [tile.bm, tile.bn, 256] : [sg.tm, sg.w * sg.tn, 32];
  const tiles = Math.ceil(m / bm) * Math.ceil(g.cout / bn);
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor((g.n * g.ho * g.wo) / SPLIT_K_MIN)));
}

/** Workgroups the subgroup weight gradient aims for: enough for lavapipe's threads to share evenly. */
const WEIGHT_GRAD_GROUPS = 64;

/**
 * Column tiles per workgroup of the subgroup weight gradient over `slices` K slices. With K a few
 * pixels (the deepest levels), a tile's setup is much of its work and there are thousands of
 * tiles: a workgroup then takes several column tiles in turn, down to about WEIGHT_GRAD_GROUPS
 * workgroups. On lavapipe that made the U-Net's l5 and l4 weight gradients 16% and 7% faster
 * (interleaved A/B, GPU timestamps). The tiled (GPU) family keeps one tile per workgroup: a GPU
 * wants every workgroup it can get.
 */
export function columnTilesPerGroup(g: ConvGeometry, family: ConvFamily, slices: number, lanes = familyLanes(family)): number {
  if (family !== 'subgroup') return 1;
  const sg = subgroupTile(g.kh * g.kw * g.cin, g.cout, tileFit('backwardWeight', g), lanes);
  const nTiles = Math.ceil(g.cout / (sg.w * sg.tn));
  const tiles = Math.ceil((g.kh * g.kw * g.cin) / sg.tm) * nTiles * slices;
  return Math.max(1, Math.min(nTiles, Math.floor(tiles / WEIGHT_GRAD_GROUPS)));
}

/**
 * Where each of `slices` K slices of a weight gradient starts: the tiled kernels take `chunk`
 * pixels a slice, the subgroup kernels `rowChunk` whole image rows (n, ho) a slice.
 */
export interface WeightSlicing {
  slices: number;
  chunk: number;
  rowChunk: number;
}

/**
 * dW's GEMM (kh·kw·cin rows, cout columns, K = the pixels of dy) in `s.slices` slices, each
 * writing its own [kh·kw·cin, cout] part of `out` (out is dW itself for one slice).
 */
export function launchWeightGrad(g: ConvGeometry, dy: Tensor | Range, x: Tensor | Range, out: Tensor, family: ConvFamily, tile: GemmTile, s: WeightSlicing): void {
  const mw = g.kh * g.kw * g.cin;
  const bk = tile.bk;
  const inImage = bk % (g.ho * g.wo);
  launch('backwardWeight', family, tile, g, [dy, x], out, mw, g.cout, s.slices, {
    mw, k: g.n * g.ho * g.wo, chunk: s.chunk, rowChunk: s.rowChunk, dWo: inImage % g.wo, dHo: Math.floor(inImage / g.wo), dN: Math.floor(bk / (g.ho * g.wo)),
    nPer: columnTilesPerGroup(g, family, s.slices),
  });
}
