// The tiled conv2d kernels: all three directions are one implicit GEMM, C[M, N] = A[M, K] · B[K, N],
// whose A and B tiles are gathered from the NHWC tensors on the fly (no im2col buffer):
//
//   forward          M = N·Ho·Wo (output pixels)  N = Cout  K = kh·kw·Cin       A = x patches, B = w
//   backward input   M = N·H·W  (input pixels)    N = Cin   K = taps·Cout       A = dy patches, B = wᵀ
//   backward weight  M = kh·kw·Cin (weight rows)  N = Cout  K = N·Ho·Wo         A = x patchesᵀ, B = dy
//
// One workgroup computes a BM×BN tile of C: each step it stages a BK-deep slice of A and B in
// workgroup memory, and each of its threads accumulates a TM×TN block in registers, so every value
// read from workgroup memory feeds TM (or TN) multiply-adds instead of one. The next slice is read
// from global memory into registers while the current one is multiplied (latency hiding on GPUs).
//
// K indices are never divided inside the loop: integer division is slow on GPUs and scalarised on
// lavapipe (no vector divide on x86), so each thread decodes its K position once and then advances
// it by BK with carries, using per-call constants such as BK = dTap·Cin + dCi from the params.
//
// Backward input is a gather, split by output phase: for stride s, the input pixels with
// (hi mod s, wi mod s) = (ph, pw) receive exactly the taps kh_i ≡ ph + padTop (mod s), so each of
// the s² phases is a dense GEMM over only its own taps (no multiply by structural zeros). The phase
// is the third coordinate of the workgroup grid. Backward weight has a huge K and a small M·N: it
// splits K over workgroups (split-K) and sums the partial tiles with reduce.reduceMiddle.

import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import type { ConvGeometry } from './conv2d.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

/** A tile shape: BM×BN outputs per workgroup, BK-deep slices, TM×TN outputs per thread. */
export interface GemmTile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

/**
 * 64×64 tiles, 16-deep slices, 256 threads each owning a 4×4 block: 8 KiB of workgroup memory (half
 * the 16 KiB every adapter offers), 16 accumulators per thread (fits a GPU's registers, and llvmpipe's
 * 16 AVX2 registers with little spilling), and 2 loads per 16 multiply-adds from workgroup memory.
 */
export const CONV_TILE: GemmTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };

/** Each split-K slice covers at least this many pixels, so its partial sums are worth their traffic. */
const SPLIT_K_MIN = 512;

const GEOM = ['n', 'h', 'w', 'cin', 'ho', 'wo', 'cout', 'kh', 'kw', 'sh', 'sw', 'padTop', 'padLeft'] as const;
const TILING = ['mTiles', 'nTiles', 'groups'] as const;

function threads(t: GemmTile): number {
  return (t.bm / t.tm) * (t.bn / t.tn);
}

function tileKey(t: GemmTile): string {
  return `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}`;
}

const rep = (n: number, f: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);

/** How the threads of a workgroup cover a tile when loading it: along K, or along rows/columns. */
type LoadMap = 'k' | 'mn';

interface Variant {
  name: string;
  extras: readonly string[];
  bindings: string;
  inputs: number;
  aMap: LoadMap;
  bMap: LoadMap;
  /** After the tile coordinates: sets kBegin/kEnd and decodes what stays fixed over the K loop. */
  setup: (t: GemmTile) => string;
  /** Reads the slice at kLoad into aReg{i} / bReg{j}. */
  loadA: (i: number, t: GemmTile) => string;
  loadB: (j: number, t: GemmTile) => string;
  /** Moves the decoded K positions on by BK. */
  advance: (t: GemmTile) => string;
  /** Writes the accumulator acc{i}_{v} (row i, columns 4v..4v+3) of this thread. */
  store: (t: GemmTile) => string;
}

/**
 * Names the variants can use. Load maps: 'k' spreads the threads along K (aK, aRow{i} / bK, bCol{j});
 * 'mn' along rows or columns (aRow, aK{i} / bCol, bK{j}); K offsets are relative to kLoad.
 */
