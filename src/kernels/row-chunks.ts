// How many chunks of rows a column reduction (batch norm's channel sums, reduce.ts's column sums)
// spreads over, one workgroup each per group of columns, before a second pass adds the chunks'
// partial sums. On a CPU adapter 128 chunks keep every thread busy and more would only add
// partials. A GPU needs thousands of workgroups in flight to reach its memory bandwidth: on an
// H200 the U-Net's l1 batch norm (16x256x256x32, one group of 32 channels) ran its sums in 128
// workgroups of 64 threads, 8192 threads for 134 MB, and the forward moved 407 GB/s, a tenth of
// the copy kernel's 4040; there the chunks are raised until there are about GPU_WORKGROUPS.

import { adapterRule } from './adapter-rule.js';

export const CPU_ROW_CHUNKS = 128;
export const GPU_WORKGROUPS = 2048;

const sizing = adapterRule();

/** The most row chunks for a reduction whose columns take `columnGroups` workgroups. */
export function maxRowChunks(columnGroups: number): number {
  return sizing.get() === 'cpu' ? CPU_ROW_CHUNKS : Math.max(CPU_ROW_CHUNKS, Math.ceil(GPU_WORKGROUPS / Math.max(1, columnGroups)));
}

/** Tests: size reductions as on a CPU adapter or a GPU on this device; null: as its adapter is. */
export function overrideRowChunkSizing(kind: 'cpu' | 'gpu' | null): void {
  sizing.set(kind);
}
