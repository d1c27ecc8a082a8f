// conv2d's GEMMs (conv2d-gemm.ts), 'tiled' family, for GPUs: a workgroup of 256 threads computes
// a BM×BN tile, staging BK-deep slices of A and B in workgroup memory; each thread accumulates a
// TM×TN block in registers, and reads the next slice from global memory while it multiplies the
// current one. K positions are decoded once and then advanced by BK with carries (constants like
// BK = dTap·Cin + dCi come in params): no integer division in the loop.

import { bindings, direction, forwardRow, guard, PHASE, PHASE_PIXEL, phaseRow, rep, storeOne, GEOM, WEIGHT_OFFSET, type ConvDirection } from './conv2d-gemm-common.js';
import type { OperandSource } from './conv2d-subgroup.js';
import { ArgumentError } from '../errors.js';
import { describeValue } from '../graph/args.js';

/** 'tiled': BM×BN outputs per workgroup, BK-deep slices, TM×TN outputs per thread. */
export interface GemmTile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

/**
 * 64×64 tiles, 16-deep slices, 256 threads with a 4×4 block each: 8 KiB of workgroup memory (half
 * the 16 KiB every adapter offers), 16 accumulators per thread, and two vec4 reads of workgroup
 * memory per 16 multiply-adds.
 */
export const CONV_TILE: GemmTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };

/** 128×128 tiles, 8-deep slices, 8×8 per thread: 8 KiB of workgroup memory, 64 accumulators. */
export const WIDE_TILE: GemmTile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };

/** 128×64 tiles, 8-deep slices, 8×4 per thread: for GEMMs too narrow to fill a 128-wide tile. */
export const NARROW_TILE: GemmTile = { bm: 128, bn: 64, bk: 8, tm: 8, tn: 4 };

/** 128×32 tiles, 8-deep slices, 8×4 per thread (128 threads): forwards and backward inputs of 17 to 32 columns. */
export const SLIM_TILE: GemmTile = { bm: 128, bn: 32, bk: 8, tm: 8, tn: 4 };

/** SLIM_TILE with 16-deep slices: weight gradients of 17 to 32 columns. */
export const SLIM_DEEP_TILE: GemmTile = { bm: 128, bn: 32, bk: 16, tm: 8, tn: 4 };

/** 64×64 tiles, 8-deep slices, 4×4 per thread: four workgroups where WIDE_TILE has one, for GEMMs too small to fill the device with 128×128 tiles. */
export const GRID_TILE: GemmTile = { bm: 64, bn: 64, bk: 8, tm: 4, tn: 4 };

/** 32×32 tiles, 16-deep slices, 4×4 per thread (64 threads): weight gradients of 32 rows or 32 columns. */
export const SQUARE_TILE: GemmTile = { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 };

/**
 * The tiled family's tile for a GEMM of N columns (forward: Cout; backward input: Cin; backward
 * weight: Cout), from the U-Net's convs at batch 16, 256x256, timed on an H200 in two runs
 * (dawnet only, GPU timestamps; CONV_TILE's times in brackets):
 * - forward and backward input: N >= 128 (l3-l5): WIDE_TILE, 0.68-0.82 ms [0.92-1.23], the
 *   forwards at 43-46% of the FMA peak; N = 64 (l2): NARROW_TILE, 0.75 and 0.84 ms [0.93, 1.21];
 *   N = 32 (l1): SLIM_TILE, 0.90 and 1.03 ms [1.24, 1.59] in a third run, where 16-deep slices
 *   (SLIM_DEEP_TILE, the rule before it) took 1.27 and 1.45 ms and 256x32x8/8x4 0.97 and 1.03.
 *   Each was the fastest of the tiles tried at its N (128x128 and 128x64 with 4-, 8- and 16-deep
 *   slices, 128x32 and 256x32, 64x64 with 8 and 32). 128-wide tiles ran 0.5-0.8x at N <= 64,
 *   where most of their columns are empty.
 * - weight gradient: WIDE_TILE at N = 128 and 256 (1.49x and 1.10x), SLIM_DEEP_TILE at N = 32
 *   (1.27x; 8-deep slices 0.96x of it); at N = 64 and 512 CONV_TILE stayed the fastest (its split
 *   K changes with the tile).
 * - N <= 16 keeps CONV_TILE: no tile was timed there.
 */
