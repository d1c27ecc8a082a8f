// Gradient clipping by global norm, as PyTorch's clip_grad_norm_ (and Keras's global_clipnorm):
//
//   norm = sqrt(Σ_params Σ g²),  factor = min(1, maxNorm / (norm + 1e-6)),  g <- g · factor
//
// All on the GPU: each gradient's sum of squares is a reduction ([]), the sums are added, and one
// tiny kernel turns the total into the norm and the factor, which the gradients are multiplied by
// as a broadcast scalar. Nothing is read back, so clipping costs no sync in a training step; the
// norm comes back as a [] tensor for logging. A non-finite gradient gives a non-finite norm and
// factor, as PyTorch's default (error_if_nonfinite=False) does; fit's NaN check then stops the run.
// WGSL's min is undefined for NaN (it may return the 1), so a NaN factor is kept from its bits:
// every gradient then becomes NaN, as PyTorch's clamp(NaN, max=1) makes them, not left unclipped.
//
// Overflow: Σg² passes float32's 3.4e38 once the norm passes 1.8e19 (one gradient of 3e19, or 400
// of 1e18), and that +inf made the factor 0, zeroing every gradient without a word (PyTorch's
// clip_grad_norm_ does the same). So the pass that squares the gradients also sums (g·2^-80)², a
// partial per thread of 16 loads, whose total cannot overflow (1e9 values at float32's maximum give
// 7.9e37); where the plain total is +inf and that one finite, the norm is sqrt(it)·2^80. Scaling
// by a power of two is exact, so float32's relative accuracy stays; the squares it loses below
// float32's normal range (|g| < 1.3e5) add under 1.7e10 each to a total above 3.4e38. A finite
// plain total (every ordinary norm) is used as before, bit for bit: the squares and their
// reduction are the square op's and reduce.ts's. A genuinely infinite gradient leaves both totals
// +inf: norm +inf and factor 0, as before.

import { f32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, zeros, type Tensor } from '../graph/tensor.js';
import { checkWhole, chunkItems, dispatchChunk, forEachChunk, part, planned, range } from './chunking.js';
import { binaryForward } from './elementwise.js';
import { reduceMiddle } from './reduce.js';
import { isNanBits, LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** PyTorch's: keeps the factor finite when every gradient is zero. */
export const CLIP_EPS = 1e-6;

/** Loads (floats or vec4s) per thread of the squares pass, each thread a scaled partial. */
const LOADS = 16;
/** The scaled sum's 2^-SCALE_EXP, as an exact hex literal; sqrt takes it back as 2^(SCALE_EXP/2). */
const SCALE_EXP = 160;

const clipFactorSpec: KernelSpec = {
  name: 'clip.factor',
  key: '',
  inputs: 2,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { maxNorm: f32 }
@group(0) @binding(0) var<storage, read> squares: array<f32>;
@group(0) @binding(1) var<storage, read> scaled: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> factor: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main() {
  let p = squares[0];
  let s = scaled[0];
  // From the bits (a compiler may assume floats finite): the plain total overflowed to +inf,
  // and the scaled one is finite. A NaN total is neither, and stays NaN.
  let overflowed = (bitcast<u32>(p) == 0x7f800000u) & ((bitcast<u32>(s) & 0x7fffffffu) < 0x7f800000u);
  let n = select(sqrt(p), sqrt(s) * 0x1p${SCALE_EXP / 2}f, overflowed);
  norm[0] = n;
  let q = params.maxNorm / (n + ${CLIP_EPS});
  factor[0] = select(min(1.0, q), q, ${isNanBits('q', 'u32')});
}`,
};

/**
 * sq = g·g, as the square op writes it (so reduce.ts sums the same values as before), and each
 * thread's Σ (g·2^-80)² over its LOADS loads into scaled[params.offset + thread]. Thread t takes
 * loads t, t + T, t + 2T, ... (T threads), so neighbouring threads read neighbouring words, and
 * there is no workgroup tree: one (a partial per 256 threads) made clipping 12 tensors of 2M
 * floats in all 5x slower on lavapipe (40 -> 194 ms, its barriers as groupnorm-threads.ts found);
 * this way it took 27-33 ms against 25-27 before the fix (medians of 9, same runs).
 */
function squaresSpec(width: VecWidth): KernelSpec {
  const T = vecType(width);
  return {
    name: 'clip.squares',
    key: `w${width}l${LOADS}`,
    inputs: 1,
    outputs: 2,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, threads: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> g: array<${T}>;
@group(0) @binding(1) var<storage, read_write> sq: array<${T}>;
@group(0) @binding(2) var<storage, read_write> scaled: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let t = ${linearIndex()};
  if (t >= params.threads) { return; }
  var acc = 0.0;
  for (var i = t; i < params.n; i += params.threads) {
    let x = g[i];
    sq[i] = x * x;
    let v = x * 0x1p-${SCALE_EXP / 2}f;
    acc += ${width === 4 ? 'dot(v, v)' : 'v * v'};
  }
  scaled[params.offset + t] = acc;
}`,
  };
}
const SQUARES = { 1: squaresSpec(1), 4: squaresSpec(4) } as const;