function slotDecls(t: GemmTile, v: Variant): string {
  const T = threads(t);
  const la = (t.bm * t.bk) / T;
  const lb = (t.bn * t.bk) / T;
  const a =
    v.aMap === 'k'
      ? `let aK = l % ${t.bk};\n  ${rep(la, (i) => `let aRow${i} = row0 + l / ${t.bk} + ${i * (T / t.bk)};`)}
  ${rep(la, (i) => `let aAt${i} = aK * ${t.bm} + l / ${t.bk} + ${i * (T / t.bk)};`)}`
      : `let aRow = row0 + l % ${t.bm};\n  ${rep(la, (i) => `let aK${i} = l / ${t.bm} + ${i * (T / t.bm)};`)}
  ${rep(la, (i) => `let aAt${i} = aK${i} * ${t.bm} + l % ${t.bm};`)}`;
  const b =
    v.bMap === 'k'
      ? `let bK = l % ${t.bk};\n  ${rep(lb, (j) => `let bCol${j} = col0 + l / ${t.bk} + ${j * (T / t.bk)};`)}
  ${rep(lb, (j) => `let bAt${j} = bK * ${t.bn} + l / ${t.bk} + ${j * (T / t.bk)};`)}`
      : `let bCol = col0 + l % ${t.bn};\n  ${rep(lb, (j) => `let bK${j} = l / ${t.bn} + ${j * (T / t.bn)};`)}
  ${rep(lb, (j) => `let bAt${j} = bK${j} * ${t.bn} + l % ${t.bn};`)}`;
  return `${a}\n  ${b}`;
}

function gemmWgsl(t: GemmTile, v: Variant): string {
  const T = threads(t);
  const la = (t.bm * t.bk) / T;
  const lb = (t.bn * t.bk) / T;
  const nv = t.tn / 4;
  const load = `${rep(la, (i) => v.loadA(i, t))}\n    ${rep(lb, (j) => v.loadB(j, t), '\n    ')}`;
  const xyzw = 'xyzw';
  return /* wgsl */ `
struct Params { ${[...GEOM, ...TILING, ...v.extras].map((f) => `${f}: i32`).join(', ')} }
${v.bindings}
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
  ${slotDecls(t, v)}
  ${v.setup(t)}
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
    ${v.advance(t)}
    if (kLoad < kEnd) {
      ${load}
    }
    for (var kk = 0; kk < ${t.bk}; kk++) {
      ${rep(t.tm / 4, (a) => `let a${a} = tileA[kk * ${t.bm / 4} + ty * ${t.tm / 4} + ${a}];`, '\n      ')}
      ${rep(nv, (b) => `let b${b} = tileB[kk * ${t.bn / 4} + tx * ${nv} + ${b}];`, '\n      ')}
      ${rep(t.tm * nv, (i) => {
        const r = Math.floor(i / nv);
        return `acc${r}_${i % nv} = fma(vec4<f32>(a${r >> 2}.${xyzw[r & 3]}), b${i % nv}, acc${r}_${i % nv});`;
      }, '\n      ')}
    }
    workgroupBarrier();
  }
  ${v.store(t)}
}`;
}

/** Writes each in-range accumulator element through `write(row, col, value)`. */
function storeAcc(t: GemmTile, rowVar: (i: number) => string, write: (i: number, col: string, value: string) => string, nCols: string): string {
  const nv = t.tn / 4;
  return rep(t.tm, (i) => `{
    ${rowVar(i)}
    ${rep(t.tn, (c) => `if (col0 + tx * ${t.tn} + ${c} < ${nCols}) { ${write(i, `col0 + tx * ${t.tn} + ${c}`, `acc${i}_${Math.floor(c / 4)}.${'xyzw'[c % 4]}`)} }`, '\n    ')}
  }`);
}

const guard = (cond: string, body: string): string => `if (${cond}) { ${body} }`;

// ---------------------------------------------------------------------------------------------
// Forward: A[m, k] = x[n, ho·sh − padTop + kh_i, wo·sw − padLeft + kw_i, ci], B[k, co] = w[k, co].