export function tiledTileFor(dir: ConvDirection, n: number): GemmTile {
  if (n <= 16) return CONV_TILE;
  if (n <= 32) return dir === 'backwardWeight' ? SLIM_DEEP_TILE : SLIM_TILE;
  if (dir === 'backwardWeight') return n >= 128 && n <= 256 ? WIDE_TILE : CONV_TILE;
  return n >= 128 ? WIDE_TILE : NARROW_TILE;
}

/**
 * The tiles tuneConvs times for a conv's GEMM (conv2d-tuning.ts): the named ones and the others
 * the H200 tile comparisons tried (scripts/gpu-run.sh's DAWNET_TILE), each fastest somewhere there
 * or close to it; and two that walk a K of up to 32 in one slice, one barrier pair per tile rather
 * than four, for the GEMMs the last H200 run left slowest: VGG16's conv1_1 (K = 27, at 19% of the
 * FMA peak) and Winograd's batched GEMM at U-Net l1 (K = N = 32, 0.47 of the forward's 0.67 ms);
 * and a 32x32 tile of 64 threads for GEMMs of 32 rows and 32 columns, the Winograd weight
 * gradient's at U-Net l1 (Cin x Cout per transform position, where a 128x32 tile leaves three
 * quarters of its rows empty). On an H200 (2026-11-27) the 32x32 tile won every Winograd weight
 * gradient with 32 rows or columns and the direct one of the U-Net's first conv (27 rows), and
 * is now their rule (conv2d-tile-rule.ts); the two 32-deep tiles won nowhere (VGG16's conv1_1 kept 128x64x8, U-Net
 * l1's batched GEMM 128x32x8); GRID_TILE won Winograd's GEMMs of few blocks (conv2d-tile-rule.ts).
 */
export const TUNING_TILES: readonly GemmTile[] = [
  CONV_TILE,
  WIDE_TILE,
  NARROW_TILE,
  SLIM_TILE,
  SLIM_DEEP_TILE,
  { bm: 256, bn: 32, bk: 8, tm: 8, tn: 4 },
  { bm: 256, bn: 64, bk: 8, tm: 8, tn: 8 },
  GRID_TILE,
  { bm: 64, bn: 64, bk: 32, tm: 4, tn: 4 },
  { bm: 64, bn: 32, bk: 32, tm: 4, tn: 4 },
  SQUARE_TILE,
];

/** A tile as parseGemmTile reads it: 'BMxBNxBK/TMxTN'. */
export const formatGemmTile = (t: GemmTile): string => `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}`;

/**
 * A tile written 'BMxBNxBK/TMxTN' (e.g. '128x128x16/8x8': 256 threads with 8x8 outputs each, the
 * usual next step on a large GPU), checked against what tiledWgsl needs: TM and TN multiples of 4
 * dividing BM and BN, at most 256 threads, each loading a whole number of values of both
 * operands per slice, and both slices within the 16 KiB of workgroup memory every adapter has.
 */
/** `who` leads an error: the public call and argument that gave the tile ('setConvTile: conv tile'). */
export function parseGemmTile(spec: string, who = 'conv tile'): GemmTile {
  const m = typeof spec === 'string' ? /^(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)$/.exec(spec.trim()) : null;
  if (!m) throw new ArgumentError(`${who}: expected BMxBNxBK/TMxTN (e.g. 128x128x16/8x8), got ${describeValue(spec)}`);
  const [bm, bn, bk, tm, tn] = m.slice(1).map(Number);
  return checkGemmTile({ bm, bn, bk, tm, tn }, spec, who);
}

