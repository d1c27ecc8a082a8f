// The fast conv2d kernels (WGSL generators; conv2d.ts picks and launches them). All three
// directions are one implicit GEMM, C[M, N] = A[M, K] · B[K, N], with A and B gathered from the NHWC
// tensors on the fly (no im2col buffer):
//
//   forward          M = N·Ho·Wo (output pixels)  N = Cout  K = kh·kw·Cin   A = x patches,  B = w
//   backward input   M = N·H·W  (input pixels)    N = Cin   K = taps·Cout   A = dy patches, B = wᵀ
//   backward weight  M = kh·kw·Cin (weight rows)  N = Cout  K = N·Ho·Wo     A = x patchesᵀ, B = dy
//
// Backward input is a gather split by stride phase: the input pixels with (hi mod sh, wi mod sw) =
// (ph, pw) receive exactly the taps kh_i ≡ ph + padTop (mod sh), so each of the sh·sw phases is a
// dense GEMM over its own taps (no multiplies by structural zeros); the phase is the grid's batch
// coordinate. Backward weight splits its long K over the batch coordinate (split-K).
//
// Two families of the same GEMMs:
// - 'tiled', for GPUs: a workgroup of 256 threads computes a BM×BN tile, staging BK-deep slices of
//   A and B in workgroup memory; each thread accumulates a TM×TN block in registers, and reads the
//   next slice from global memory while it multiplies the current one. K positions are decoded
//   once and then advanced by BK with carries (constants like BK = dTap·Cin + dCi come in params):
//   no integer division in the loop.
// - 'subgroup', for CPU adapters: on lavapipe (Mesa 25.0) every load whose address is not a
//   compile-time constant, workgroup memory included, costs a scalar load per SIMD lane, so staging
//   tiles costs more than it saves (the tiled family runs at 1-3 GFLOP/s there). A workgroup is one
//   subgroup of W lanes owning TM rows × W·TN columns; per K index each lane loads TM/W values of A
//   and TN of B, and subgroupBroadcast (a register shuffle there) hands every A value to all lanes:
//   TM/W + TN loads per TM·TN multiply-adds, no barriers. Its backward weight walks K by image rows,
//   so bounds checks and addresses are worked out once per row.

import type { KernelSpec } from '../gpu/runtime.js';

export type ConvFamily = 'tiled' | 'subgroup';
export type ConvDirection = 'forward' | 'backwardInput' | 'backwardWeight';

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

/**
 * A tile written 'BMxBNxBK/TMxTN' (e.g. '128x128x16/8x8': 256 threads with 8x8 outputs each, the
 * usual next step on a large GPU), checked against what tiledWgsl needs: TM and TN multiples of 4
 * dividing BM and BN, at most 256 threads, each loading a whole number of values of both
 * operands per slice, and both slices within the 16 KiB of workgroup memory every adapter has.
 */
export function parseGemmTile(spec: string): GemmTile {
  const m = /^(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)$/.exec(spec.trim());
  if (!m) throw new RangeError(`conv tile: expected BMxBNxBK/TMxTN (e.g. 128x128x16/8x8), got '${spec}'`);
  const [bm, bn, bk, tm, tn] = m.slice(1).map(Number);
  const t: GemmTile = { bm, bn, bk, tm, tn };
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
  if (problems.length) throw new RangeError(`conv tile ${spec}: ${problems.join('; ')}`);
  return t;
}

