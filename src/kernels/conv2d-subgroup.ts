// conv2d's GEMMs (conv2d-gemm.ts), 'subgroup' family, for CPU adapters: on lavapipe (Mesa 25.0)
// every load whose address is not a compile-time constant, workgroup memory included, costs a
// scalar load per SIMD lane, so staging tiles costs more than it saves (the tiled family runs at
// 1-3 GFLOP/s there). A workgroup is one subgroup of W lanes owning TM rows × W·TN columns; per K
// index each lane loads TM/W values of A and TN of B, and subgroupBroadcast (a register shuffle
// there) hands every A value to all lanes: TM/W + TN loads per TM·TN multiply-adds, no barriers.
// Its backward weight walks K by image rows, so bounds checks and addresses are worked out once
// per row.

import { bindings, direction, forwardRow, GEOM, PHASE, PHASE_PIXEL, phaseRow, rep, storeOne, WEIGHT_OFFSET, XYZW, type ConvDirection, type Direction } from './conv2d-gemm-common.js';

/**
 * 'subgroup': W lanes per workgroup (one subgroup), TM rows (a multiple of W), TN columns per lane.
 * kVec4: K is walked four at a time with vec4 loads of the operands that are contiguous along K
 * (forward: x, whose K runs along Cin; backward input: dy and w, whose K runs along Cout), for
 * Cin (or Cout) a multiple of 4. lavapipe loads each lane's value separately, with a bounds check
 * and a mask test per lane; a vec4 pays that once for four floats: the bench measures about 1.1G
 * vec4 loads per second against 2.6G float loads, 1.7x fewer seconds per float.
 * nVec4 (TN = 4): a lane owns four adjacent columns instead of every W-th, so its four values of B
 * at one K position are one vec4: the forward's weights (w is [K, Cout], whether or not K is
 * walked by four: over 3 channels in, VGG16's conv1_1 ran 1.07x as fast as with four scalar
 * loads, at scales 8 and 1, interleaved A/B on lavapipe, 2026-11-29) and the
 * weight gradient's dy ([pixels, Cout]), for Cout a multiple of 4; both then also store each
 * row's four columns as one vec4 (the forward's bias read as one too): for the forward a quarter
 * of the store instructions, each paying lavapipe's per-lane cost once. Its gain is small: the
 * bench's scale-8 forwards ran 0.98-1.05x as fast as with scalar stores in medians (beyond the
 * runs' spread at VGG16's conv1_2, conv2_2 and conv4_1 only), the U-Net's l1 at scale 1 1.05x
 * (interleaved A/B, 2026-11-29).
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
  const tn = n <= w ? 1 : wideColumns(w, tm, n, fit) ? 8 : 4;
  const [nVec4, mVec4] = [fit.n && tn === 4, fit.m && tm === 4 * w];
  return { w, tm, tn, kVec4: fit.k, nVec4, mVec4, pixelPairs: fit.pairs && nVec4 && mVec4 };
}

/**
 * Eight columns per lane for 4-lane workgroups (SwiftShader's) with at most 8 rows and 32 columns
 * or more, where the columns are read one at a time (neither nVec4 nor mVec4: the backward input):
 * each broadcast value of A, and each vec4 of A a lane loads, then feeds 8 multiply-adds instead
 * of 4. The U-Net's l5 backward input (2x2 images, 512 channels) ran 1.21-1.26x faster in three
 * runs in Chromium's SwiftShader; lavapipe's 8-lane workgroups measured 0.91-1.03x and keep 4 (GPU
 * timestamps, interleaved A/B).
 */
function wideColumns(w: number, tm: number, n: number, fit: TileFit): boolean {
  return w === 4 && tm <= 2 * w && n >= 8 * w && !fit.n && !fit.m;
}

/** The bindings a direction declares as vec4 arrays for the tile's vec4 reads and writes. */
function vec4Bindings(dir: ConvDirection, t: SubgroupTile): string[] {
  if (dir === 'forward') return [...(t.kVec4 ? ['x'] : []), ...(t.nVec4 ? ['w', 'y', 'b'] : [])];
  if (dir === 'backwardInput') return t.kVec4 ? ['dy', 'w'] : [];
  return [...(t.mVec4 ? ['x'] : []), ...(t.nVec4 ? ['dy', 'dw'] : [])];
}

/**
 * What a direction's operands allow (see SubgroupTile): k, its contiguous K axis is a multiple
 * of 4; n, the columns of B four at a time (forward: Cout a multiple of 4); m, the rows
 * of A (weight gradient); pairs, the weight gradient's pixels two at a time, for output rows of
 * 8 pixels or more: 1.1-1.3x faster there, 1.1-1.2x slower on rows of 2 and 4 (interleaved A/B on
 * lavapipe).
 */