/** A tile given as an object (setConvTile), checked as parseGemmTile checks a written one. */
export function checkGemmTile(t: GemmTile, label?: string, who = 'conv tile'): GemmTile {
  const sizes = t && typeof t === 'object' ? [t.bm, t.bn, t.bk, t.tm, t.tn] : [];
  if (sizes.length !== 5 || !sizes.every((v) => Number.isInteger(v) && v > 0)) {
    throw new ArgumentError(`${who}: expected { bm, bn, bk, tm, tn } of positive whole numbers or 'BMxBNxBK/TMxTN', got ${describeValue(t)}`);
  }
  const { bm, bn, bk, tm, tn } = t;
  const threads = (bm / tm) * (bn / tn);
  const problems = [
    tm % 4 || tn % 4 ? 'TM and TN must be multiples of 4' : '',
    bm % tm || bn % tn ? 'TM must divide BM and TN divide BN' : '',
    !Number.isInteger(threads) || threads > 256 ? `(BM/TM)(BN/TN) = ${threads} threads; at most 256` : '',
    threads % bk || threads % bm || threads % bn || (bm * bk) % threads || (bn * bk) % threads
      ? 'each thread must load whole values of both slices (threads a multiple of BK, BM and BN, dividing BM·BK and BN·BK)'
      : '',
    (bk * (bm + bn) * 4) > 16384 ? `slices of ${bk * (bm + bn) * 4} bytes exceed 16 KiB of workgroup memory` : '',
  ].filter((p) => p);
  if (problems.length) throw new ArgumentError(`${who} ${label ?? formatGemmTile(t)}: ${problems.join('; ')}`);
  return { bm, bn, bk, tm, tn };
}

/** Per direction: how the threads cover a tile when loading it ('k': along K, coalescing reads
 *  where K is the contiguous axis; 'mn': along rows or columns), the setup, loads and advance. */
interface TiledParts {
  aMap: 'k' | 'mn';
  bMap: 'k' | 'mn';
  setup: (la: number) => string;
  loadA: (i: number) => string;
  loadB: (j: number) => string;
  advance: (la: number) => string;
}

function tiledParts(dir: ConvDirection, batchedWeights: boolean): TiledParts {
  if (dir === 'forward') {
    const wOff = batchedWeights ? 'wOff + ' : '';
    return {
      aMap: 'k',
      bMap: 'mn',
      setup: (la) => `${batchedWeights ? WEIGHT_OFFSET : ''}
  let kBegin = 0;
  let kEnd = params.k;
  var ci = aK % params.cin;
  var kwi = (aK / params.cin) % params.kw;
  var khi = aK / (params.cin * params.kw);
  ${rep(la, (i) => forwardRow(`${i}`, `aRow${i}`))}`,
      loadA: (i) => `{
      let hi = hBase${i} + khi;
      let wi = wBase${i} + kwi;
      aReg${i} = 0.0;
      ${guard('kLoad + aK < kEnd && hi >= 0 && hi < params.h && wi >= 0 && wi < params.w', `aReg${i} = x[xBase${i} + (hi * params.w + wi) * params.cin + ci];`)}
    }`,
      loadB: (j) => `bReg${j} = 0.0;
    ${guard(`kLoad + bK${j} < kEnd && bCol < params.cout`, `bReg${j} = w[${wOff}(kLoad + bK${j}) * params.cout + bCol];`)}`,
      advance: () => `ci += params.dCi;
    kwi += params.dTapW;
    khi += params.dTapH;
    if (ci >= params.cin) { ci -= params.cin; kwi += 1; }
    if (kwi >= params.kw) { kwi -= params.kw; khi += 1; }`,
    };
  }
  if (dir === 'backwardInput') {
    return {
      aMap: 'k',
      bMap: 'k',
      setup: (la) => `${PHASE}
  let kBegin = 0;
  let kEnd = th * tw * params.cout;
  let twSafe = max(tw, 1);
  let dTapW = params.dTap % twSafe;
  let dTapH = params.dTap / twSafe;
  var co = aK % params.cout;
  var twi = (aK / params.cout) % twSafe;
  var thi = aK / (params.cout * twSafe);
  ${rep(la, (i) => phaseRow(`${i}`, `aRow${i}`))}`,
      loadA: (i) => `{
      let ho = hoBase${i} - thi;
      let wo = woBase${i} - twi;
      aReg${i} = 0.0;
      ${guard('kLoad + aK < kEnd && ho >= 0 && ho < params.ho && wo >= 0 && wo < params.wo', `aReg${i} = dy[dyBase${i} + (ho * params.wo + wo) * params.cout + co];`)}
    }`,
      loadB: (j) => `bReg${j} = 0.0;
    ${guard(`kLoad + bK < kEnd && bCol${j} < params.cin`, `bReg${j} = w[(((rh + params.sh * thi) * params.kw + rw + params.sw * twi) * params.cin + bCol${j}) * params.cout + co];`)}`,
      advance: () => `co += params.dCo;
    twi += dTapW;
    thi += dTapH;
    if (co >= params.cout) { co -= params.cout; twi += 1; }
    if (twi >= twSafe) { twi -= twSafe; thi += 1; }`,
    };
  }
  return {
    aMap: 'mn',
    bMap: 'mn',
    setup: (la) => `let kBegin = batch * params.chunk;
  let kEnd = min(params.k, kBegin + params.chunk);
  let ci = aRow % params.cin;
  let kwOff = (aRow / params.cin) % params.kw - params.padLeft;
  let khOff = aRow / (params.cin * params.kw) - params.padTop;
  ${rep(la, (i) => `var wo${i} = (kBegin + aK${i}) % params.wo;
  var ho${i} = ((kBegin + aK${i}) / params.wo) % params.ho;
  var n${i} = (kBegin + aK${i}) / (params.wo * params.ho);`)}`,
    loadA: (i) => `{
      let hi = ho${i} * params.sh + khOff;
      let wi = wo${i} * params.sw + kwOff;
      aReg${i} = 0.0;
      ${guard(`aRow < params.mw && kLoad + aK${i} < kEnd && hi >= 0 && hi < params.h && wi >= 0 && wi < params.w`, `aReg${i} = x[((n${i} * params.h + hi) * params.w + wi) * params.cin + ci];`)}
    }`,
    loadB: (j) => `bReg${j} = 0.0;
    ${guard(`kLoad + bK${j} < kEnd && bCol < params.cout`, `bReg${j} = dy[(kLoad + bK${j}) * params.cout + bCol];`)}`,
    advance: (la) => rep(la, (i) => `wo${i} += params.dWo;
    if (wo${i} >= params.wo) { wo${i} -= params.wo; ho${i} += 1; }
    ho${i} += params.dHo;
    if (ho${i} >= params.ho) { ho${i} -= params.ho; n${i} += 1; }
    n${i} += params.dN;`, '\n    '),
  };
}

