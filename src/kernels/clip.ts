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

import { f32, packParams } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, zeros, type Tensor } from '../graph/tensor.js';
import { binaryForward, unaryForward } from './elementwise.js';
import { reduceMiddle } from './reduce.js';
import { isNanBits } from './wgsl.js';

/** PyTorch's: keeps the factor finite when every gradient is zero. */
export const CLIP_EPS = 1e-6;

const clipFactorSpec: KernelSpec = {
  name: 'clip.factor',
  key: '',
  inputs: 1,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { maxNorm: f32 }
@group(0) @binding(0) var<storage, read> squares: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> factor: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main() {
  let n = sqrt(squares[0]);
  norm[0] = n;
  let q = params.maxNorm / (n + ${CLIP_EPS});
  factor[0] = select(min(1.0, q), q, ${isNanBits('q', 'u32')});
}`,
};

/** Σ g² over every element of every tensor (at least one), a [] tensor. */
export function squaredNorm(grads: readonly Tensor[]): Tensor {
  let total: Tensor | null = null;
  for (const g of grads) {
    const sq = unaryForward('square', g);
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
  return total!;
}

/**
 * Scales `grads` by min(1, maxNorm / (norm + 1e-6)), norm their global L2 norm: returns the
 * scaled gradients (new tensors; the caller swaps them in) and the norm before clipping, [].
 */
export function clipByGlobalNorm(grads: readonly Tensor[], maxNorm: number): { clipped: Tensor[]; norm: Tensor } {
  if (grads.length === 0) return { clipped: [], norm: zeros([]) };
  const squares = squaredNorm(grads);
  const norm = emptyTensor([], 'clip.norm');
  const factor = emptyTensor([1], 'clip.factor');
  runtime().dispatch(clipFactorSpec, { inputs: [squares.slice], outputs: [norm.slice, factor.slice], params: packParams([f32(maxNorm)]) }, [1, 1]);
  squares.dispose();
  const clipped = grads.map((g) => binaryForward('mul', g, factor));
  factor.dispose();
  return { clipped, norm };
}