export function tileFit(dir: ConvDirection, g: { cin: number; cout: number; wo: number }): TileFit {
  const { cin, cout } = g;
  if (dir === 'forward') return { k: cin % 4 === 0, n: cout % 4 === 0, m: false, pairs: false };
  if (dir === 'backwardInput') return { k: cout % 4 === 0, n: false, m: false, pairs: false };
  return { k: false, n: cout % 4 === 0, m: cin % 4 === 0, pairs: g.wo >= 8 };
}

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
        ${r.bN4 ? `let bn = ${r.bN4(k)}; ${rep(t.tn, (j) => `let b${j} = bn.${XYZW[j]};`, ' ')}` : rep(t.tn, (j) => `let b${j} = ${r.b(j, k)};`, '\n        ')}
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

/**
 * Where the K loop of forward and backward input takes its operands: 'memory' is the kernel;
 * 'registers' is a measurement probe (bench/bars.ts), the same kernel with each load of A and B
 * replaced by a value made from its index (a conversion, and for a vec4 an add of 0, 1, 2, 3 so
 * its four values differ: with four equal ones the compiler shares products between them, and the
 * probe ran faster than the FMA peak), to time what the loads cost on an adapter that runs them
 * lane by lane. Its results are meaningless.
 */
export type OperandSource = 'memory' | 'registers';

function reader(src: OperandSource): (buf: string, index: string, vec4: boolean) => string {
  if (src === 'memory') return (buf, index) => `${buf}[${index}]`;
  return (_buf, index, vec4) => (vec4 ? `(vec4<f32>(f32(${index})) + vec4<f32>(0.0, 1.0, 2.0, 3.0))` : `f32(${index})`);
}

function subgroupLoops(dir: ConvDirection, t: SubgroupTile, fmas: string, src: OperandSource, batchedWeights: boolean): string {
  const Q = t.tm / t.w;
  const read = reader(src);
  if (dir === 'forward') {
    const wOff = batchedWeights ? 'wOff + ' : '';
    return `${batchedWeights ? WEIGHT_OFFSET : ''}
  ${rep(Q, (q) => forwardRow(`${q}`, `lrow${q}`))}
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
        a: (q, k) => read('x', `at${q} + ${k}`, false),
        a4: (q, k) => read('x', `(at${q} + ${k}) / 4`, true),
        b: (j, k) => read('w', `${wOff}(tap + ${k}) * params.cout + bCol${j}`, false),
        ...(t.nVec4 ? { bN4: (k: string) => read('w', `(${wOff}(tap + ${k}) * params.cout + c4) / 4`, true) } : {}),
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
        a: (q, k) => read('dy', `at${q} + ${k}`, false),
        a4: (q, k) => read('dy', `(at${q} + ${k}) / 4`, true),
        b: (j, k) => read('w', `(tap + bCol${j}) * params.cout + ${k}`, false),
        b4: (j, k) => read('w', `((tap + bCol${j}) * params.cout + ${k}) / 4`, true),
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
function columnTile(dir: ConvDirection, hasBias: boolean, t: SubgroupTile, d: Direction, fmas: string, src: OperandSource, batchedWeights: boolean, relu: boolean): string {
  return `  ${t.nVec4
    ? `let c4 = min(col0 + 4 * lane, ${d.cols} - 4); // the lane's four columns; past the edge, the last four
  ${rep(t.tn, (j) => `let lcol${j} = col0 + 4 * lane + ${j};`)}`
    : rep(t.tn, (j) => `let lcol${j} = col0 + lane + ${j * t.w};
  let bCol${j} = min(lcol${j}, ${d.cols} - 1);`)}
  ${rep(t.tm * t.tn, (i) => `var acc${Math.floor(i / t.tn)}_${i % t.tn} = 0.0;`)}
  ${subgroupLoops(dir, t, fmas, src, batchedWeights)}
  ${rep(t.tm, (r) => `{
    let m = row0 + ${r};
    ${dir === 'backwardInput' ? PHASE_PIXEL : ''}
    ${dir === 'backwardWeight' && t.nVec4
      ? `if (lcol0 < ${d.cols} && m < params.mw) { dw[((batch * params.mw + m) * params.cout + c4) / 4] = vec4<f32>(${rep(4, (j) => `acc${r}_${j}`, ', ')}); }`
      : dir === 'forward' && t.nVec4
      ? `if (lcol0 < ${d.cols}) { ${storeOne(dir, hasBias, 'c4', `vec4<f32>(${rep(4, (j) => `acc${r}_${j}`, ', ')})`, true, relu)} }`
      : rep(t.tn, (j) => `if (lcol${j} < ${d.cols}) { ${storeOne(dir, hasBias, `lcol${j}`, `acc${r}_${j}`, false, relu)} }`, '\n    ')}
  }`)}
`;
}

export function subgroupWgsl(dir: ConvDirection, hasBias: boolean, t: SubgroupTile, src: OperandSource = 'memory', batchedWeights = false, relu = false): string {
  const d = direction(dir, hasBias, batchedWeights);
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
  ${columnTile(dir, hasBias, t, d, fmas, src, batchedWeights, relu)}
  }`
    : `let col0 = (g % params.nTiles) * ${t.w * t.tn};
  ${columnTile(dir, hasBias, t, d, fmas, src, batchedWeights, relu)}`}
}`;
}
