// The tiled family's tile for a conv's GEMM when no one has tuned it. tiledTileFor picks by the
// GEMM's columns alone; this also looks at the rows the conv gives the GEMM (the weight gradient's
// few, Winograd's blocks), where an H200 run timed other tiles faster.

import type { ConvGeometry } from './conv2d.js';
import type { ConvDirection } from './conv2d-gemm-common.js';
import { CONV_TILE, GRID_TILE, SQUARE_TILE, tiledTileFor, WIDE_TILE, type GemmTile } from './conv2d-tiled.js';
import { WINO_XI, winogradBlocks, winogradShape } from './conv2d-winograd.js';
import type { ConvAlgorithm } from './conv2d-winograd-run.js';

/**
 * The columns of a conv direction's GEMM, direct or Winograd's (per transform position): Cout
 * forward and for the weight gradient, Cin for the input gradient.
 */
export const gemmColumns = (dir: ConvDirection, g: ConvGeometry): number => (dir === 'backwardInput' ? g.cin : g.cout);

/**
 * Winograd's batched GEMM takes GRID_TILE instead of WIDE_TILE where WIDE_TILE would launch at
 * most this many workgroups (about two per SM on an H200's 132).
 */
export const GRID_TILE_MAX_WIDE_WORKGROUPS = 288;

/**
 * The tile of the GEMM that `algorithm` runs for this conv direction, by the rule
 * (tuneConvs may time others). From the U-Net's training step at batches 16 and 8 and VGG16's
 * forward at 32 and 16 (256x256 inputs), every conv tuned over TUNING_TILES on an H200
 * (2026-11-27, GPU timestamps; bench/results/nvidia-h200-2026-11-27):
 * - Winograd's weight gradient (Cin × Cout per transform position, K the blocks): SQUARE_TILE
 *   where Cin or Cout is at most 32, the tile tuning took for all six such convs (0.97 ms at U-Net
 *   l1, where the rule by N before, SLIM_DEEP_TILE, took 1.68), else CONV_TILE, which it took for
 *   all the others (ten at each batch, 64 to 512 channels).
 * - the direct weight gradient of at most 32 rows (kh·kw·Cin) and 32 columns, the U-Net's first
 *   conv (27 × 32): SQUARE_TILE, 0.25 ms against 0.48 by SLIM_DEEP_TILE (0.16 and 0.27 at batch 8).
 *   VGG16's conv1_1 (27 × 64) kept CONV_TILE.
 * - Winograd's batched GEMM (forward and backward input), where tiledTileFor gives WIDE_TILE:
 *   GRID_TILE where WIDE_TILE would launch at most GRID_TILE_MAX_WIDE_WORKGROUPS workgroups
 *   (36 positions × row tiles × column tiles): all 15 such GEMMs (72-288 workgroups: 16x16 images
 *   at batch 16, 16x16 and 32x32 at batch 8) tuned to GRID_TILE, 1.09-1.20x faster than
 *   WIDE_TILE; at 576 workgroups (1024 blocks and N = 256, 2048 and N = 128, 512 and N = 512)
 *   all 10 kept WIDE_TILE, the best other tile 1.02-1.05x faster, inside tuning's 5% margin; from
 *   1152 WIDE_TILE was the fastest (21 GEMMs). With these rules an untuned conv runs as tuning
 *   chose at all 100 3x3 stride-1 convs of those four steps (test/kernels/conv2d-tile-rule.test.ts).
 * Everything else: tiledTileFor's tile by N.
 */
export function ruleGemmTile(dir: ConvDirection, g: ConvGeometry, algorithm: ConvAlgorithm): GemmTile {
  const n = gemmColumns(dir, g);
  if (dir === 'backwardWeight') {
    if (algorithm === 'winograd') return g.cin <= 32 || g.cout <= 32 ? SQUARE_TILE : CONV_TILE;
    return g.kh * g.kw * g.cin <= 32 && g.cout <= 32 ? SQUARE_TILE : tiledTileFor(dir, n);
  }
  if (algorithm !== 'winograd') return tiledTileFor(dir, n);
  const tile = tiledTileFor('forward', n);
  if (tile !== WIDE_TILE) return tile;
  const s = winogradShape(dir, g);
  const [rows, cols] = winogradBlocks(s.hOut, s.wOut);
  const workgroups = WINO_XI * Math.ceil((g.n * rows * cols) / WIDE_TILE.bm) * Math.ceil(n / WIDE_TILE.bn);
  return workgroups <= GRID_TILE_MAX_WIDE_WORKGROUPS ? GRID_TILE : tile;
}
