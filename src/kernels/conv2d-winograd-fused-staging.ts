// How a slice of input channels reaches the fused Winograd kernel's workgroup memory
// (conv2d-winograd-fused.ts): V = Bᵀ d B of each (block, channel) pair's 6x6 patch, and U's slice
// where the tile stages it. Two ways for V (FusedTile.splitStaging):
//   - whole patches: a thread per pair reads its 36 values, transforms them and writes 36. Only
//     bt·ck of the workgroup's threads take part (128 of 576 at the default tile), each with ~80
//     values live, and the slice's reads are waited for at once;
//   - split: a thread per (pair, column q) reads 6 values and writes their Bᵀ column to E; after a
//     barrier a thread per (pair, row i) reads row i of E and writes V's row i. 6·bt·ck items a
//     round spread over all threads, and each thread's next reads (6 floats an item: 2 items, 12
//     floats, at the default tile) are issued before the second round and the GEMM, so they land
//     while those run. One more barrier a slice.

import { rep } from './conv2d-gemm-common.js';
import { combination, patchCorner, patchOrigin, WINO_A, WINO_BT, WINO_M, WINO_XI } from './conv2d-winograd.js';
import type { FusedLayout } from './conv2d-winograd-fused-layout.js';

/** WGSL: the input value at `index`, or under the 'input-reads' ablation one made up from it. */
const read = (L: FusedLayout, index: string): string => (L.ablate === 'input-reads' ? `f32((${index}) % 7) * 0.125` : `src[${index}]`);

/** WGSL: the slice's V (and U where staged) in workgroup memory, ending before the barrier that precedes the GEMM. */
export function stageWhole(L: FusedLayout): string {
  return `for (var p = l; p < ${L.bt * L.ck}; p += ${L.threads}) {
      ${stagePair(L)}
    }
    ${L.sharedU ? stageU(L) : ''}`;
}

/**
 * Staging pair p of the slice: channel c of block tb, its 6x6 patch transformed into V's slice
 * (zeros past the last block and past K: the GEMM stops at the slice's channels, and the blocks
 * past the last are never stored).
 */
function stagePair(L: FusedLayout): string {
  return `${patchOrigin(L.ck, WINO_M)}
      let vRow = c * ${L.rs4} + tb / 4;
      let lane = tb % 4;
      ${rep(WINO_A, (q) => patchColumn(L, q), '\n      ')}
      ${rep(WINO_A, (i) => rep(WINO_A, (j) => `sh[${(i * WINO_A + j) * L.xs4} + vRow][lane] = ${combination(WINO_BT[j], WINO_BT.map((_, q) => `e${i}_${q}`))};`, '\n      '), '\n      ')}`;
}

/** Column q of the patch, d{r}_q, and its Bᵀ d column e{i}_q (the loads die as soon as they are combined). */
function patchColumn(L: FusedLayout, q: number): string {
  return `${rep(WINO_A, (r) => `var d${r}_${q} = 0.0;
      if (inH${r} && inW${q}) { d${r}_${q} = ${read(L, `(base + (h0 + ${r}) * params.w + w0 + ${q}) * params.k + ci`)}; }`, '\n      ')}
      ${rep(WINO_A, (i) => `let e${i}_${q} = ${combination(WINO_BT[i], WINO_BT.map((_, r) => `d${r}_${q}`))};`, '\n      ')}`;
}

/** U's slice into workgroup memory: (ξ, c, channel vec4), zeros past K; channels past N repeat the last (never stored). */
function stageU(L: FusedLayout): string {
  const per = L.ck * L.nt4;
  return `for (var e = l; e < ${WINO_XI * per}; e += ${L.threads}) {
      let q = e % ${L.nt4};
      let c = (e / ${L.nt4}) % ${L.ck};
      let x = e / ${per};
      var val = vec4<f32>(0.0);
      if (ci0 + c < params.k) { val = u[(x * params.k + ci0 + c) * params.n4 + min(co4 + q, params.n4 - 1)]; }
      sh[${WINO_XI * L.xs4} + x * ${L.us4} + c * ${L.nt4} + q] = val;
    }`;
}