/** One gradient's chunks (as flatPass's: the binding limit, in multiples of the width). */
function chunksOf(g: Tensor): { width: VecWidth; per: number; partials: number } {
  const width = vecWidth(g.size);
  const per = chunkItems(SQUARES[width].name, g.size, [part(g, 1), part(planned('clip.sq', g.shape), 1)], [], width);
  let partials = 0;
  forEachChunk(g.size, per, (_first, count) => (partials += Math.ceil(count / width / LOADS)));
  return { width, per, partials };
}

/**
 * Σ g² over every element of every tensor (at least one), a [] tensor, and Σ (g·2^-80)², [],
 * for a plain total that overflows.
 */
export function squaredNorm(grads: readonly Tensor[]): { squares: Tensor; scaled: Tensor } {
  const plans = grads.map(chunksOf);
  const count = plans.reduce((s, p) => s + p.partials, 0);
  // A float per LOADS loads, bound whole: past the binding limit only for gradients of ~1e9 floats.
  checkWhole('clipGradNorm', [planned('clip.scaledPartials', [count])]);
  const partials = emptyTensor([Math.max(1, count)], 'clip.scaledPartials');
  let offset = 0;
  let total: Tensor | null = null;
  for (const [k, g] of grads.entries()) {
    const { width, per } = plans[k];
    const sq = emptyTensor(g.shape, 'clip.sq');
    forEachChunk(g.size, per, (first, n) => {
      const threads = Math.ceil(n / width / LOADS);
      const params = packParams([u32(n / width), u32(threads), u32(offset)]);
      dispatchChunk(SQUARES[width], [range(g, first, n)], [range(sq, first, n), partials], params, linearGrid(threads));
      offset += threads;
    });
    const s = reduceMiddle(sq, 1, g.size, 1, [], 1);
    sq.dispose();
    if (!total) {
      total = s;
      continue;
    }
    const next = binaryForward('add', total, s);
    total.dispose();
    s.dispose();
    total = next;
  }
  const scaled = count === 0 ? zeros([]) : reduceMiddle(partials, 1, count, 1, [], 1);
  partials.dispose();
  return { squares: total!, scaled };
}

/**
 * Scales `grads` by min(1, maxNorm / (norm + 1e-6)), norm their global L2 norm: returns the
 * scaled gradients (new tensors; the caller swaps them in) and the norm before clipping, [].
 */
export function clipByGlobalNorm(grads: readonly Tensor[], maxNorm: number): { clipped: Tensor[]; norm: Tensor } {
  if (grads.length === 0) return { clipped: [], norm: zeros([]) };
  const { squares, scaled } = squaredNorm(grads);
  const norm = emptyTensor([], 'clip.norm');
  const factor = emptyTensor([1], 'clip.factor');
  const inputs = [squares.slice, scaled.slice];
  runtime().dispatch(clipFactorSpec, { inputs, outputs: [norm.slice, factor.slice], params: packParams([f32(maxNorm)]) }, [1, 1]);
  squares.dispose();
  scaled.dispose();
  const clipped = grads.map((g) => binaryForward('mul', g, factor));
  factor.dispose();
  return { clipped, norm };
}
