// The general-purpose ops beside the model kernels, at the U-Net's l1 activations (batch 16,
// 256x256x32 at scale 1) and a multi-class map (4 classes): a global max over space, argmax over
// the classes (a multi-class prediction), a centre crop, a 2x2 tile, a selection and a pairwise
// maximum, an embedding table's lookup (gather) and its gradient, running sums along W (cumsum, a
// summed-area table's pass), VGG16's top-5 classes (topk), its 1000 scores sorted and a long
// vector sorted (sort; tfjs's way to sort is tf.topk with k the whole axis), an intensity
// histogram, and a layer norm over 768-wide rows (a transformer's width; 8192 rows
// at scale 1). All are memory bound: the work is the bytes the op must read and write at least.
//
// tfjs: tf.max, tf.argMax, tf.slice, tf.tile, tf.where (its condition a bool tensor, made untimed
// from the same comparison dawnet's float mask is), tf.maximum, tf.gather (int32 ids, made untimed
// from the same numbers as dawnet's float ids) and tf.unsortedSegmentSum (gather's gradient in
// tfjs), tf.cumsum, tf.topk (also as the sort); the layer norm written with tf.moments as tf.layers.layerNormalization
// computes it. tfjs has no gelu op, so none is timed.

import type * as TF from '@tensorflow/tfjs-core';
import { histogramWay, withHistogramWay } from '../../src/kernels/histogram.js';
import { backwardWay, withBackwardWay } from '../../src/kernels/index-gather-backward.js';
import { topkWay, withTopkWay } from '../../src/kernels/topk.js';
import { count, dims, f32Bytes, family, scaled, ways, type BenchCase } from '../case.js';

type Ops = typeof import('../../src/index.js');