function forwardVariant(hasBias: boolean): Variant {
  return {
    name: 'conv2d.forward',
    extras: ['m', 'k', 'dCi', 'dTapW', 'dTapH'],
    inputs: hasBias ? 3 : 2,
    bindings: `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
${hasBias ? '@group(0) @binding(2) var<storage, read> b: array<f32>;' : ''}
@group(0) @binding(${hasBias ? 3 : 2}) var<storage, read_write> y: array<f32>;
@group(0) @binding(${hasBias ? 4 : 3}) var<uniform> params: Params;`,
    aMap: 'k',
    bMap: 'mn',
    setup: (t) => `let kBegin = 0;
  let kEnd = params.k;
  var ci = aK % params.cin;
  var kwi = (aK / params.cin) % params.kw;
  var khi = aK / (params.cin * params.kw);
  ${rep((t.bm * t.bk) / threads(t), (i) => `var hBase${i} = -1073741824;
  var wBase${i} = 0;
  var xBase${i} = 0;
  if (aRow${i} < params.m) {
    let wo = aRow${i} % params.wo;
    let ho = (aRow${i} / params.wo) % params.ho;
    hBase${i} = ho * params.sh - params.padTop;
    wBase${i} = wo * params.sw - params.padLeft;
    xBase${i} = (aRow${i} / (params.wo * params.ho)) * params.h * params.w * params.cin;
  }`)}`,
    loadA: (i) => `{
      let hi = hBase${i} + khi;
      let wi = wBase${i} + kwi;
      aReg${i} = 0.0;
      ${guard('kLoad + aK < kEnd && hi >= 0 && hi < params.h && wi >= 0 && wi < params.w', `aReg${i} = x[xBase${i} + (hi * params.w + wi) * params.cin + ci];`)}
    }`,
    loadB: (j) => `bReg${j} = 0.0;
    ${guard(`kLoad + bK${j} < kEnd && bCol < params.cout`, `bReg${j} = w[(kLoad + bK${j}) * params.cout + bCol];`)}`,
    advance: () => `ci += params.dCi;
    kwi += params.dTapW;
    khi += params.dTapH;
    if (ci >= params.cin) { ci -= params.cin; kwi += 1; }
    if (kwi >= params.kw) { kwi -= params.kw; khi += 1; }`,
    store: (t) =>
      storeAcc(t, (i) => `let m = row0 + ty * ${t.tm} + ${i};`, (_i, col, value) =>
        guard('m < params.m', `y[m * params.cout + ${col}] = ${value}${hasBias ? ` + b[${col}]` : ''};`), 'params.cout'),
  };
}

// ---------------------------------------------------------------------------------------------
// Backward input, one stride phase (ph, pw) per grid slice. Rows are the phase's input pixels
// (n, i, j) at hi = ph + sh·i; K runs over its taps (th_i, tw_i) and Cout; kh_i = rh + sh·th_i.

function backwardInputVariant(hasBias: boolean): Variant {
  return {
    name: 'conv2d.backwardInput',
    extras: ['dCo', 'dTap'],
    inputs: hasBias ? 3 : 2,
    bindings: `@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
${hasBias ? '@group(0) @binding(2) var<storage, read> b: array<f32>;' : ''}
@group(0) @binding(${hasBias ? 3 : 2}) var<storage, read_write> dx: array<f32>;
@group(0) @binding(${hasBias ? 4 : 3}) var<uniform> params: Params;`,
    aMap: 'k',
    bMap: 'k',
    setup: (t) => `let ph = batch / params.sw;
  let pw = batch % params.sw;
  let rh = (ph + params.padTop) % params.sh;
  let rw = (pw + params.padLeft) % params.sw;
  let th = max(params.kh - rh + params.sh - 1, 0) / params.sh;
  let tw = max(params.kw - rw + params.sw - 1, 0) / params.sw;
  let hp = max(params.h - ph + params.sh - 1, 0) / params.sh;
  let wp = max(params.w - pw + params.sw - 1, 0) / params.sw;
  let oh0 = (ph + params.padTop - rh) / params.sh;
  let ow0 = (pw + params.padLeft - rw) / params.sw;
  let mp = params.n * hp * wp;
  if (row0 >= mp) { return; }
  let kBegin = 0;
  let kEnd = th * tw * params.cout;
  let twSafe = max(tw, 1);
  let dTapW = params.dTap % twSafe;
  let dTapH = params.dTap / twSafe;
  var co = aK % params.cout;
  var twi = (aK / params.cout) % twSafe;
  var thi = aK / (params.cout * twSafe);
  ${rep((t.bm * t.bk) / threads(t), (i) => `var hoBase${i} = -1073741824;
  var woBase${i} = 0;
  var dyBase${i} = 0;
  if (aRow${i} < mp) {
    woBase${i} = aRow${i} % wp + ow0;
    hoBase${i} = (aRow${i} / wp) % hp + oh0;
    dyBase${i} = (aRow${i} / (wp * hp)) * params.ho * params.wo * params.cout;
  }`)}`,
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
    store: (t) =>
      storeAcc(t, (i) => `let m = row0 + ty * ${t.tm} + ${i};
    let px = ((m / (wp * hp)) * params.h + ph + params.sh * ((m / wp) % hp)) * params.w + pw + params.sw * (m % wp);`,
        (_i, col, value) => guard('m < mp', `dx[px * params.cin + ${col}] = ${value}${hasBias ? ` + b[${col}]` : ''};`), 'params.cin'),
  };
}

