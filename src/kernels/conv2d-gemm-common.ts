// Shared pieces of the conv2d GEMM kernels' WGSL (conv2d-gemm.ts lists the GEMMs; conv2d-tiled.ts
// and conv2d-subgroup.ts are the two families): the params every kernel declares, the bindings,
// each direction's inputs and output, where a row's patch starts, and the store of one output.

import type { ConvGeometry } from './conv2d.js';
import { reluKeepingNan } from './elementwise-math.js';

export type ConvDirection = 'forward' | 'backwardInput' | 'backwardWeight';

export const GEOM = ['n', 'h', 'w', 'cin', 'ho', 'wo', 'cout', 'kh', 'kw', 'sh', 'sw', 'padTop', 'padLeft', 'mTiles', 'nTiles', 'groups'];

export const rep = (n: number, f: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);
export const guard = (cond: string, body: string): string => `if (${cond}) { ${body} }`;
/** A row outside the tensor: every bounds check on it fails. */
export const FAR = -1073741824;
export const XYZW = 'xyzw';

/** The bindings; `vec4s` names inputs read four floats at a time (array<vec4<f32>>). */
export function bindings(inputs: string[], output: string, vec4s: readonly string[] = []): string {
  return [...inputs, output, 'params']
    .map((name, i) =>
      name === 'params'
        ? `@group(0) @binding(${i}) var<uniform> params: Params;`
        : `@group(0) @binding(${i}) var<storage, ${name === output ? 'read_write' : 'read'}> ${name}: array<${vec4s.includes(name) ? 'vec4<f32>' : 'f32'}>;`)
    .join('\n');
}

/** Shared by both families: the WGSL of one direction, minus the GEMM loop. */
export interface Direction {
  name: string;
  extras: string[];
  inputs: string[];
  output: string;
  /** N of the GEMM (columns), as a params expression. */
  cols: string;
}

/**
 * `batchedWeights` (forward only): the weights change with the sample, sample s reading w from
 * s·wBatch on (params.wBatch); each GEMM tile's rows lie in one sample. conv2d-winograd.ts runs
 * its 36 GEMMs as the samples of one 1x1 convolution this way.
 */
export function direction(dir: ConvDirection, hasBias: boolean, batchedWeights = false): Direction {
  const bias = hasBias ? ['b'] : [];
  if (dir === 'forward') {
    const extras = ['m', 'k', 'dCi', 'dTapW', 'dTapH', ...(batchedWeights ? ['wBatch'] : [])];
    return { name: batchedWeights ? 'conv2d.forwardBatched' : 'conv2d.forward', extras, inputs: ['x', 'w', ...bias], output: 'y', cols: 'params.cout' };
  }
  if (dir === 'backwardInput') return { name: 'conv2d.backwardInput', extras: ['dCo', 'dTap'], inputs: ['dy', 'w', ...bias], output: 'dx', cols: 'params.cin' };
  return { name: 'conv2d.backwardWeight', extras: ['mw', 'k', 'chunk', 'dWo', 'dHo', 'dN', 'rowChunk', 'nPer'], inputs: ['dy', 'x'], output: 'dw', cols: 'params.cout' };
}

/** Forward row m = (n, ho, wo): where its patch starts (FAR when m is past the end). */
export const forwardRow = (s: string, m: string): string => `var hBase${s} = ${FAR};
  var wBase${s} = 0;
  var xBase${s} = 0;
  if (${m} < params.m) {
    hBase${s} = ((${m} / params.wo) % params.ho) * params.sh - params.padTop;
    wBase${s} = (${m} % params.wo) * params.sw - params.padLeft;
    xBase${s} = (${m} / (params.wo * params.ho)) * params.h * params.w * params.cin;
  }`;

/** Backward input: the stride phase of this workgroup, its tap grid (th × tw) and pixel grid (hp × wp). */
export const PHASE = /* wgsl */ `let ph = batch / params.sw;
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
export const phaseRow = (s: string, m: string): string => `var hoBase${s} = ${FAR};
  var woBase${s} = 0;
  var dyBase${s} = 0;
  if (${m} < mp) {
    woBase${s} = ${m} % wp + (pw + params.padLeft - rw) / params.sw;
    hoBase${s} = (${m} / wp) % hp + (ph + params.padTop - rh) / params.sh;
    dyBase${s} = (${m} / (wp * hp)) * params.ho * params.wo * params.cout;
  }`;

/** Batched weights: where this workgroup's sample's weights start (its rows share one sample). */
export const WEIGHT_OFFSET = 'let wOff = (row0 / (params.ho * params.wo)) * params.wBatch;';

export const PHASE_PIXEL = 'let px = ((m / (wp * hp)) * params.h + ph + params.sh * ((m / wp) % hp)) * params.w + pw + params.sw * (m % wp);';

/**
 * The store of output row `m` (already checked) and column `col`, for each direction; with `vec4`
 * (forward and backward input: the output and bias bound as vec4 arrays, N a multiple of 4 and
 * col of 4) columns col..col + 3 as one vec4. `relu` (forward only) stores max(value + bias, 0),
 * NaN kept (reluKeepingNan): conv2d's fused ReLU, so the activation is written once instead of
 * written, read and written again.
 */
export function storeOne(dir: ConvDirection, hasBias: boolean, col: string, value: string, vec4 = false, relu = false): string {
  if (vec4 && dir === 'backwardWeight') throw new Error('storeOne: vec4 stores are for forward and backward input');
  if (relu && dir !== 'forward') throw new Error('storeOne: a fused ReLU is for the forward');
  const at = (index: string) => (vec4 ? `(${index}) / 4` : index);
  const b = hasBias ? ` + b[${at(col)}]` : '';
  const yAt = `y[${at(`m * params.cout + ${col}`)}]`;
  if (dir === 'forward' && relu) return guard('m < params.m', `let preRelu = ${value}${b}; ${yAt} = ${reluKeepingNan('preRelu', vec4 ? 'vec4<f32>' : 'f32')};`);
  if (dir === 'forward') return guard('m < params.m', `${yAt} = ${value}${b};`);
  if (dir === 'backwardInput') return guard('m < mp', `dx[${at(`px * params.cin + ${col}`)}] = ${value}${b};`);
  return guard('m < params.mw', `dw[(batch * params.mw + m) * params.cout + ${col}] = ${value};`);
}

/**
 * What the forward-only kernels that compile a conv's geometry into their WGSL (uniform-weights,
 * channel-lanes, row-patch) all take from it: the kernel, channels, strides and the top-left
 * padding, and whether a bias is added and the ReLU fused. Each adds its own layout fields.
 */
export interface FixedGeometry {
  kh: number;
  kw: number;
  cin: number;
  cout: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
  bias: boolean;
  relu: boolean;
}

export const fixedGeometry = (g: ConvGeometry, bias: boolean, relu: boolean): FixedGeometry => ({
  kh: g.kh, kw: g.kw, cin: g.cin, cout: g.cout, sh: g.sh, sw: g.sw, padTop: g.padTop, padLeft: g.padLeft, bias, relu,
});