function cases(dn: Ops, scale: number): BenchCase[] {
  const s = scaled(256, scale);
  const x = [scaled(16, scale), s, s, 32];
  const classes = [scaled(16, scale), s, s, 4];
  const n = count(x);
  const half = Math.max(1, Math.floor(s / 2));
  const crop = [x[0], half, half, 32];
  const small = [scaled(16, scale), half, half, 32];
  const rows = [scaled(8192, scale), 768];
  const table = [scaled(32768, scale), 256];
  const ids = scaled(4096, scale);
  const layout = { outer: 1, n: table[0], inner: 256 };
  const vector = scaled(1048576, scale);
  const topRows = scaled(32, scale);
  const image = [scaled(16, scale), s, s, 3];
  const out: BenchCase[] = [
    {
      id: 'max-hw/unet-l1',
      group: 'library',
      shape: `${dims(x)} -> [${x[0]},32]`,
      metric: 'bytes',
      work: f32Bytes(n, x[0] * 32),
      inputs: [{ name: 'x', shape: x }],
      dawnet: ([a]) => dn.max(a, [1, 2]),
      tfjs: (tf, [a]) => tf.max(a, [1, 2]),
    },
    {
      id: 'argmax-classes/seg',
      group: 'library',
      shape: `${dims(classes)} -> ${dims(classes.slice(0, 3))}`,
      metric: 'bytes',
      work: f32Bytes(count(classes), count(classes) / 4),
      inputs: [{ name: 'x', shape: classes }],
      dawnet: ([a]) => dn.argmax(a, -1),
      tfjs: (tf, [a]) => tf.argMax(a, -1),
    },
    {
      id: 'slice-centre/unet-l1',
      group: 'library',
      shape: `${dims(x)} -> ${dims(crop)}`,
      metric: 'bytes',
      work: f32Bytes(count(crop), count(crop)),
      inputs: [{ name: 'x', shape: x }],
      dawnet: ([a]) => dn.slice(a, [0, Math.floor(s / 4), Math.floor(s / 4), 0], crop),
      tfjs: (tf, [a]) => tf.slice(a, [0, Math.floor(s / 4), Math.floor(s / 4), 0], crop),
    },
    {
      id: 'tile-2x2/unet-l2',
      group: 'library',
      shape: `${dims(small)} x [1,2,2,1]`,
      metric: 'bytes',
      work: f32Bytes(count(small), 4 * count(small)),
      inputs: [{ name: 'x', shape: small }],
      dawnet: ([a]) => dn.tile(a, [1, 2, 2, 1]),
      tfjs: (tf, [a]) => tf.tile(a, [1, 2, 2, 1]),
    },
    {
      id: 'where/unet-l1',
      group: 'library',
      shape: `${dims(x)} x3`,
      metric: 'bytes',
      work: f32Bytes(n, n, n, n),
      inputs: [{ name: 'c', shape: x }, { name: 'a', shape: x }, { name: 'b', shape: x }],
      dawnetSetup: ([c]) => [dn.greater(c, 0)],
      tfjsSetup: (tf, [c]) => [tf.greater(c, 0)],
      dawnet: ([, a, b, mask]) => dn.where(mask, a, b),
      tfjs: (tf, [, a, b, mask]) => tf.where(mask, a, b),
    },
    {
      id: 'maximum/unet-l1',
      group: 'library',
      shape: `${dims(x)} x2`,
      metric: 'bytes',
      work: f32Bytes(n, n, n),
      inputs: [{ name: 'a', shape: x }, { name: 'b', shape: x }],
      dawnet: ([a, b]) => dn.maximum(a, b),
      tfjs: (tf, [a, b]) => tf.maximum(a, b),
    },
    {
      // An embedding table's lookup: 4096 ids into 32768 rows of 256 (8 MiB of 32 MiB read at scale 1).
      id: 'gather-rows/embedding',
      group: 'library',
      shape: `${dims(table)} [${ids}]`,
      metric: 'bytes',
      work: f32Bytes(ids, ids * 256, ids * 256),
      inputs: [{ name: 'table', shape: table }, { name: 'u', shape: [ids] }],
      dawnetSetup: ([, u]) => [dn.floor(dn.scale(dn.addScalar(u, 1), table[0] / 2))],
      tfjsSetup: (tf, [, u]) => [tf.cast(tf.floor(tf.mul(tf.add(u, 1), table[0] / 2)), 'int32')],
      dawnet: ([t, , id]) => dn.gather(t, id, 0),
      tfjs: (tf, [t, , id]) => tf.gather(t, id, 0),
    },
    {
      // Its gradient: each of the table's rows summed over the ids that picked it, by
      // dn.unsortedSegmentSum (gather's gradient run forward) against tf.unsortedSegmentSum (gather's
      // gradient in tfjs), both ways of dawnet's timed beside each other.
      id: 'gather-rows.backward/embedding',
      group: 'library',
      shape: `[${ids},256] -> ${dims(table)}`,
      metric: 'bytes',
      work: f32Bytes(ids, ids * 256, count(table)),
      inputs: [{ name: 'dy', shape: [ids, 256] }, { name: 'u', shape: [ids] }],
      dawnetSetup: ([, u]) => [dn.floor(dn.scale(dn.addScalar(u, 1), table[0] / 2))],
      tfjsSetup: (tf, [, u]) => [tf.cast(tf.floor(tf.mul(tf.add(u, 1), table[0] / 2)), 'int32')],
      dawnet: ([dy, , id]) => dn.unsortedSegmentSum(dy, id, table[0]),
      tfjs: (tf, [dy, , id]) => tf.unsortedSegmentSum(dy, id as TF.Tensor1D, table[0]),
      ...ways(['scan', 'sorted'], () => backwardWay(layout, ids), withBackwardWay),
    },
    {
      // One pass of a summed-area table (an integral image, for box filters): running sums along W.
      id: 'cumsum-w/unet-l1',
      group: 'library',
      shape: `${dims(x)} axis 2`,
      metric: 'bytes',
      work: f32Bytes(n, n),
      inputs: [{ name: 'x', shape: x }],
      dawnet: ([a]) => dn.cumsum(a, 2),
      tfjs: (tf, [a]) => tf.cumsum(a, 2),
    },
    {
      // One long vector (a histogram's running total): the blocked passes.
      id: 'cumsum/vector',
      group: 'library',
      shape: `[${vector}]`,
      metric: 'bytes',
      work: f32Bytes(vector, vector),
      inputs: [{ name: 'x', shape: [vector] }],
      dawnet: ([a]) => dn.cumsum(a),
      tfjs: (tf, [a]) => tf.cumsum(a),
      // A float32 running sum of 2^17 values in [-1, 1): the two engines add in different orders.
      tolerance: 1e-4,
    },
    {
      // VGG16's top-5 over ImageNet's 1000 classes, a batch of 32 at scale 1.
      id: 'topk-5/vgg-classes',
      group: 'library',
      shape: `[${topRows},1000] k 5`,
      metric: 'bytes',
      work: f32Bytes(topRows * 1000, topRows * 5, topRows * 5),
      inputs: [{ name: 'x', shape: [topRows, 1000] }],
      dawnet: ([a]) => {
        const { values, indices } = dn.topk(a, 5);
        return [values, indices];
      },
      tfjs: (tf, [a]) => {
        const { values, indices } = tf.topk(a, 5);
        return [values, indices];
      },
      outputs: [{ name: 'values' }, { name: 'indices' }],
      ...ways(['passes', 'sort'], () => topkWay(1000, 5), withTopkWay),
    },
    // Sorts, largest first: each image's 1000 scores, and one long vector (the merge passes at
    // their longest). tfjs sorts by tf.topk with k the whole axis.
    ...([['sort/vgg-classes', [topRows, 1000]], ['sort/vector', [vector]]] as const).map(([id, shape]): BenchCase => ({
      id,
      group: 'library',
      shape: `${dims([...shape])} descending`,
      metric: 'bytes',
      work: f32Bytes(count([...shape]), count([...shape]), count([...shape])),
      inputs: [{ name: 'x', shape: [...shape] }],
      dawnet: ([a]) => {
        const { values, indices } = dn.sort(a, -1, { descending: true });
        return [values, indices];
      },
      tfjs: (tf, [a]) => {
        const { values, indices } = tf.topk(a, shape[shape.length - 1]);
        return [values, indices];
      },
      outputs: [{ name: 'values' }, { name: 'indices' }],
    })),
    ...(['uniform', 'slices'] as const).map(
      (data): BenchCase => ({
        // The intensity histogram of a batch of MRI slices (the U-Net's input, 256 bins over
        // [-1, 1]): values spread evenly ('unet-input'), and slices whose background, half of
        // the pixels, all falls in the first bin ('unet-slices'), which serialises the atomic
        // adds into that bin. tfjs has no histogram op; its way is tf.unsortedSegmentSum of ones
        // by bin.
        id: `histogram-256/unet-${data === 'slices' ? 'slices' : 'input'}`,
        group: 'library',
        shape: `${dims(image)} 256 bins`,
        metric: 'bytes',
        work: f32Bytes(count(image), 256),
        inputs: [{ name: 'x', shape: image, data }],
        dawnet: ([a]) => dn.histogram(a, { bins: 256, min: -1, max: 1 }),
        tfjs: (tf, [a]) =>
          tf.tidy(() => {
            const flat = tf.reshape(a, [-1]);
            const bins = tf.cast(tf.minimum(tf.floor(tf.div(tf.mul(tf.sub(flat, -1), 256), 2)), 255), 'int32');
            return tf.unsortedSegmentSum(tf.onesLike(flat), bins as TF.Tensor1D, 256);
          }),
        ...ways(['local', 'direct'], () => histogramWay(256), withHistogramWay),
      }),
    ),
    {
      id: 'layerNorm/rows-768',
      group: 'library',
      shape: dims(rows),
      metric: 'bytes',
      work: f32Bytes(count(rows), count(rows), 768, 768),
      inputs: [{ name: 'x', shape: rows }, { name: 'gamma', shape: [768], data: 'positive' }, { name: 'beta', shape: [768] }],
      dawnet: ([a, g, b]) => dn.layerNorm(a, g, b),
      tfjs: (tf, [a, g, b]) =>
        tf.tidy(() => {
          const { mean, variance } = tf.moments(a, -1, true);
          return tf.add(tf.mul(tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
        }),
    },
  ];
  return out;
}

export const libraryFamily = family('library', () => import('../../src/index.js'), cases);
