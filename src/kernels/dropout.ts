// Inverted dropout: y = x * mask / (1 - rate), mask = 1 with probability 1 - rate. Identity when not
// training or when rate is 0. Backward: dx = dy * mask / (1 - rate), the same mask, regenerated from
// the seed (nothing is saved: the mask is a pure function of (seed, element index)).
//
// The random numbers come from a counter-based hash, not a stateful generator: element i under seed
// s gets u = hash(s, i) in [0, 1), so every adapter, every launch shape and the CPU twin below give
// bit-identical masks. The hash is PCG's output permutation (Jarzynski & Olano, "Hash Functions for
// GPU Rendering", JCGT 2020) applied to the index, xored with the hashed seed, and hashed again;
// each step is a bijection on u32, so within one seed no two elements share a hash. u keeps the top
// 24 bits, which f32 represents exactly. Pass a new seed every training step.
// Past the binding limit (kernels/chunking.ts) both kernels run in flat chunks; params.first gives
// each chunk its global element index, so the mask does not depend on the chunking.

import { f32, packParams, u32 } from '../gpu/params.js';
import type { KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectNumber, expectOptionalBoolean, expectOptions, expectTensor } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { checkShapeArg, emptyTensor, shapeSize, type Shape, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

/**
 * WGSL: `pcgHash(v: u32) -> u32`, `randomU32(seed: u32, index: u32) -> u32` and
 * `randomUniform(seed: u32, index: u32) -> f32` in [0, 1). Paste into any kernel that needs noise;
 * for several numbers per element use distinct indices (index * k + j) or seeds.
 */
export const WGSL_RANDOM = /* wgsl */ `
fn pcgHash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn randomU32(seed: u32, index: u32) -> u32 {
  return pcgHash(pcgHash(index) ^ pcgHash(seed ^ 0x9e3779b9u));
}
fn randomUniform(seed: u32, index: u32) -> f32 {
  return f32(randomU32(seed, index) >> 8u) * (1.0 / 16777216.0);
}`;

function pcgHashRef(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** CPU twin of WGSL `randomUniform`: bit-identical values. */
export function randomUniformRef(seed: number, index: number): number {
  const h = pcgHashRef((pcgHashRef(index >>> 0) ^ pcgHashRef((seed ^ 0x9e3779b9) >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

const uniformSpec: KernelSpec = {
  name: 'random.uniform',
  key: '',
  inputs: 0,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, seed: u32, first: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
${WGSL_RANDOM}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  out[i] = randomUniform(params.seed, params.first + i);
}`,
};

const dropoutSpec: KernelSpec = {
  name: 'dropout.forward',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, seed: u32, rate: f32, scale: f32, first: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${WGSL_RANDOM}
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  y[i] = select(0.0, x[i] * params.scale, randomUniform(params.seed, params.first + i) >= params.rate);
}`,
};

function checkSeed(op: string, seed: unknown): void {
  expectNumber(op, 'seed', seed, { integer: true, min: 0, max: 0xffffffff });
}

/** A tensor of uniform [0, 1) values: element i is randomUniformRef(seed, i). */
export function randomUniform(shape: Shape, seed: number): Tensor {
  checkShapeArg('randomUniform', shape);
  checkSeed('randomUniform', seed);
  const per = chunkItems(uniformSpec.name, shapeSize(shape), [part(planned('random.uniform', shape), 1)]);
  const out = emptyTensor(shape, 'random.uniform');
  forEachChunk(out.size, per, (first, count) => {
    dispatchChunk(uniformSpec, [], [range(out, first, count)], packParams([u32(count), u32(seed), u32(first)]), linearGrid(count));
  });
  return out;
}

/**
 * Raw GPU dropout mask application: keeps element i when randomUniform(seed, i) >= rate, scaled by
 * 1 / (1 - rate). Also the backward, applied to dy with the same seed.
 */
export function dropoutForward(x: Tensor, rate: number, seed: number): Tensor {
  const per = chunkItems(dropoutSpec.name, x.size, [part(x, 1), part(planned('dropout.out', x.shape), 1)]);
  const y = emptyTensor(x.shape, 'dropout.out');
  forEachChunk(x.size, per, (first, count) => {
    const params = packParams([u32(count), u32(seed), f32(rate), f32(1 / (1 - rate)), u32(first)]);
    dispatchChunk(dropoutSpec, [range(x, first, count)], [range(y, first, count)], params, linearGrid(count));
  });
  return y;
}

export interface DropoutOptions {
  /** Probability of dropping an element, in [0, 1). */
  rate: number;
  /** Selects the mask; use a different one every step. Integer in [0, 2^32). */
  seed: number;
  /** Default true; when false dropout is the identity. */
  training?: boolean;
}

/** Differentiable inverted dropout. */
export function dropout(x: Tensor, options: DropoutOptions): Tensor {
  expectTensor('dropout', 'input x', x);
  expectOptions('dropout', options, '{ rate: 0.5, seed: 1 }', true);
  expectKnownOptions('dropout', options, ['rate', 'seed', 'training'], {});
  const { rate, seed } = options;
  // By type: a rate of '0.5' passed the old range test by coercion.
  expectNumber('dropout', 'rate', rate, { min: 0, below: 1 });
  checkSeed('dropout', seed);
  expectOptionalBoolean('dropout', 'training', options.training);
  if (options.training === false || rate === 0) {
    return record('dropout', [x], x.share(), (dy) => [dy.share()]);
  }
  return record('dropout', [x], dropoutForward(x, rate, seed), (dy) => [dropoutForward(dy, rate, seed)]);
}