/** Load slots: 'k' gives aK, aRow{i} (or bK, bCol{j}); 'mn' gives aRow, aK{i} (or bCol, bK{j}). */
function slots(side: 'a' | 'b', map: 'k' | 'mn', rows: number, t: GemmTile, T: number): string {
  const [row, col, base] = side === 'a' ? ['Row', 'K', 'row0'] : ['Col', 'K', 'col0'];
  const n = (rows * t.bk) / T;
  if (map === 'k') {
    return `let ${side}K = l % ${t.bk};
  ${rep(n, (i) => `let ${side}${row}${i} = ${base} + l / ${t.bk} + ${i * (T / t.bk)};`)}
  ${rep(n, (i) => `let ${side}At${i} = ${side}K * ${rows} + l / ${t.bk} + ${i * (T / t.bk)};`)}`;
  }
  return `let ${side}${row} = ${base} + l % ${rows};
  ${rep(n, (i) => `let ${side}${col}${i} = l / ${rows} + ${i * (T / rows)};`)}
  ${rep(n, (i) => `let ${side}At${i} = ${side}${col}${i} * ${rows} + l % ${rows};`)}`;
}

/**
 * The operand-load probe's loads (OperandSource 'registers', see conv2d-subgroup.ts): each read of
 * x, w or dy becomes its index as a float, so the index arithmetic, the bounds checks, the staging
 * in workgroup memory and the multiply-adds stay and only the buffer reads go.
 */
const indexInstead = (load: string): string => load.replace(/\b(x|w|dy)\[([^[\]]+)\]/g, 'f32($2)');

/**
 * vecOut (forward and backward input, with N a multiple of 4): each thread stores its TN columns
 * of a row as TN/4 vec4s (and reads the bias so), not one float at a time. A warp's scalar store
 * there touches 4 rows × 8 lanes 16 bytes apart, 16 sectors for 128 bytes, four times the
 * sectors its vec4 store needs for the same bytes: at the U-Net's l1, Winograd's GEMM writes
 * M, 302 MB, this way.
 */
