// Element-wise cases on the U-Net's largest activation ([16, 256, 256, 32] at scale 1): memory
// bound, so the metric is bytes moved (every operand read once, the result written once). A
// one-element relu first measures the fixed cost of an op.

import { binaryForward, unaryForward } from '../../src/kernels/elementwise.js';
import { count, dims, f32Bytes, scaled, family, type BenchCase, type CaseFamily } from '../case.js';

type Kernels = { unaryForward: typeof unaryForward; binaryForward: typeof binaryForward };

function cases(k: Kernels, scale: number): BenchCase[] {
  const s = scaled(256, scale);
  const x = [scaled(16, scale), s, s, 32];
  const n = count(x);
  return [
    {
      // One element: the time is what every op pays to be encoded, submitted and run.
      id: 'launch/relu-1',
      group: 'elementwise',
      shape: '1',
      metric: 'bytes',
      work: f32Bytes(1, 1),
      inputs: [{ name: 'x', shape: [1] }],
      dawnet: ([a]) => k.unaryForward('relu', a),
      tfjs: (tf, [a]) => tf.relu(a),
      // On GPU timestamps dawnet's sample is one pass holding all its `inner` dispatches, tfjs's a
      // pass per kernel (tf.time; bench/timing.ts): for a kernel this small the pass is most of the
      // span, so the GPU ratio favours dawnet by construction (2.97x on GPU time against 0.78x on
      // wall clock on lavapipe). The wall clock times both sides' dispatches as they really run.
      ratioOnWall: "on GPU time dawnet's dispatches share a pass while tfjs's each get one",
    },
    {
      id: 'relu/unet-l1',
      group: 'elementwise',
      shape: dims(x),
      metric: 'bytes',
      work: f32Bytes(n, n),
      inputs: [{ name: 'x', shape: x }],
      dawnet: ([a]) => k.unaryForward('relu', a),
      tfjs: (tf, [a]) => tf.relu(a),
    },
    {
      id: 'add/unet-l1',
      group: 'elementwise',
      shape: `${dims(x)} + ${dims(x)}`,
      metric: 'bytes',
      work: f32Bytes(n, n, n),
      inputs: [{ name: 'a', shape: x }, { name: 'b', shape: x }],
      dawnet: ([a, b]) => k.binaryForward('add', a, b),
      tfjs: (tf, [a, b]) => tf.add(a, b),
    },
    {
      id: 'add-bias/unet-l1',
      group: 'elementwise',
      shape: `${dims(x)} + [32]`,
      metric: 'bytes',
      work: f32Bytes(n, n),
      inputs: [{ name: 'x', shape: x }, { name: 'bias', shape: [32] }],
      dawnet: ([a, b]) => k.binaryForward('add', a, b),
      tfjs: (tf, [a, b]) => tf.add(a, b),
    },
  ];
}

export const elementwiseFamily: CaseFamily = family('elementwise', async () => ({ unaryForward, binaryForward }), cases);
