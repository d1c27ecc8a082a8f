// CPU reference for gradient clipping by global norm (src/kernels/clip.ts), float64.

/** PyTorch's clip_grad_norm_: every gradient times min(1, maxNorm / (norm + 1e-6)). */
export function clipByGlobalNormRef(grads: readonly ArrayLike<number>[], maxNorm: number): { clipped: Float64Array[]; norm: number } {
  let squares = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) squares += g[i] * g[i];
  const norm = Math.sqrt(squares);
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  return { clipped: grads.map((g) => Float64Array.from(g, (v) => v * factor)), norm };
}