// ---------------------------------------------------------------------------------------------
// Backward weight: rows are (kh_i, kw_i, ci), K is the output pixel p = (n, ho, wo) within this
// workgroup's split [kBegin, kEnd); partial tiles go to slice `batch` of the output.

const backwardWeightVariant: Variant = {
  name: 'conv2d.backwardWeight',
  extras: ['mw', 'k', 'chunk', 'dWo', 'dHo', 'dN'],
  inputs: 2,
  bindings: `@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;`,
  aMap: 'mn',
  bMap: 'mn',
  setup: (t) => `let kBegin = batch * params.chunk;
  let kEnd = min(params.k, kBegin + params.chunk);
  let ci = aRow % params.cin;
  let kwOff = (aRow / params.cin) % params.kw - params.padLeft;
  let khOff = aRow / (params.cin * params.kw) - params.padTop;
  ${rep((t.bm * t.bk) / threads(t), (i) => `var wo${i} = (kBegin + aK${i}) % params.wo;
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
  advance: (t) =>
    rep((t.bm * t.bk) / threads(t), (i) => `wo${i} += params.dWo;
    if (wo${i} >= params.wo) { wo${i} -= params.wo; ho${i} += 1; }
    ho${i} += params.dHo;
    if (ho${i} >= params.ho) { ho${i} -= params.ho; n${i} += 1; }
    n${i} += params.dN;`, '\n    '),
  store: (t) =>
    storeAcc(t, (i) => `let m = row0 + ty * ${t.tm} + ${i};`, (_i, col, value) =>
      guard('m < params.mw', `dw[(batch * params.mw + m) * params.cout + ${col}] = ${value};`), 'params.cout'),
};

// ---------------------------------------------------------------------------------------------
// The subgroup family, for CPU adapters (lavapipe). There every workgroup memory access and every
// load whose address is not a compile-time constant costs one scalar load per SIMD lane, so the
// shared-memory tiles above spend most of their time loading. Here a workgroup is one subgroup
// of W lanes (W = the SIMD width) that owns TM rows × W·TN columns: per K index each lane loads
// TM/W values of A (rows lane, lane + W, ...) and TN of B (its own columns), and
// subgroupBroadcast hands every A value to all lanes, a register shuffle: TM/W + TN loads per
// TM·TN multiply-adds, no workgroup memory and no barriers.

/** W lanes per workgroup (= one subgroup), TM rows (a multiple of W), TN columns per lane. */
export interface SubgroupTile {
  w: number;
  tm: number;
  tn: number;
}

interface SubgroupVariant {
  name: string;
  extras: readonly string[];
  bindings: string;
  inputs: number;
  /** Decodes the rows this lane loads (lrow{q}) and columns it owns (lcol{j}); may return early. */
  setup: (t: SubgroupTile) => string;
  /** The K loops; the innermost sets a{q} and b{j}, then runs `fmas`. */
  body: (t: SubgroupTile, fmas: string) => string;
  store: (t: SubgroupTile) => string;
}

