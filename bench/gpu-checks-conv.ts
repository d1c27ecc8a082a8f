// bench --checks' conv2d cases (gpu-checks.ts runs them with the rest): every algorithm, tile and
// rule path a GPU may take, each against the CPU reference forward and backward.

import * as dn from '../src/index.js';
import { formatGemmTile, TUNING_TILES, type GemmTile } from '../src/kernels/conv2d-tiled.js';
import { nd } from '../src/reference/array.js';
import { conv2dBackwardRef, conv2dForwardRef, type ConvRefOptions } from '../src/reference/conv.js';
import type { GpuCheck } from './gpu-checks.js';

/**
 * A conv2d with its gradients; `algorithm` forces one (setConvAlgorithm) for the forward and dx,
 * `tile` one tile for the tiled family's GEMMs.
 */
function conv(name: string, x: number[], w: number[], opts: ConvRefOptions & dn.Conv2dOptions, algorithm: dn.ConvAlgorithm | 'auto' = 'auto', tile?: GemmTile): GpuCheck {
  return {
    name: `conv2d ${name} [${x}] * [${w}]`,
    inputs: [{ shape: x, grad: true }, { shape: w, grad: true }, { shape: [w[3]], grad: true }],
    gpu: ([a, b, c]) => dn.conv2d(a, b, c, opts),
    ...(algorithm === 'auto' ? {} : { algorithm }),
    ...(tile ? { tile } : {}),
    cpu: ([a, b, c], dy) => {
      if (opts.activation !== 'relu') {
        const g = conv2dBackwardRef(a, b, dy, opts);
        return { y: conv2dForwardRef(a, b, c, opts), grads: [g.dx, g.dw, g.db] };
      }
      // The fused ReLU: max(y, 0), and dy through where y > 0 (seeded data keeps |y| well off 0).
      const y = conv2dForwardRef(a, b, c, opts);
      const g = conv2dBackwardRef(a, b, nd(dy.data.map((v, i) => (y.data[i] > 0 ? v : 0)), dy.shape), opts);
      return { y: nd(y.data.map((v) => Math.max(v, 0)), y.shape), grads: [g.dx, g.dw, g.db] };
    },
    // Sums of up to k²·Cin products forward and N·Ho·Wo products for the weight gradient.
    tolerance: 2e-4,
  };
}