export function tiledWgsl(dir: ConvDirection, hasBias: boolean, t: GemmTile, src: OperandSource = 'memory', batchedWeights = false, vecOut = false, relu = false): string {
  const d = direction(dir, hasBias, batchedWeights);
  const p = tiledParts(dir, batchedWeights);
  const T = (t.bm / t.tm) * (t.bn / t.tn);
  const [la, lb, nv] = [(t.bm * t.bk) / T, (t.bn * t.bk) / T, t.tn / 4];
  const loads = `${rep(la, p.loadA)}\n    ${rep(lb, p.loadB, '\n    ')}`;
  const load = src === 'registers' ? indexInstead(loads) : loads;
  const row = dir === 'backwardInput' ? PHASE_PIXEL : '';
  return /* wgsl */ `
struct Params { ${[...GEOM, ...d.extras].map((f) => `${f}: i32`).join(', ')} }
${bindings(d.inputs, d.output, vecOut ? [d.output, ...(hasBias ? ['b'] : [])] : [])}
var<workgroup> tileA: array<vec4<f32>, ${(t.bk * t.bm) / 4}>;
var<workgroup> tileB: array<vec4<f32>, ${(t.bk * t.bn) / 4}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let l = i32(lidx);
  let col0 = (g % params.nTiles) * ${t.bn};
  let row0 = ((g / params.nTiles) % params.mTiles) * ${t.bm};
  let batch = g / (params.nTiles * params.mTiles);
  let tx = l % ${t.bn / t.tn};
  let ty = l / ${t.bn / t.tn};
  ${slots('a', p.aMap, t.bm, t, T)}
  ${slots('b', p.bMap, t.bn, t, T)}
  ${p.setup(la)}
  ${rep(t.tm * nv, (i) => `var acc${Math.floor(i / nv)}_${i % nv} = vec4<f32>(0.0);`)}
  ${rep(la, (i) => `var aReg${i} = 0.0;`)}
  ${rep(lb, (j) => `var bReg${j} = 0.0;`)}
  var kLoad = kBegin;
  if (kLoad < kEnd) {
    ${load}
  }
  for (var k0 = kBegin; k0 < kEnd; k0 += ${t.bk}) {
    ${rep(la, (i) => `tileA[aAt${i} / 4][aAt${i} % 4] = aReg${i};`, '\n    ')}
    ${rep(lb, (j) => `tileB[bAt${j} / 4][bAt${j} % 4] = bReg${j};`, '\n    ')}
    workgroupBarrier();
    kLoad += ${t.bk};
    ${p.advance(la)}
    if (kLoad < kEnd) {
      ${load}
    }
    for (var kk = 0; kk < ${t.bk}; kk++) {
      ${rep(t.tm / 4, (a) => `let a${a} = tileA[kk * ${t.bm / 4} + ty * ${t.tm / 4} + ${a}];`, '\n      ')}
      ${rep(nv, (b) => `let b${b} = tileB[kk * ${t.bn / 4} + tx * ${nv} + ${b}];`, '\n      ')}
      ${rep(t.tm * nv, (i) => {
        const r = Math.floor(i / nv);
        return `acc${r}_${i % nv} = fma(vec4<f32>(a${r >> 2}.${'xyzw'[r & 3]}), b${i % nv}, acc${r}_${i % nv});`;
      }, '\n      ')}
    }
    workgroupBarrier();
  }
  ${rep(t.tm, (i) => `{
    let m = row0 + ty * ${t.tm} + ${i};
    ${row}
    ${vecOut
      ? rep(nv, (v) => `if (col0 + tx * ${t.tn} + ${4 * v} < ${d.cols}) { ${storeOne(dir, hasBias, `col0 + tx * ${t.tn} + ${4 * v}`, `acc${i}_${v}`, true, relu)} }`, '\n    ')
      : rep(t.tn, (c) => `if (col0 + tx * ${t.tn} + ${c} < ${d.cols}) { ${storeOne(dir, hasBias, `col0 + tx * ${t.tn} + ${c}`, `acc${i}_${Math.floor(c / 4)}.${'xyzw'[c % 4]}`, false, relu)} }`, '\n    ')}
  }`)}
}`;
}