/**
 * 'subgroup': W lanes per workgroup (one subgroup), TM rows (a multiple of W), TN columns per lane.
 * kVec4: K is walked four at a time with vec4 loads of the operands that are contiguous along K
 * (forward: x, whose K runs along Cin; backward input: dy and w, whose K runs along Cout), for
 * Cin (or Cout) a multiple of 4. lavapipe loads each lane's value separately, with a bounds check
 * and a mask test per lane; a vec4 pays that once for four floats: the bench measures about 1.1G
 * vec4 loads per second against 2.6G float loads, 1.7x fewer seconds per float.
 * nVec4 (TN = 4): a lane owns four adjacent columns instead of every W-th, so its four values of B
 * at one K position are one vec4: the forward's weights (w is [K, Cout], with kVec4) and the
 * weight gradient's dy ([pixels, Cout]), for Cout a multiple of 4; the weight gradient then also
 * stores each row's four columns as one vec4.
 * mVec4 (weight gradient, TM = 4W): a lane owns four adjacent rows, four input channels of one
 * tap, so its four values of A at one pixel are one vec4 of x, for Cin a multiple of 4.
 * pixelPairs (weight gradient with mVec4 and nVec4): K walked two pixels of a row at a time, each
 * accumulator taking both multiply-adds in a row (see weightGradVec4Rows), for rows of 8 pixels or
 * more.
 */
export interface SubgroupTile {
  w: number;
  tm: number;
  tn: number;
  kVec4: boolean;
  nVec4: boolean;
  mVec4: boolean;
  pixelPairs: boolean;
}

/** What a direction's operands allow the tile (see SubgroupTile), from the conv's geometry. */
export interface TileFit {
  k: boolean;
  n: boolean;
  m: boolean;
  pairs: boolean;
}

export const NO_FIT: TileFit = { k: false, n: false, m: false, pairs: false };

/**
 * Lanes per subgroup workgroup: lavapipe's 256-bit SIMD. Adapters whose subgroups are 4 lanes
 * (SwiftShader's 128-bit SIMD, in Chrome) get 4-lane workgroups; see conv2d.ts subgroupLanes.
 */
export const SUBGROUP_LANES = 8;

/**
 * 32 rows × 32 columns (TN = 4) measured best on lavapipe; shorter tiles for GEMMs with few rows
 * (the deepest levels' 2x2 and 4x4 images, where every weight feeds only M rows, so what matters
 * is loading it once: M <= 16 gets one tile of 8 or 16 rows; 16 rows at M = 16 was 1.2-1.4x faster
 * than two tiles of 8, interleaved A/B on lavapipe) and one column per lane for N <= W. Few variants
 * on purpose: each costs seconds of LLVM compile time on lavapipe. Walking K by four: see kLoop
 * for the order of its multiply-adds, which is what makes it pay in the 32-row tile too.
 */
export function subgroupTile(m: number, n: number, fit: TileFit = NO_FIT, w = SUBGROUP_LANES): SubgroupTile {
  const tm = m <= w ? w : m <= 2 * w ? 2 * w : 4 * w;
  const tn = n <= w ? 1 : 4;
  const [nVec4, mVec4] = [fit.n && tn === 4, fit.m && tm === 4 * w];
  return { w, tm, tn, kVec4: fit.k, nVec4, mVec4, pixelPairs: fit.pairs && nVec4 && mVec4 };
}

/** The bindings a direction declares as vec4 arrays for the tile's vec4 reads and writes. */
function vec4Bindings(dir: ConvDirection, t: SubgroupTile): string[] {
  if (dir === 'forward') return t.kVec4 ? (t.nVec4 ? ['x', 'w'] : ['x']) : [];
  if (dir === 'backwardInput') return t.kVec4 ? ['dy', 'w'] : [];
  return [...(t.mVec4 ? ['x'] : []), ...(t.nVec4 ? ['dy', 'dw'] : [])];
}

/**
 * What a direction's operands allow (see SubgroupTile): k, its contiguous K axis is a multiple
 * of 4; n, the columns of B four at a time (forward: only while walking K by four); m, the rows
 * of A (weight gradient); pairs, the weight gradient's pixels two at a time, for output rows of
 * 8 pixels or more: 1.1-1.3x faster there, 1.1-1.2x slower on rows of 2 and 4 (interleaved A/B on
 * lavapipe).
 */
