// The depthwise forward for kernels three columns wide at column stride 1 or 2 (3x3 and 5x3,
// MobileNet's and most U-Net encoders'): each thread computes four adjacent output columns of one
// row and channel (or vec4 of channels), so it loads each tap row's three weights once for four
// outputs and each input value once for the outputs whose windows overlap on it. Per kernel row
// that is 3 weight loads and 4·sw + 2 input loads for four outputs, against 24 for four threads of
// the per-element kernel (depthwise-conv2d.ts). On lavapipe, where every load is paid lane by
// lane, 3x3 forwards ran 1.8-2.4x faster this way at stride 1 (2x32x32x32, 2x16x16x64,
// 16x64x64x32, 4x32x32x3) and 1.2-1.35x at stride 2, whose windows overlap less (GPU
// timestamps, 12 interleaved rounds of 10 calls each, 2026-11-27). The input gradient at stride
// 1 with one filter a channel runs here too, with the kernel turned (see columnsSpec): 2.5-4.7x
// faster than the per-element gather at the same shapes, which walks its taps with a stride test.

import type { KernelSpec } from '../gpu/runtime.js';
import { LINEAR_MAIN_ARGS, LINEAR_WG, linearIndex, type VecWidth } from './wgsl.js';

/** Output columns per thread. */
export const COLUMNS = 4;

/** Whether the column kernel takes a conv of this kernel width and column stride. */
export const columnsFit = (kw: number, sw: number): boolean => kw === 3 && (sw === 1 || sw === 2);

/** Threads for `rows` output rows of `outW` columns and `channels` (in units of the width). */
export const columnThreads = (rows: number, outW: number, channels: number): number => rows * Math.ceil(outW / COLUMNS) * channels;

/**
 * The kernel, for column stride `sw` (1 or 2); `head(inputs, output)` declares the per-element
 * kernel's Params (total: the thread count, c in units of the width), T and the bindings, which
 * this one shares.
 * `flipped`: the weight read turned by 180°, for the input gradient at stride 1 with M = 1,
 * dx[h, w] = Σ dy[h + top − i, w + left − j]·w[i, j], which is this forward over dy with the
 * kernel turned and the padding kh − 1 − top, 2 − left (the caller swaps the sizes in params).
 */
export function columnsSpec(width: VecWidth, bias: boolean, sw: 1 | 2, head: (inputs: string[], output: string) => string, flipped = false): KernelSpec {
  const inputs = bias ? ['x', 'w', 'b'] : ['x', 'w'];
  // Input columns one kernel row of four outputs reads: left .. left + (COLUMNS − 1)·sw + 2.
  const span = (COLUMNS - 1) * sw + 3;
  const q = [...Array(COLUMNS).keys()];
  const u = [...Array(span).keys()];
  return {
    name: flipped ? 'depthwiseConv2d.backwardInputColumns' : 'depthwiseConv2d.forwardColumns',
    key: `w${width}s${sw}${bias ? 'b' : ''}`,
    inputs: inputs.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `${head(inputs, 'y')}
@compute @workgroup_size(${LINEAR_WG})
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.total) { return; }
  let cm = params.c * params.m;
  let oc = i % cm;
  let blk = i / cm;
  let blocks = (params.outW + ${COLUMNS - 1}u) / ${COLUMNS}u;
  let col0 = (blk % blocks) * ${COLUMNS}u;
  let row = (blk / blocks) % params.outH;
  let n = blk / (blocks * params.outH);
  let ch = oc / params.m;
  let top = i32(row * params.sh) - i32(params.padTop);
  let left = i32(col0 * ${sw}u) - i32(params.padLeft);
  let lastCol = i32(params.w) - 1;
  ${q.map((k) => `var acc${k} = ${bias ? 'b[oc]' : 'T(0.0)'};`).join('\n  ')}
  for (var ki = 0; ki < i32(params.kh); ki++) {
    let hi = top + ki;
    if (hi < 0 || hi >= i32(params.h)) { continue; }
    let xRow = (n * params.h + u32(hi)) * params.w;
    ${flipped
      ? `let wAt = u32(i32(params.kh) - 1 - ki) * 3u * cm + oc;
    let w0 = w[wAt + 2u * cm];
    let w1 = w[wAt + cm];
    let w2 = w[wAt];`
      : `let wAt = u32(ki) * 3u * cm + oc;
    let w0 = w[wAt];
    let w1 = w[wAt + cm];
    let w2 = w[wAt + 2u * cm];`}
    // Columns outside the image read as zero (the clamp keeps the index inside x).
    ${u.map((k) => `let x${k} = select(T(0.0), x[(xRow + u32(clamp(left + ${k}, 0, lastCol))) * params.c + ch], left + ${k} >= 0 && left + ${k} <= lastCol);`).join('\n    ')}
    ${q.map((k) => `acc${k} += x${k * sw} * w0 + x${k * sw + 1} * w1 + x${k * sw + 2} * w2;`).join('\n    ')}
  }
  let at = ((n * params.outH + row) * params.outW + col0) * cm + oc;
  ${q.map((k) => `if (col0 + ${k}u < params.outW) { y[at + ${k}u * cm] = acc${k}; }`).join('\n  ')}
}`,
  };
}