/** Column items a thread of the split staging holds: item a = l + k·threads, k below this. */
export const columnItems = (L: FusedLayout): number => Math.ceil((WINO_A * L.bt * L.ck) / L.threads);

/**
 * WGSL before the slice loop: each of the thread's column items k, s{k}a = (block · 6 + q) · ck + c
 * (neighbouring threads read neighbouring channels of a pixel): its channel, column, block and
 * pixels, and its 6 registers s{k}d{r}, with slice 0's reads issued.
 */
export function splitSetup(L: FusedLayout): string {
  const items = WINO_A * L.bt * L.ck;
  return `${rep(columnItems(L), (k) => `let s${k}a = l + ${k * L.threads};
  let s${k}c = s${k}a % ${L.ck};
  let s${k}q = (s${k}a / ${L.ck}) % ${WINO_A};
  let s${k}tb = s${k}a / ${WINO_A * L.ck};
  let s${k}t = t0 + s${k}tb;
  ${patchCorner(`s${k}t`, WINO_M, `s${k}`)}
  let s${k}w = s${k}w0 + s${k}q;
  let s${k}inW = s${k}a < ${items} && s${k}t < params.blocks && s${k}w >= 0 && s${k}w < params.w;
  ${rep(WINO_A, (r) => `var s${k}d${r} = 0.0;`)}`)}
  ${splitLoads(L, '0')}`;
}

/** WGSL: the reads of the thread's column items for the slice from ci0 (zeros outside the input and past K). */
function splitLoads(L: FusedLayout, ci0: string): string {
  return rep(columnItems(L), (k) => `{
    let ci = ${ci0} + s${k}c;
    let live = s${k}inW && ci < params.k;
    ${rep(WINO_A, (r) => `s${k}d${r} = 0.0;
    if (live && s${k}h0 + ${r} >= 0 && s${k}h0 + ${r} < params.h) { s${k}d${r} = ${read(L, `(s${k}base + (s${k}h0 + ${r}) * params.w + s${k}w) * params.k + ci`)}; }`, '\n    ')}
  }`, '\n  ');
}

/**
 * WGSL, the split staging of one slice: Bᵀ of the held columns into E; a barrier; the next
 * slice's reads issued; E's rows · B into V (and U's slice where staged). Ends before the barrier
 * that precedes the GEMM.
 */
export function stageSplit(L: FusedLayout): string {
  const pairs = L.bt * L.ck;
  const items = WINO_A * pairs;
  const eAt = (q: string, i: string | number, pair: string) => `sh[${L.es4} + ((${q} * ${WINO_A} + ${i}) * ${pairs + 4} + ${pair}) / 4][(${pair}) % 4]`;
  return `${rep(columnItems(L), (k) => `if (s${k}a < ${items}) {
      let pair = s${k}tb * ${L.ck} + s${k}c;
      ${rep(WINO_A, (i) => `${eAt(`s${k}q`, i, 'pair')} = ${combination(WINO_BT[i], WINO_BT.map((_, r) => `s${k}d${r}`))};`, '\n      ')}
    }`, '\n    ')}
    workgroupBarrier();
    if (ci0 + ${L.ck} < params.k) {
    ${splitLoads(L, `(ci0 + ${L.ck})`)}
    }
    for (var it = l; it < ${items}; it += ${L.threads}) {
      let pair = it % ${pairs};
      let i = it / ${pairs};
      ${rep(WINO_A, (q) => `let e${q} = ${eAt(String(q), 'i', 'pair')};`, '\n      ')}
      let vRow = (pair % ${L.ck}) * ${L.rs4} + pair / ${L.ck * 4};
      let lane = (pair / ${L.ck}) % 4;
      ${rep(WINO_A, (j) => `sh[(i * ${WINO_A} + ${j}) * ${L.xs4} + vRow][lane] = ${combination(WINO_BT[j], WINO_BT.map((_, q) => `e${q}`))};`, '\n      ')}
    }
    ${L.sharedU ? stageU(L) : ''}`;
}