export function tileFit(dir: ConvDirection, g: { cin: number; cout: number; wo: number }): TileFit {
  const { cin, cout } = g;
  if (dir === 'forward') return { k: cin % 4 === 0, n: cin % 4 === 0 && cout % 4 === 0, m: false, pairs: false };
  if (dir === 'backwardInput') return { k: cout % 4 === 0, n: false, m: false, pairs: false };
  return { k: false, n: cout % 4 === 0, m: cin % 4 === 0, pairs: g.wo >= 8 };
}

/** A generated kernel: its spec, the names of its i32 params in order, its tile's rows and columns. */
export interface GemmKernel {
  spec: KernelSpec;
  params: readonly string[];
  bm: number;
  bn: number;
}

const GEOM = ['n', 'h', 'w', 'cin', 'ho', 'wo', 'cout', 'kh', 'kw', 'sh', 'sw', 'padTop', 'padLeft', 'mTiles', 'nTiles', 'groups'];

const rep = (n: number, f: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);
const guard = (cond: string, body: string): string => `if (${cond}) { ${body} }`;
const FAR = -1073741824;
const XYZW = 'xyzw'; // a row outside the tensor: every bounds check on it fails

/** The bindings; `vec4s` names inputs read four floats at a time (array<vec4<f32>>). */
function bindings(inputs: string[], output: string, vec4s: readonly string[] = []): string {
  return [...inputs, output, 'params']
    .map((name, i) =>
      name === 'params'
        ? `@group(0) @binding(${i}) var<uniform> params: Params;`
        : `@group(0) @binding(${i}) var<storage, ${name === output ? 'read_write' : 'read'}> ${name}: array<${vec4s.includes(name) ? 'vec4<f32>' : 'f32'}>;`)
    .join('\n');
}

/** Shared by both families: the WGSL of one direction, minus the GEMM loop. */
interface Direction {
  name: string;
  extras: string[];
  inputs: string[];
  output: string;
  /** N of the GEMM (columns), as a params expression. */
  cols: string;
}

function direction(dir: ConvDirection, hasBias: boolean): Direction {
  const bias = hasBias ? ['b'] : [];
  if (dir === 'forward') return { name: 'conv2d.forward', extras: ['m', 'k', 'dCi', 'dTapW', 'dTapH'], inputs: ['x', 'w', ...bias], output: 'y', cols: 'params.cout' };
  if (dir === 'backwardInput') return { name: 'conv2d.backwardInput', extras: ['dCo', 'dTap'], inputs: ['dy', 'w', ...bias], output: 'dx', cols: 'params.cin' };
  return { name: 'conv2d.backwardWeight', extras: ['mw', 'k', 'chunk', 'dWo', 'dHo', 'dN', 'rowChunk', 'nPer'], inputs: ['dy', 'x'], output: 'dw', cols: 'params.cout' };
}

/** Forward row m = (n, ho, wo): where its patch starts (FAR when m is past the end). */
const forwardRow = (s: string, m: string): string => `var hBase${s} = ${FAR};
  var wBase${s} = 0;
  var xBase${s} = 0;
  if (${m} < params.m) {
    hBase${s} = ((${m} / params.wo) % params.ho) * params.sh - params.padTop;
    wBase${s} = (${m} % params.wo) * params.sw - params.padLeft;
    xBase${s} = (${m} / (params.wo * params.ho)) * params.h * params.w * params.cin;
  }`;

/** Backward input: the stride phase of this workgroup, its tap grid (th × tw) and pixel grid (hp × wp). */
const PHASE = /* wgsl */ `let ph = batch / params.sw;
  let pw = batch % params.sw;
  let rh = (ph + params.padTop) % params.sh;
  let rw = (pw + params.padLeft) % params.sw;
  let th = max(params.kh - rh + params.sh - 1, 0) / params.sh;
  let tw = max(params.kw - rw + params.sw - 1, 0) / params.sw;
  let hp = max(params.h - ph + params.sh - 1, 0) / params.sh;
  let wp = max(params.w - pw + params.sw - 1, 0) / params.sw;
  let mp = params.n * hp * wp;
  if (row0 >= mp) { return; }`;

