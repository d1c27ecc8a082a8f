// CPU reference for batch normalisation over NHWC [N, H, W, C] (float64), PyTorch semantics:
// biased batch variance to normalise, unbiased (n / (n - 1)) in the running variance, and
// running = (1 - momentum) * running + momentum * batch statistic.

import { ndZeros, type NdArray } from './array.js';

export interface BatchNormRefOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
}

/** Per-channel mean and biased variance over every row of the [n, C] view. */
export function channelMoments(x: NdArray): { mean: Float64Array; variance: Float64Array } {
  const c = x.shape[x.shape.length - 1];
  const n = x.data.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let i = 0; i < x.data.length; i++) mean[i % c] += x.data[i] / n;
  for (let i = 0; i < x.data.length; i++) variance[i % c] += (x.data[i] - mean[i % c]) ** 2 / n;
  return { mean, variance };
}

/** y and the updated running stats (new arrays; the inputs are not modified). */
export function batchNormForwardRef(
  x: NdArray,
  gamma: NdArray,
  beta: NdArray,
  runningMean: NdArray,
  runningVar: NdArray,
  o: BatchNormRefOptions,
): { y: NdArray; runningMean: NdArray; runningVar: NdArray } {
  const c = gamma.data.length;
  const n = x.data.length / c;
  const eps = o.eps ?? 1e-5;
  const momentum = o.momentum ?? 0.1;
  const newMean = ndZeros([c]);
  const newVar = ndZeros([c]);
  newMean.data.set(runningMean.data);
  newVar.data.set(runningVar.data);
  let mean = runningMean.data;
  let variance = runningVar.data;
  if (o.training) {
    ({ mean, variance } = channelMoments(x));
    for (let ch = 0; ch < c; ch++) {
      newMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mean[ch];
      newVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * variance[ch] * (n / (n - 1));
    }
  }
  const y = ndZeros(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const ch = i % c;
    y.data[i] = ((x.data[i] - mean[ch]) / Math.sqrt(variance[ch] + eps)) * gamma.data[ch] + beta.data[ch];
  }
  return { y, runningMean: newMean, runningVar: newVar };
}

/**
 * dx, dgamma, dbeta. Training: the batch statistics are functions of x, so
 * dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)). Inference: dx = dy * gamma * invStd.
 */
export function batchNormBackwardRef(
  x: NdArray,
  gamma: NdArray,
  dy: NdArray,
  runningMean: NdArray,
  runningVar: NdArray,
  o: BatchNormRefOptions,
): { dx: NdArray; dgamma: NdArray; dbeta: NdArray } {
  const c = gamma.data.length;
  const n = x.data.length / c;
  const eps = o.eps ?? 1e-5;
  const { mean, variance } = o.training ? channelMoments(x) : { mean: runningMean.data, variance: runningVar.data };
  const invStd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const dgamma = ndZeros([c]);
  const dbeta = ndZeros([c]);
  for (let i = 0; i < x.data.length; i++) {
    const ch = i % c;
    dbeta.data[ch] += dy.data[i];
    dgamma.data[ch] += dy.data[i] * (x.data[i] - mean[ch]) * invStd[ch];
  }
  const dx = ndZeros(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const ch = i % c;
    const scale = gamma.data[ch] * invStd[ch];
    if (o.training) {
      const xhat = (x.data[i] - mean[ch]) * invStd[ch];
      dx.data[i] = scale * (dy.data[i] - dbeta.data[ch] / n - (xhat * dgamma.data[ch]) / n);
    } else {
      dx.data[i] = scale * dy.data[i];
    }
  }
  return { dx, dgamma, dbeta };
}
