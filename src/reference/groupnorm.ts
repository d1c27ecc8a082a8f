// CPU reference for group normalisation (float64), PyTorch's nn.GroupNorm: x has the batch first
// and the channels last ([N, H, W, C], or any rank >= 2), and the group (n, g) is every element of
// sample n whose channel lies in [g·C/G, (g+1)·C/G). Biased variance, eps inside the square root.
//   y = (x - mean[n,g]) · invStd[n,g] · gamma[c] + beta[c]
// groups = C is instance norm, groups = 1 layer norm over everything but the batch.

import { ndZeros, type NdArray } from './array.js';

interface Layout {
  n: number;
  pixels: number;
  c: number;
  cg: number;
}

function layoutOf(x: NdArray, groups: number): Layout {
  const n = x.shape[0];
  const c = x.shape[x.shape.length - 1];
  return { n, pixels: x.data.length / (n * c), c, cg: c / groups };
}

/** Calls fn(index, group row n·G + g, channel) for every element of x. */
function forEachElement(l: Layout, groups: number, fn: (i: number, ng: number, ch: number) => void): void {
  for (let n = 0; n < l.n; n++) {
    for (let p = 0; p < l.pixels; p++) {
      for (let ch = 0; ch < l.c; ch++) fn((n * l.pixels + p) * l.c + ch, n * groups + Math.floor(ch / l.cg), ch);
    }
  }
}

/** Per group [N·G]: the mean and 1 / sqrt(biased variance + eps). */
export function groupMoments(x: NdArray, groups: number, eps = 1e-5): { mean: Float64Array; invStd: Float64Array } {
  const l = layoutOf(x, groups);
  const m = l.pixels * l.cg;
  const mean = new Float64Array(l.n * groups);
  const variance = new Float64Array(l.n * groups);
  forEachElement(l, groups, (i, ng) => (mean[ng] += x.data[i] / m));
  forEachElement(l, groups, (i, ng) => (variance[ng] += (x.data[i] - mean[ng]) ** 2 / m));
  return { mean, invStd: variance.map((v) => 1 / Math.sqrt(v + eps)) };
}

export function groupNormForwardRef(
  x: NdArray,
  gamma: NdArray,
  beta: NdArray,
  groups: number,
  eps = 1e-5,
): { y: NdArray; mean: Float64Array; invStd: Float64Array } {
  const { mean, invStd } = groupMoments(x, groups, eps);
  const y = ndZeros(x.shape);
  forEachElement(layoutOf(x, groups), groups, (i, ng, ch) => {
    y.data[i] = (x.data[i] - mean[ng]) * invStd[ng] * gamma.data[ch] + beta.data[ch];
  });
  return { y, mean, invStd };
}

/**
 * dx, dgamma, dbeta. With xhat = (x - mean)·invStd and g = dy·gamma[c], the group statistics being
 * functions of x gives dx = invStd · (g - mean_group(g) - xhat · mean_group(g·xhat));
 * dgamma[c] = Σ dy·xhat and dbeta[c] = Σ dy over every sample and pixel.
 */
export function groupNormBackwardRef(
  x: NdArray,
  gamma: NdArray,
  dy: NdArray,
  groups: number,
  eps = 1e-5,
): { dx: NdArray; dgamma: NdArray; dbeta: NdArray } {
  const l = layoutOf(x, groups);
  const m = l.pixels * l.cg;
  const { mean, invStd } = groupMoments(x, groups, eps);
  const xhat = (i: number, ng: number) => (x.data[i] - mean[ng]) * invStd[ng];
  const meanG = new Float64Array(l.n * groups);
  const meanGXhat = new Float64Array(l.n * groups);
  const dgamma = ndZeros([l.c]);
  const dbeta = ndZeros([l.c]);
  forEachElement(l, groups, (i, ng, ch) => {
    const g = dy.data[i] * gamma.data[ch];
    meanG[ng] += g / m;
    meanGXhat[ng] += (g * xhat(i, ng)) / m;
    dgamma.data[ch] += dy.data[i] * xhat(i, ng);
    dbeta.data[ch] += dy.data[i];
  });
  const dx = ndZeros(x.shape);
  forEachElement(l, groups, (i, ng, ch) => {
    const g = dy.data[i] * gamma.data[ch];
    dx.data[i] = invStd[ng] * (g - meanG[ng] - xhat(i, ng) * meanGXhat[ng]);
  });
  return { dx, dgamma, dbeta };
}
