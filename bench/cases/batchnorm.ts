// Batch norm at the U-Net levels: training forward (batch statistics, running stats updated) and
// the training backward. Memory bound; the minimum traffic is 3 passes over x forward (mean, then
// variance, then normalise and write y: 2 reads + 1 write) and, backward, 2 reads of x and dy for
// the sums plus one more of each and a write of dx (5 passes), counted as such.
//
// tfjs: tf.moments + tf.batchNorm forward (eps 1e-5 like dawnet's default; tfjs's default is 1e-3).
// tfjs's own batchNorm gradient is composed of ops too; without its gradient registry in Node the
// same training-mode formula is written here with tfjs ops.

import type * as TF from '@tensorflow/tfjs-core';
import { batchnormSumsWay, withBatchnormSumsWay } from '../../src/kernels/batchnorm-sums.js';
import { count, dims, f32Bytes, unetLevels, family, ways, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = typeof import('../../src/kernels/batchnorm.js');

/** The way the adapter combines the sums' row lanes (batchnorm-sums.ts), and the other beside it. */
const sumsWays = ways(['tree', 'lanes'], batchnormSumsWay, withBatchnormSumsWay);

const EPS = 1e-5;

function tfjsForward(tf: typeof TF, [x, gamma, beta]: TF.Tensor[]): TF.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, EPS);
}

/**
 * What dawnet's training forward returns, for the check: y, and the batch mean and 1/sqrt(var + eps)
 * it saves for backward (tfjs computes them inside its op; the timed op returns y alone).
 */
function tfjsForwardOutputs(tf: typeof TF, [x, gamma, beta]: TF.Tensor[]): TF.Tensor[] {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return [tf.batchNorm(x, mean, variance, beta, gamma, EPS), mean, tf.rsqrt(tf.add(variance, EPS))];
}

/**
 * dx = gamma·invStd·(dy − Σdy/n − xhat·Σ(dy·xhat)/n), the training-mode gradient, with dgamma =
 * Σ(dy·xhat) and dbeta = Σdy (computed on the way; returned as dawnet returns them).
 */
function tfjsBackward(tf: typeof TF, [dy, x, gamma, mean, invStd]: TF.Tensor[]): TF.Tensor[] {
  const n = x.size / x.shape[x.rank - 1]!;
  const xhat = tf.mul(tf.sub(x, mean), invStd);
  const dbeta = tf.sum(dy, [0, 1, 2]);
  const dgamma = tf.sum(tf.mul(dy, xhat), [0, 1, 2]);
  const inner = tf.sub(tf.sub(dy, tf.div(dbeta, n)), tf.mul(xhat, tf.div(dgamma, n)));
  return [tf.mul(tf.mul(gamma, invStd), inner), dgamma, dbeta];
}

function cases(k: Kernels, scale: number): BenchCase[] {
  const out: BenchCase[] = [];
  for (const l of unetLevels(scale)) {
    const x = [l.n, l.h, l.w, l.cin];
    const c = [l.cin];
    const n = count(x);
    out.push({
      id: `batchNorm2d.forward/${l.name}`,
      group: 'batchnorm',
      shape: dims(x),
      metric: 'bytes',
      work: f32Bytes(n, n, n),
      inputs: [
        { name: 'x', shape: x },
        { name: 'gamma', shape: c, data: 'positive' },
        { name: 'beta', shape: c },
        { name: 'runningMean', shape: c },
        { name: 'runningVar', shape: c, data: 'positive' },
      ],
      dawnet: ([t, g, b, rm, rv]) => k.batchNorm2dForward(t, g, b, rm, rv, { training: true, eps: EPS }),
      tfjs: tfjsForward,
      tfjsOutputs: tfjsForwardOutputs,
      outputs: [{ name: 'y' }, { name: 'mean' }, { name: 'invStd' }],
      ...sumsWays,
    });
    out.push({
      id: `batchNorm2d.backward/${l.name}`,
      group: 'batchnorm',
      shape: dims(x),
      metric: 'bytes',
      work: f32Bytes(n, n, n, n, n),
      inputs: [
        { name: 'dy', shape: x },
        { name: 'x', shape: x },
        { name: 'gamma', shape: c, data: 'positive' },
        { name: 'mean', shape: c },
        { name: 'invStd', shape: c, data: 'positive' },
      ],
      dawnet: ([dy, t, g, m, s]) => k.batchNorm2dBackward(dy, t, g, m, s, { training: true }),
      tfjs: tfjsBackward,
      outputs: [{ name: 'dx' }, { name: 'dgamma' }, { name: 'dbeta' }],
      // Two per-channel sums over N·H·W rows feed every output.
      tolerance: 1e-3,
      ...sumsWays,
    });
  }
  return out;
}

export const batchnormFamily: CaseFamily = family('batchnorm', () => import('../../src/kernels/batchnorm.js'), cases);