function subgroupWgsl(t: SubgroupTile, v: SubgroupVariant): string {
  const fmas = rep(t.tm, (r) => `{
          let a = subgroupBroadcast(a${Math.floor(r / t.w)}, ${r % t.w}u);
          ${rep(t.tn, (j) => `acc${r}_${j} = fma(a, b${j}, acc${r}_${j});`, ' ')}
        }`, '\n        ');
  return /* wgsl */ `enable subgroups;
struct Params { ${[...GEOM, ...TILING, ...v.extras].map((f) => `${f}: i32`).join(', ')} }
${v.bindings}
@compute @workgroup_size(${t.w})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sgi: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let lane = i32(sgi);
  let col0 = (g % params.nTiles) * ${t.w * t.tn};
  let row0 = ((g / params.nTiles) % params.mTiles) * ${t.tm};
  let batch = g / (params.nTiles * params.mTiles);
  ${rep(t.tm / t.w, (q) => `let lrow${q} = row0 + lane + ${q * t.w};`)}
  ${rep(t.tn, (j) => `let lcol${j} = col0 + lane + ${j * t.w};`)}
  ${v.setup(t)}
  ${rep(t.tm * t.tn, (i) => `var acc${Math.floor(i / t.tn)}_${i % t.tn} = 0.0;`)}
  ${v.body(t, fmas)}
  ${v.store(t)}
}`;
}

/** Writes acc{r}_{j} through `write(col, value)` where row0 + r passes `rowOk` and lcol{j} < nCols. */
function subgroupStore(t: SubgroupTile, rowVar: string, rowOk: string, write: (col: string, value: string) => string, nCols: string): string {
  return rep(t.tm, (r) => `{
    let m = row0 + ${r};
    ${rowVar}
    if (${rowOk}) {
      ${rep(t.tn, (j) => `if (lcol${j} < ${nCols}) { ${write(`lcol${j}`, `acc${r}_${j}`)} }`, '\n      ')}
    }
  }`);
}

function subgroupForward(hasBias: boolean): SubgroupVariant {
  const v = forwardVariant(hasBias);
  return {
    name: 'conv2d.forwardSubgroup',
    extras: ['m'],
    inputs: v.inputs,
    bindings: v.bindings,
    setup: (t) => `${rep(t.tn, (j) => `let wCol${j} = min(lcol${j}, params.cout - 1);`)}
  ${rep(t.tm / t.w, (q) => `var hBase${q} = -1073741824;
  var wBase${q} = 0;
  var xBase${q} = 0;
  if (lrow${q} < params.m) {
    hBase${q} = ((lrow${q} / params.wo) % params.ho) * params.sh - params.padTop;
    wBase${q} = (lrow${q} % params.wo) * params.sw - params.padLeft;
    xBase${q} = (lrow${q} / (params.wo * params.ho)) * params.h * params.w * params.cin;
  }`)}`,
    body: (t, fmas) => `for (var khi = 0; khi < params.kh; khi++) {
    for (var kwi = 0; kwi < params.kw; kwi++) {
      ${rep(t.tm / t.w, (q) => `let hi${q} = hBase${q} + khi;
      let wi${q} = wBase${q} + kwi;
      let ok${q} = hi${q} >= 0 && hi${q} < params.h && wi${q} >= 0 && wi${q} < params.w;
      let at${q} = select(0, xBase${q} + (hi${q} * params.w + wi${q}) * params.cin, ok${q});`, '\n      ')}
      let tap = (khi * params.kw + kwi) * params.cin;
      for (var ci = 0; ci < params.cin; ci++) {
        ${rep(t.tn, (j) => `let b${j} = w[(tap + ci) * params.cout + wCol${j}];`, '\n        ')}
        ${rep(t.tm / t.w, (q) => `let a${q} = select(0.0, x[at${q} + ci], ok${q});`, '\n        ')}
        ${fmas}
      }
    }
  }`,
    store: (t) => subgroupStore(t, '', 'm < params.m', (col, value) => `y[m * params.cout + ${col}] = ${value}${hasBias ? ` + b[${col}]` : ''};`, 'params.cout'),
  };
}

/** The stride phase of backward input (see backwardInputVariant): its taps and pixel grid. */
const PHASE = /* wgsl */ `let ph = batch / params.sw;
  let pw = batch % params.sw;
  let rh = (ph + params.padTop) % params.sh;
  let rw = (pw + params.padLeft) % params.sw;
  let th = max(params.kh - rh + params.sh - 1, 0) / params.sh;
  let tw = max(params.kw - rw + params.sw - 1, 0) / params.sw;
  let hp = max(params.h - ph + params.sh - 1, 0) / params.sh;
  let wp = max(params.w - pw + params.sw - 1, 0) / params.sw;
  let oh0 = (ph + params.padTop - rh) / params.sh;
  let ow0 = (pw + params.padLeft - rw) / params.sw;
  let mp = params.n * hp * wp;
  if (row0 >= mp) { return; }`;