/** Backward input row m = (n, i, j) of the phase, at hi = ph + sh·i: the output pixel of tap (0, 0). */
const phaseRow = (s: string, m: string): string => `var hoBase${s} = ${FAR};
  var woBase${s} = 0;
  var dyBase${s} = 0;
  if (${m} < mp) {
    woBase${s} = ${m} % wp + (pw + params.padLeft - rw) / params.sw;
    hoBase${s} = (${m} / wp) % hp + (ph + params.padTop - rh) / params.sh;
    dyBase${s} = (${m} / (wp * hp)) * params.ho * params.wo * params.cout;
  }`;

const PHASE_PIXEL = 'let px = ((m / (wp * hp)) * params.h + ph + params.sh * ((m / wp) % hp)) * params.w + pw + params.sw * (m % wp);';

/** The store of output row `m` (already checked) and column `col`, for each direction. */
function storeOne(dir: ConvDirection, hasBias: boolean, col: string, value: string): string {
  const b = hasBias ? ` + b[${col}]` : '';
  if (dir === 'forward') return guard('m < params.m', `y[m * params.cout + ${col}] = ${value}${b};`);
  if (dir === 'backwardInput') return guard('m < mp', `dx[px * params.cin + ${col}] = ${value}${b};`);
  return guard('m < params.mw', `dw[(batch * params.mw + m) * params.cout + ${col}] = ${value};`);
}

// ---------------------------------------------------------------------------------------------
// 'tiled'

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

