// Weight initialisers, seeded so the same seed builds the same model. Keras's defaults: Glorot
// uniform for kernels, zeros for biases; He (normal, fan-in) for ReLU stacks as PyTorch's
// kaiming_normal_; the standard normal for embedding tables, as PyTorch's nn.Embedding. Fans for
// conv kernels [kh, kw, cin, cout]: fanIn = kh*kw*cin, fanOut = kh*kw*cout.

import { mulberry32 } from '../util/random.js';
import { repeatableDraw } from '../graph/recompute.js';

export const INIT_NAMES = ['glorotUniform', 'heNormal', 'heUniform', 'normal', 'zeros', 'ones'] as const;
export type InitName = (typeof INIT_NAMES)[number];

/** Seeded generator for initialisers (src/util/random.ts). */
export const seededRandom = mulberry32;

export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 2) return { fanIn: shape[0], fanOut: shape[1] };
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] };
  const receptive = shape.slice(0, -2).reduce((p, d) => p * d, 1);
  return { fanIn: receptive * shape[shape.length - 2], fanOut: receptive * shape[shape.length - 1] };
}

export function initValues(name: InitName, shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  if (name === 'zeros') return out;
  if (name === 'ones') return out.fill(1);
  const { fanIn, fanOut } = fans(shape);
  const rand = seededRandom(seed);
  if (name === 'glorotUniform') {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * limit;
  } else if (name === 'heUniform') {
    const limit = Math.sqrt(6 / fanIn);
    for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * limit;
  } else {
    // 'normal': N(0, 1), PyTorch's nn.Embedding; else He normal.
    const std = name === 'normal' ? 1 : Math.sqrt(2 / fanIn);
    for (let i = 0; i < n; i += 2) {
      // Box-Muller: two normals per pair of uniforms.
      const u = Math.max(rand(), 1e-12);
      const v = rand();
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = r * Math.cos(2 * Math.PI * v) * std;
      if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v) * std;
    }
  }
  return out;
}

/** Where the counter starts in a fresh process (test/helpers/shared-worker-state.ts resets it). */
export const FIRST_INIT_SEED = 1;
let seedCounter = FIRST_INIT_SEED;

/** Seeds layers created without an explicit seed: same creation order, same weights. */
export function setInitSeed(seed: number): void {
  seedCounter = seed;
}

/**
 * The next seed of the counter. Repeatable (graph/recompute.ts): a draw inside dn.checkpoint's
 * function (an unseeded dn.augment call) gets the same seed when the backward recomputes it.
 */
export function nextSeed(): number {
  return repeatableDraw(() => (seedCounter = (Math.imul(seedCounter, 1664525) + 1013904223) >>> 0));
}