export function convChecks(): GpuCheck[] {
  return [
    conv('3x3 same', [2, 17, 19, 24], [3, 3, 24, 40], { padding: 'same' }),
    conv('3x3 same, past the 64x64 tile', [2, 33, 35, 16], [3, 3, 16, 72], { padding: 'same' }),
    // 128-wide tiles (tiledTileFor) both ways: forward N = 144, backward input N = 136, 646 rows
    // (direct: by the rule a GPU would take Winograd here, its GEMMs at GRID_TILE).
    conv('3x3 same, 128x128 tiles', [2, 19, 17, 136], [3, 3, 136, 144], { padding: 'same' }, 'direct'),
    // What a GPU's rules take unforced (conv2d-tile-rule.ts): the forward by Winograd with its
    // GEMMs at GRID_TILE (32 blocks, N = 128), the weight gradient by Winograd at SQUARE_TILE
    // (Cin = 32); and the direct weight gradient of 27 rows at SQUARE_TILE.
    conv('3x3 same by the rules, small grid', [2, 16, 15, 32], [3, 3, 32, 128], { padding: 'same' }),
    conv('3x3 same by the rules, 3 channels in', [2, 16, 15, 3], [3, 3, 3, 32], { padding: 'same' }),
    conv('3x3 valid stride 2', [3, 15, 13, 8], [3, 3, 8, 12], { padding: 'valid', stride: 2 }),
    conv('3x3 same dilation 2 (space-to-batch)', [2, 17, 15, 24], [3, 3, 24, 32], { padding: 'same', dilation: 2 }),
    // Winograd F(4x4, 3x3) forced: blocks past the edge, an odd channel count, 'valid'.
    conv('3x3 same by Winograd', [2, 18, 21, 32], [3, 3, 32, 40], { padding: 'same' }, 'winograd'),
    conv('3x3 valid by Winograd, 7 output channels', [3, 11, 10, 20], [3, 3, 20, 7], { padding: 'valid' }, 'winograd'),
    // Forcing Winograd forces its weight gradient too; here 675 blocks, which the tiled family's
    // GEMM takes in two K slices per transform position, with a padding row.
    conv('3x3 same by Winograd, weight gradient in K slices', [3, 60, 60, 8], [3, 3, 8, 16], { padding: 'same' }, 'winograd'),
    // Winograd in one kernel (not yet picked by convAlgorithm): several block and channel tiles,
    // the last ones partial; the second's dx (20 channels) and forward (12) in 5 and 3 vec4s.
    conv('3x3 same by fused Winograd', [2, 18, 21, 32], [3, 3, 32, 40], { padding: 'same' }, 'winograd-fused'),
    conv('3x3 valid by fused Winograd, 12 output channels', [3, 11, 10, 20], [3, 3, 20, 12], { padding: 'valid' }, 'winograd-fused'),
    // F(2x2) in one kernel (not yet picked by convAlgorithm): blocks past a workgroup's 32, odd
    // sides, 5 input channels (a partial slice), two workgroups of 32 channels; dx has 32.
    conv('3x3 same by fused Winograd F(2x2)', [2, 19, 23, 5], [3, 3, 5, 64], { padding: 'same' }, 'winograd-f2'),
    conv('3x3 valid by fused Winograd F(2x2), dx of 32 channels', [3, 11, 10, 32], [3, 3, 32, 32], { padding: 'valid' }, 'winograd-f2'),
    conv('1x1 head', [2, 9, 11, 32], [1, 1, 32, 1], { padding: 'valid' }),
    // The weights in a uniform buffer (not yet picked by convAlgorithm): VGG's first conv (3
    // channels, scalar loads, taps unrolled), a U-Net level 1 (vec4 loads, a loop over taps, 4
    // pixels a thread, rows not a multiple of 4) with its fused ReLU, and a 1x1 stride-2 conv.
    conv('3x3 same, 3 channels, uniform weights', [2, 13, 11, 3], [3, 3, 3, 64], { padding: 'same' }, 'uniform-weights'),
    conv('3x3 same, uniform weights, fused ReLU', [2, 14, 19, 32], [3, 3, 32, 32], { padding: 'same', activation: 'relu' }, 'uniform-weights'),
    conv('1x1 stride 2, uniform weights', [2, 9, 11, 20], [1, 1, 20, 12], { padding: 'valid', stride: 2 }, 'uniform-weights'),
    // A lane per 4 output channels (not yet picked by convAlgorithm): VGG's first conv (rows of 13,
    // not a multiple of the 8-pixel strips) with its fused ReLU, and one grey channel at stride 2.
    conv('3x3 same, 3 channels, channel lanes, fused ReLU', [2, 13, 13, 3], [3, 3, 3, 64], { padding: 'same', activation: 'relu' }, 'channel-lanes'),
    conv('3x3 valid stride 2, 1 channel, channel lanes', [2, 17, 15, 1], [3, 3, 1, 32], { padding: 'valid', stride: 2 }, 'channel-lanes'),
    // A strip of a row a workgroup, staged in workgroup memory (not yet picked by convAlgorithm):
    // VGG's first conv over rows of 139 (a strip of 128 and a partial one), and the grey stride 2.
    conv('3x3 same, 3 channels, row patch, fused ReLU', [2, 13, 139, 3], [3, 3, 3, 64], { padding: 'same', activation: 'relu' }, 'row-patch'),
    conv('3x3 valid stride 2, 1 channel, row patch', [2, 17, 15, 1], [3, 3, 1, 32], { padding: 'valid', stride: 2 }, 'row-patch'),
    // Winograd's 36 GEMMs by the uniform-weights kernel, forward and backward input (the weight
    // gradient by the staged Winograd): 32 channels each way, and 16 -> 64 with its fused ReLU.
    conv('3x3 same by Winograd with uniform-weights GEMMs', [2, 18, 21, 32], [3, 3, 32, 32], { padding: 'same' }, 'winograd-uniform'),
    conv('3x3 valid by Winograd with uniform-weights GEMMs, fused ReLU', [3, 11, 10, 16], [3, 3, 16, 64], { padding: 'valid', activation: 'relu' }, 'winograd-uniform'),
    // The fused ReLU in each kernel's epilogue: the tiled GEMM's vec4 stores, Winograd's output transform.
    conv('3x3 same with its fused ReLU', [2, 17, 19, 24], [3, 3, 24, 40], { padding: 'same', activation: 'relu' }, 'direct'),
    conv('3x3 same by Winograd with its fused ReLU', [2, 18, 21, 32], [3, 3, 32, 40], { padding: 'same', activation: 'relu' }, 'winograd'),
    // Every tile tuneConvs may pick, direct and by Winograd (its batched GEMM padded to the tile).
    ...TUNING_TILES.flatMap((t) => (['direct', 'winograd'] as const).map((a) => conv(`3x3 same by ${a} at tile ${formatGemmTile(t)}`, [2, 18, 21, 32], [3, 3, 32, 40], { padding: 'same' }, a, t))),
  ];
}