function tiledParts(dir: ConvDirection): TiledParts {
  if (dir === 'forward') {
    return {
      aMap: 'k',
      bMap: 'mn',
      setup: (la) => `let kBegin = 0;
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
    ${guard(`kLoad + bK${j} < kEnd && bCol < params.cout`, `bReg${j} = w[(kLoad + bK${j}) * params.cout + bCol];`)}`,
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

function tiledWgsl(dir: ConvDirection, hasBias: boolean, t: GemmTile): string {
  const d = direction(dir, hasBias);
  const p = tiledParts(dir);
  const T = (t.bm / t.tm) * (t.bn / t.tn);
  const [la, lb, nv] = [(t.bm * t.bk) / T, (t.bn * t.bk) / T, t.tn / 4];
  const load = `${rep(la, p.loadA)}\n    ${rep(lb, p.loadB, '\n    ')}`;
  const row = dir === 'backwardInput' ? PHASE_PIXEL : '';
  return /* wgsl */ `
struct Params { ${[...GEOM, ...d.extras].map((f) => `${f}: i32`).join(', ')} }
${bindings(d.inputs, d.output)}
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
    ${rep(t.tn, (c) => `if (col0 + tx * ${t.tn} + ${c} < ${d.cols}) { ${storeOne(dir, hasBias, `col0 + tx * ${t.tn} + ${c}`, `acc${i}_${Math.floor(c / 4)}.${'xyzw'[c % 4]}`)} }`, '\n    ')}
  }`)}
}`;
}

// ---------------------------------------------------------------------------------------------
// 'subgroup': lane-owned rows lrow{q} (loaded) and columns lcol{j} (owned); the innermost K loop
// sets a{q} and b{j}.

/**
 * How the innermost K loop of forward and backward input reads its operands: A of lane row q
 * (checked by ok{q}) and B of lane column j at K position k of the current tap, one value each or,
 * when the tile walks K by four, four consecutive values (a4 always; b4 where B is contiguous
 * along K too; else bN4, the lane's four columns at one K position, when the tile has nVec4; else
 * B is read one value at a time).
 */
interface KReads {
  k: string;
  end: string;
  a: (q: number, k: string) => string;
  a4: (q: number, k: string) => string;
  b: (j: number, k: string) => string;
  b4?: (j: number, k: string) => string;
  bN4?: (k: string) => string;
}

/** The innermost K loop: sets a{q} and b{j} per K position and runs the multiply-adds. */
function kLoop(t: SubgroupTile, fmas: string, r: KReads): string {
  const Q = t.tm / t.w;
  const { k, end } = r;
  if (!t.kVec4) {
    return `for (var ${k} = 0; ${k} < ${end}; ${k}++) {
        ${rep(t.tn, (j) => `let b${j} = ${r.b(j, k)};`, '\n        ')}
        ${rep(Q, (q) => `let a${q} = select(0.0, ${r.a(q, k)}, ok${q});`, '\n        ')}
        ${fmas}
      }`;
  }
  // Accumulator by accumulator, each taking its four multiply-adds in a row: one accumulator
  // live at a time besides the operands. Step by step (all TM·TN accumulators per K position,
  // four times) kept them all live across the turn, and in the 32-row tile, whose 128 overflow
  // the registers anyway, each was spilled and reloaded four times: 1.2-1.8x slower than walking
  // K one at a time, where this order is 1.1-1.3x faster (interleaved A/B on lavapipe).
  const { b4, bN4 } = r;
  const bLoads = bN4
    ? rep(4, (u) => `let bn${u} = ${bN4(`${k} + ${u}`)};`, '\n        ')
    : rep(t.tn, (j) => (b4 ? `let bv${j} = ${b4(j, k)};` : rep(4, (u) => `let b${j}_${u} = ${r.b(j, `${k} + ${u}`)};`, '\n        ')), '\n        ');
  const b = (j: number, u: number): string => (bN4 ? `bn${u}.${XYZW[j]}` : b4 ? `bv${j}.${XYZW[u]}` : `b${j}_${u}`);
  return `for (var ${k} = 0; ${k} < ${end}; ${k} += 4) {
        ${bLoads}
        ${rep(Q, (q) => `let av${q} = select(vec4<f32>(0.0), ${r.a4(q, k)}, ok${q});`, '\n        ')}
        ${rep(t.tm, (row) => `{
          let a = vec4<f32>(${rep(4, (u) => `subgroupBroadcast(av${Math.floor(row / t.w)}.${XYZW[u]}, ${row % t.w}u)`, ', ')});
          ${rep(t.tn, (j) => `acc${row}_${j} = ${[0, 1, 2, 3].reduce((e, u) => `fma(a.${XYZW[u]}, ${b(j, u)}, ${e})`, `acc${row}_${j}`)};`, '\n          ')}
        }`, '\n        ')}
      }`;
}

function subgroupLoops(dir: ConvDirection, t: SubgroupTile, fmas: string): string {
  const Q = t.tm / t.w;
  if (dir === 'forward') {
    return `${rep(Q, (q) => forwardRow(`${q}`, `lrow${q}`))}
  for (var khi = 0; khi < params.kh; khi++) {
    for (var kwi = 0; kwi < params.kw; kwi++) {
      ${rep(Q, (q) => `let hi${q} = hBase${q} + khi;
      let wi${q} = wBase${q} + kwi;
      let ok${q} = hi${q} >= 0 && hi${q} < params.h && wi${q} >= 0 && wi${q} < params.w;
      let at${q} = select(0, xBase${q} + (hi${q} * params.w + wi${q}) * params.cin, ok${q});`, '\n      ')}
      let tap = (khi * params.kw + kwi) * params.cin;
      ${kLoop(t, fmas, {
        k: 'ci',
        end: 'params.cin',
        a: (q, k) => `x[at${q} + ${k}]`,
        a4: (q, k) => `x[(at${q} + ${k}) / 4]`,
        b: (j, k) => `w[(tap + ${k}) * params.cout + bCol${j}]`,
        ...(t.nVec4 ? { bN4: (k: string) => `w[((tap + ${k}) * params.cout + c4) / 4]` } : {}),
      })}
    }
  }`;
  }
  if (dir === 'backwardInput') {
    return `${PHASE}
  ${rep(Q, (q) => phaseRow(`${q}`, `lrow${q}`))}
  for (var thi = 0; thi < th; thi++) {
    for (var twi = 0; twi < tw; twi++) {
      ${rep(Q, (q) => `let ho${q} = hoBase${q} - thi;
      let wo${q} = woBase${q} - twi;
      let ok${q} = ho${q} >= 0 && ho${q} < params.ho && wo${q} >= 0 && wo${q} < params.wo;
      let at${q} = select(0, dyBase${q} + (ho${q} * params.wo + wo${q}) * params.cout, ok${q});`, '\n      ')}
      let tap = ((rh + params.sh * thi) * params.kw + rw + params.sw * twi) * params.cin;
      ${kLoop(t, fmas, {
        k: 'co',
        end: 'params.cout',
        a: (q, k) => `dy[at${q} + ${k}]`,
        a4: (q, k) => `dy[(at${q} + ${k}) / 4]`,
        b: (j, k) => `w[(tap + bCol${j}) * params.cout + ${k}]`,
        b4: (j, k) => `w[((tap + bCol${j}) * params.cout + ${k}) / 4]`,
      })}
    }
  }`;
  }
  // K runs over whole image rows r = (n, ho), rowChunk of them per split, so the row's bounds
  // checks and addresses are worked out once per Wo pixels.
  return weightGradWalk(t, fmas);
}

/**
 * The weight gradient's per-workgroup setup, done once for all its column tiles: the K slice's
 * image rows, and where each lane's rows (weight rows: tap and input channel) read x.
 */
function weightGradSetup(t: SubgroupTile): string {
  const rows = t.mVec4
    ? `let rowOk = lrow0 < params.mw;
  let ci = lrow0 % params.cin;
  let kwOff = (lrow0 / params.cin) % params.kw - params.padLeft;
  let khOff = lrow0 / (params.cin * params.kw) - params.padTop;`
    : rep(t.tm / t.w, (q) => `let rowOk${q} = lrow${q} < params.mw;
  let ci${q} = lrow${q} % params.cin;
  let kwOff${q} = (lrow${q} / params.cin) % params.kw - params.padLeft;
  let khOff${q} = lrow${q} / (params.cin * params.kw) - params.padTop;`);
  return `let rBegin = batch * params.rowChunk;
  let rEnd = min(params.n * params.ho, rBegin + params.rowChunk);
  let ho0 = rBegin % params.ho;
  let n0 = rBegin / params.ho;
  ${rows}`;
}

/** The weight gradient's K loop over the slice's image rows, for one column tile. */
function weightGradWalk(t: SubgroupTile, fmas: string): string {
  const Q = t.tm / t.w;
  if (t.mVec4) return weightGradVec4Rows(t, fmas);
  return `var ho = ho0;
  var n = n0;
  for (var r = rBegin; r < rEnd; r++) {
    ${rep(Q, (q) => `let hi${q} = ho * params.sh + khOff${q};
    let hOk${q} = rowOk${q} && hi${q} >= 0 && hi${q} < params.h;
    let xRow${q} = ((n * params.h + hi${q}) * params.w) * params.cin + ci${q};`, '\n    ')}
    let dyRow = r * params.wo * params.cout;
    for (var wo = 0; wo < params.wo; wo++) {
      ${rep(Q, (q) => `let wi${q} = wo * params.sw + kwOff${q};
      let ok${q} = hOk${q} && wi${q} >= 0 && wi${q} < params.w;
      let a${q} = select(0.0, x[select(0, xRow${q} + wi${q} * params.cin, ok${q})], ok${q});`, '\n      ')}
      ${weightGradB(t)}
      ${fmas}
    }
    ho += 1;
    if (ho == params.ho) { ho = 0; n += 1; }
  }`;
}

/** The weight gradient's B (dy) at pixel wo of the row: TN values, or one vec4 with nVec4. */
function weightGradB(t: SubgroupTile): string {
  if (t.nVec4) return `let bv = dy[(dyRow + wo * params.cout + c4) / 4];\n      ${rep(t.tn, (j) => `let b${j} = bv.${XYZW[j]};`, ' ')}`;
  return rep(t.tn, (j) => `let b${j} = dy[dyRow + wo * params.cout + bCol${j}];`, '\n      ');
}

/**
 * The weight gradient's walk with mVec4: the lane's four rows are input channels ci..ci+3 of one
 * tap, so they share the bounds checks and their x values are one vec4 per pixel.
 */
function weightGradVec4Rows(t: SubgroupTile, fmas: string): string {
  return `var ho = ho0;
  var n = n0;
  for (var r = rBegin; r < rEnd; r++) {
    let hi = ho * params.sh + khOff;
    let hOk = rowOk && hi >= 0 && hi < params.h;
    let xRow = ((n * params.h + hi) * params.w) * params.cin + ci;
    let dyRow = r * params.wo * params.cout;
    var wo = 0;
    ${t.pixelPairs ? `// Two pixels a turn, each accumulator taking both multiply-adds in a row: it is spilled and
    // reloaded once for two (four pixels a turn kept too many operands live and was slower).
    for (; wo + 1 < params.wo; wo += 2) {
      ${rep(2, (u) => `let wi${u} = (wo + ${u}) * params.sw + kwOff;
      let ok${u} = hOk && wi${u} >= 0 && wi${u} < params.w;
      let av${u} = select(vec4<f32>(0.0), x[select(0, xRow + wi${u} * params.cin, ok${u}) / 4], ok${u});
      let bv${u} = dy[(dyRow + (wo + ${u}) * params.cout + c4) / 4];`, '\n      ')}
      ${rep(t.tm, (row) => `{
        let p = subgroupBroadcast(av0.${XYZW[row % 4]}, ${Math.floor(row / 4)}u);
        let q = subgroupBroadcast(av1.${XYZW[row % 4]}, ${Math.floor(row / 4)}u);
        ${rep(t.tn, (j) => `acc${row}_${j} = fma(q, bv1.${XYZW[j]}, fma(p, bv0.${XYZW[j]}, acc${row}_${j}));`, ' ')}
      }`, '\n      ')}
    }` : ''}
    for (; wo < params.wo; wo++) {
      let wi = wo * params.sw + kwOff;
      let ok = hOk && wi >= 0 && wi < params.w;
      let av = select(vec4<f32>(0.0), x[select(0, xRow + wi * params.cin, ok) / 4], ok);
      ${rep(4, (q) => `let a${q} = av.${XYZW[q]};`, ' ')}
      ${weightGradB(t)}
      ${fmas}
    }
    ho += 1;
    if (ho == params.ho) { ho = 0; n += 1; }
  }`;
}

/** One column tile of the subgroup kernel: the lanes' columns, accumulators, K walk and stores. */
function columnTile(dir: ConvDirection, hasBias: boolean, t: SubgroupTile, d: Direction, fmas: string): string {
  return `  ${t.nVec4
    ? `let c4 = min(col0 + 4 * lane, ${d.cols} - 4); // the lane's four columns; past the edge, the last four
  ${rep(t.tn, (j) => `let lcol${j} = col0 + 4 * lane + ${j};`)}`
    : rep(t.tn, (j) => `let lcol${j} = col0 + lane + ${j * t.w};
  let bCol${j} = min(lcol${j}, ${d.cols} - 1);`)}
  ${rep(t.tm * t.tn, (i) => `var acc${Math.floor(i / t.tn)}_${i % t.tn} = 0.0;`)}
  ${subgroupLoops(dir, t, fmas)}
  ${rep(t.tm, (r) => `{
    let m = row0 + ${r};
    ${dir === 'backwardInput' ? PHASE_PIXEL : ''}
    ${dir === 'backwardWeight' && t.nVec4
      ? `if (lcol0 < ${d.cols} && m < params.mw) { dw[((batch * params.mw + m) * params.cout + c4) / 4] = vec4<f32>(${rep(4, (j) => `acc${r}_${j}`, ', ')}); }`
      : rep(t.tn, (j) => `if (lcol${j} < ${d.cols}) { ${storeOne(dir, hasBias, `lcol${j}`, `acc${r}_${j}`)} }`, '\n    ')}
  }`)}
`;
}

function subgroupWgsl(dir: ConvDirection, hasBias: boolean, t: SubgroupTile): string {
  const d = direction(dir, hasBias);
  // Tile row r: lane r mod W's value a{r / W}, or with mVec4 lane r / 4's value a{r mod 4}.
  const fmas = rep(t.tm, (r) => `{
          let a = subgroupBroadcast(${t.mVec4 ? `a${r % 4}, ${Math.floor(r / 4)}u` : `a${Math.floor(r / t.w)}, ${r % t.w}u`});
          ${rep(t.tn, (j) => `acc${r}_${j} = fma(a, b${j}, acc${r}_${j});`, ' ')}
        }`, '\n        ');
  return /* wgsl */ `enable subgroups;
struct Params { ${[...GEOM, ...d.extras].map((f) => `${f}: i32`).join(', ')} }
${bindings(d.inputs, d.output, vec4Bindings(dir, t))}
@compute @workgroup_size(${t.w})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) sgi: u32) {
  let g = i32(wid.x + wid.y * nwg.x);
  if (g >= params.groups) { return; }
  let lane = i32(sgi);
  let row0 = ((g / params.nTiles) % params.mTiles) * ${t.tm};
  let batch = g / (params.nTiles * params.mTiles);
  ${rep(t.tm / t.w, (q) => (t.mVec4 ? `let lrow${q} = row0 + 4 * lane + ${q};` : `let lrow${q} = row0 + lane + ${q * t.w};`))}
  ${dir === 'backwardWeight'
    ? `// params.nPer column tiles per workgroup, one after another: the setup above and here is
  // paid once for them all (it is most of a tile's work when K is a few pixels).
  ${weightGradSetup(t)}
  for (var nt = 0; nt < params.nPer; nt++) {
  let col0 = ((g % params.nTiles) * params.nPer + nt) * ${t.w * t.tn};
  if (col0 >= ${d.cols}) { break; }
  ${columnTile(dir, hasBias, t, d, fmas)}
  }`
    : `let col0 = (g % params.nTiles) * ${t.w * t.tn};
  ${columnTile(dir, hasBias, t, d, fmas)}`}
}`;
}

/**
 * The kernel of one direction and family, with its tile chosen for an M×N GEMM; `fit` (see
 * tileFit) lets the subgroup family read its operands four floats at a time.
 */
export function gemmKernel(dir: ConvDirection, family: ConvFamily, hasBias: boolean, m: number, n: number, fit: TileFit = NO_FIT, lanes = SUBGROUP_LANES, tile: GemmTile = CONV_TILE): GemmKernel {
  const d = direction(dir, hasBias);
  const params = [...GEOM, ...d.extras];
  const io = { inputs: d.inputs.length, outputs: 1 };
  if (family === 'tiled') {
    const t = tile;
    const key = `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}|in${io.inputs}`;
    return { spec: { name: d.name, key, ...io, wgsl: () => tiledWgsl(dir, hasBias, t) }, params, bm: t.bm, bn: t.bn };
  }
  const t = subgroupTile(m, n, fit, lanes);
  const key = `${t.w}:${t.tm}x${t.tn}${t.kVec4 ? ':k4' : ''}${t.nVec4 ? ':n4' : ''}${t.mVec4 ? ':m4' : ''}${t.pixelPairs ? ':p2' : ''}|in${io.inputs}`;
  return { spec: { name: `${d.name}Subgroup`, key, ...io, wgsl: () => subgroupWgsl(dir, hasBias, t) }, params, bm: t.tm, bn: t.w * t.tn };
}