function subgroupBackwardInput(hasBias: boolean): SubgroupVariant {
  const v = backwardInputVariant(hasBias);
  return {
    name: 'conv2d.backwardInputSubgroup',
    extras: [],
    inputs: v.inputs,
    bindings: v.bindings,
    setup: (t) => `${PHASE}
  ${rep(t.tn, (j) => `let wCol${j} = min(lcol${j}, params.cin - 1);`)}
  ${rep(t.tm / t.w, (q) => `var hoBase${q} = -1073741824;
  var woBase${q} = 0;
  var dyBase${q} = 0;
  if (lrow${q} < mp) {
    woBase${q} = lrow${q} % wp + ow0;
    hoBase${q} = (lrow${q} / wp) % hp + oh0;
    dyBase${q} = (lrow${q} / (wp * hp)) * params.ho * params.wo * params.cout;
  }`)}`,
    body: (t, fmas) => `for (var thi = 0; thi < th; thi++) {
    for (var twi = 0; twi < tw; twi++) {
      ${rep(t.tm / t.w, (q) => `let ho${q} = hoBase${q} - thi;
      let wo${q} = woBase${q} - twi;
      let ok${q} = ho${q} >= 0 && ho${q} < params.ho && wo${q} >= 0 && wo${q} < params.wo;
      let at${q} = select(0, dyBase${q} + (ho${q} * params.wo + wo${q}) * params.cout, ok${q});`, '\n      ')}
      let tap = ((rh + params.sh * thi) * params.kw + rw + params.sw * twi) * params.cin;
      for (var co = 0; co < params.cout; co++) {
        ${rep(t.tn, (j) => `let b${j} = w[(tap + wCol${j}) * params.cout + co];`, '\n        ')}
        ${rep(t.tm / t.w, (q) => `let a${q} = select(0.0, dy[at${q} + co], ok${q});`, '\n        ')}
        ${fmas}
      }
    }
  }`,
    store: (t) =>
      subgroupStore(t, 'let px = ((m / (wp * hp)) * params.h + ph + params.sh * ((m / wp) % hp)) * params.w + pw + params.sw * (m % wp);', 'm < mp',
        (col, value) => `dx[px * params.cin + ${col}] = ${value}${hasBias ? ` + b[${col}]` : ''};`, 'params.cin'),
  };
}

const subgroupBackwardWeight: SubgroupVariant = {
  name: 'conv2d.backwardWeightSubgroup',
  extras: ['mw', 'k', 'chunk'],
  inputs: 2,
  bindings: backwardWeightVariant.bindings,
  setup: (t) => `let kBegin = batch * params.chunk;
  let kEnd = min(params.k, kBegin + params.chunk);
  ${rep(t.tn, (j) => `let dyCol${j} = min(lcol${j}, params.cout - 1);`)}
  ${rep(t.tm / t.w, (q) => `let rowOk${q} = lrow${q} < params.mw;
  let ci${q} = lrow${q} % params.cin;
  let kwOff${q} = (lrow${q} / params.cin) % params.kw - params.padLeft;
  let khOff${q} = lrow${q} / (params.cin * params.kw) - params.padTop;`)}
  var wo = kBegin % params.wo;
  var ho = (kBegin / params.wo) % params.ho;
  var n = kBegin / (params.wo * params.ho);`,
  body: (t, fmas) => `for (var p = kBegin; p < kEnd; p++) {
    ${rep(t.tm / t.w, (q) => `let hi${q} = ho * params.sh + khOff${q};
    let wi${q} = wo * params.sw + kwOff${q};
    let ok${q} = rowOk${q} && hi${q} >= 0 && hi${q} < params.h && wi${q} >= 0 && wi${q} < params.w;
    let a${q} = select(0.0, x[select(0, ((n * params.h + hi${q}) * params.w + wi${q}) * params.cin + ci${q}, ok${q})], ok${q});`, '\n    ')}
    ${rep(t.tn, (j) => `let b${j} = dy[p * params.cout + dyCol${j}];`, '\n    ')}
    ${fmas}
    wo += 1;
    if (wo == params.wo) { wo = 0; ho += 1; }
    if (ho == params.ho) { ho = 0; n += 1; }
  }`,
  store: (t) => subgroupStore(t, '', 'm < params.mw', (col, value) => `dw[(batch * params.mw + m) * params.cout + ${col}] = ${value};`, 'params.cout'),
};

// ---------------------------------------------------------------------------------------------
// Dispatch: which family runs, its tile, its grid.

export type ConvFamily = 'tiled' | 'subgroup';

const familyByDevice = new WeakMap<GPUDevice, ConvFamily>();

/**
 * 'subgroup' on CPU adapters (lavapipe, SwiftShader) whose subgroups hold at least 8 lanes, where
 * it is several times faster; 'tiled' on GPUs, where 8-lane workgroups would leave them idle.
 */
export function defaultConvFamily(): ConvFamily {
  const rt = runtime();
  const known = familyByDevice.get(rt.device);
  if (known) return known;
  const r = rt.ctx.report;
  const cpu = r.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${r.device} ${r.description}`);
  const lanes = rt.ctx.adapter.info?.subgroupMinSize ?? 0;
  const family: ConvFamily = cpu && lanes >= SUBGROUP_LANES && rt.device.features.has('subgroups') ? 'subgroup' : 'tiled';
  familyByDevice.set(rt.device, family);
  return family;
}

/** Lanes per subgroup workgroup: lavapipe's 256-bit SIMD. */
const SUBGROUP_LANES = 8;

/** 32 rows × 32 columns (TN = 4) measured best on lavapipe; smaller where the GEMM is smaller. */
function subgroupTile(m: number, n: number): SubgroupTile {
  const w = SUBGROUP_LANES;
  return { w, tm: Math.min(32, Math.ceil(m / w) * w), tn: Math.min(4, Math.ceil(n / w)) };
}

/** Flattens `groups` workgroups into x (up to the device maximum), then y. */
function grid(groups: number): [number, number] {
  const maxX = runtime().limits.maxComputeWorkgroupsPerDimension;
  return groups <= maxX ? [groups, 1] : [maxX, Math.ceil(groups / maxX)];
}

interface Launch {
  name: string;
  extras: readonly string[];
  inputs: number;
  key: string;
  wgsl: () => string;
  /** Rows and columns per workgroup. */
  bm: number;
  bn: number;
}

function launch(family: ConvFamily, tiled: Variant, subgroup: SubgroupVariant, m: number, n: number): Launch {
  if (family === 'tiled') {
    const t = CONV_TILE;
    return { ...tiled, key: `${tileKey(t)}|in${tiled.inputs}`, wgsl: () => gemmWgsl(t, tiled), bm: t.bm, bn: t.bn };
  }
  const t = subgroupTile(m, n);
  return { ...subgroup, key: `sg${t.w}:${t.tm}x${t.tn}|in${subgroup.inputs}`, wgsl: () => subgroupWgsl(t, subgroup), bm: t.tm, bn: t.w * t.tn };
}

function run(l: Launch, g: ConvGeometry, inputs: Tensor[], out: Tensor, m: number, n: number, batches: number, extras: Record<string, number>): void {
  const mTiles = Math.ceil(m / l.bm);
  const nTiles = Math.ceil(n / l.bn);
  const groups = mTiles * nTiles * batches;
  const all: Record<string, number> = { ...g, mTiles, nTiles, groups, ...extras };
  const params = packParams([...GEOM, ...TILING, ...l.extras].map((f) => {
    if (all[f] === undefined) throw new Error(`${l.name}: param ${f} missing`);
    return i32(all[f]);
  }));
  const spec: KernelSpec = { name: l.name, key: l.key, inputs: l.inputs, outputs: 1, wgsl: l.wgsl };
  runtime().dispatch(spec, { inputs: inputs.map((t) => t.slice), outputs: [out.slice], params }, grid(groups));
}

/** y = conv2d(x, w) + b. */
export function forwardGemm(g: ConvGeometry, x: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily()): Tensor {
  const y = emptyTensor([g.n, g.ho, g.wo, g.cout], 'conv2d.y');
  const m = g.n * g.ho * g.wo;
  const k = g.kh * g.kw * g.cin;
  const dTap = Math.floor(CONV_TILE.bk / g.cin);
  const l = launch(family, forwardVariant(b !== null), subgroupForward(b !== null), m, g.cout);
  run(l, g, b ? [x, w, b] : [x, w], y, m, g.cout, 1, { m, k, dCi: CONV_TILE.bk % g.cin, dTapW: dTap % g.kw, dTapH: Math.floor(dTap / g.kw) });
  return y;
}

/** conv2d's input gradient, + b when given (convTranspose2d's forward is this with a bias). */
export function backwardInputGemm(g: ConvGeometry, dy: Tensor, w: Tensor, b: Tensor | null, family = defaultConvFamily()): Tensor {
  const dx = emptyTensor([g.n, g.h, g.w, g.cin], 'conv2d.dx');
  // Phase (0, 0) has the most pixels: the grid is sized for it; smaller phases skip the extra tiles.
  const m = g.n * Math.ceil(g.h / g.sh) * Math.ceil(g.w / g.sw);
  const l = launch(family, backwardInputVariant(b !== null), subgroupBackwardInput(b !== null), m, g.cin);
  run(l, g, b ? [dy, w, b] : [dy, w], dx, m, g.cin, g.sh * g.sw, { dCo: CONV_TILE.bk % g.cout, dTap: Math.floor(CONV_TILE.bk / g.cout) });
  return dx;
}

/**
 * K slices for backward weight: enough workgroups to keep the device busy (a few hundred on a GPU,
 * a few dozen on lavapipe's threads), each slice still long enough to be worth its partial sums.
 */
export function splitKCount(g: ConvGeometry, family = defaultConvFamily()): number {
  const m = g.kh * g.kw * g.cin;
  const k = g.n * g.ho * g.wo;
  const [bm, bn, target] = family === 'tiled' ? [CONV_TILE.bm, CONV_TILE.bn, 256] : [subgroupTile(m, g.cout).tm, SUBGROUP_LANES * subgroupTile(m, g.cout).tn, 32];
  const tiles = Math.ceil(m / bm) * Math.ceil(g.cout / bn);
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(k / SPLIT_K_MIN)));
}

/** dw = Σ over pixels of x patchᵀ · dy, in `splits` K slices summed afterwards when above 1. */
export function backwardWeightGemm(g: ConvGeometry, dy: Tensor, x: Tensor, family = defaultConvFamily(), splits = splitKCount(g, family)): Tensor {
  const mw = g.kh * g.kw * g.cin;
  const k = g.n * g.ho * g.wo;
  const bk = CONV_TILE.bk;
  const chunk = Math.ceil(k / bk / Math.max(1, splits)) * bk;
  const used = Math.ceil(k / chunk);
  const inImage = bk % (g.ho * g.wo);
  const l = launch(family, backwardWeightVariant, subgroupBackwardWeight, mw, g.cout);
  const extras = { mw, k, chunk, dWo: inImage % g.wo, dHo: Math.floor(inImage / g.wo), dN: Math.floor(bk / (g.ho * g.wo)) };
  const wShape = [g.kh, g.kw, g.cin, g.cout];
  const out = emptyTensor(used === 1 ? wShape : [used, mw, g.cout], used === 1 ? 'conv2d.dw' : 'conv2d.dw.partial');
  run(l, g, [dy, x], out, mw, g.cout, used, extras);
  if (used === 1) return out;
  const dw = emptyTensor(wShape, 'conv2d.dw');
  runtime().dispatch(splitSumSpec, { inputs: [out.slice], outputs: [dw.slice], params: packParams([i32(dw.size), i32(used)]) }, linearGrid(dw.size));
  out.dispose();
  return dw;
}

/** Sums the split-K slices: one thread per weight, `splits` loads each. */
const splitSumSpec: KernelSpec = {
  name: 'conv2d.splitKSum',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: i32, splits: i32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = i32(${linearIndex()});
  if (i >= params.n) { return; }
  var acc = 0.0;
  for (var s = 0; s < params.splits; s++) { acc += partial[s * params.n + i]; }
  out[i] = acc;
}`,
};
