// VGG16's convolutional base forward (no top), in images per second: dawnet's
// dn.models.vgg16({ includeTop: false }) under noGrad, and the same 13 convs written with tfjs's
// tf.conv2d + bias + tf.relu and 2x2 tf.maxPool. Neither side fuses the bias and the relu into the
// conv. Batch 32 at 256x256, divided by --scale (the side kept a multiple of 32 for five poolings).

import type * as TF from '@tensorflow/tfjs-core';
import * as dn from '../../src/index.js';
import { dims, hostData, scaled } from '../case.js';
import type { DawnetSide, E2eCase, E2eSide, NamedWeight } from '../e2e.js';
import { vgg16Graph } from '../memory.js';
import type { TfjsPeer } from '../peer-tfjs.js';
import { readWeights, twoBatches } from './unet-train.js';

const BLOCKS = [2, 2, 3, 3, 3];

export function vggImageSize(scale: number): number {
  return Math.max(32, Math.round(256 / scale / 32) * 32);
}

function dawnetSide(x: Float32Array, shape: number[], seed: number): DawnetSide {
  dn.setInitSeed(seed);
  const model = dn.models.vgg16({ includeTop: false });
  model.eval();
  const input = dn.tensor(x, shape);
  // The last step's output, kept for the check; disposed before the next forward, so one step's
  // peak memory does not hold two outputs.
  let y: dn.Tensor | null = null;
  return {
    step: () => {
      y?.dispose();
      y = dn.noGrad(() => model.forward(input));
    },
    last: async () => (y ? y.toArray() : new Float32Array(0)),
    weights: () => readWeights(model),
    dispose: () => {
      y?.dispose();
      input.dispose();
      model.dispose();
    },
  };
}

function tfjsSide(peer: TfjsPeer, weights: Map<string, NamedWeight>, x: Float32Array, shape: number[]): E2eSide {
  const { tf } = peer;
  const held: TF.Tensor[] = [];
  const w = (name: string) => {
    const found = weights.get(name);
    if (!found) throw new Error(`bench: the tfjs VGG16 needs weight '${name}', which dawnet's model does not have`);
    const t = tf.tensor(found.data, found.shape, 'float32');
    held.push(t);
    return t;
  };
  const layers = BLOCKS.map((convs, b) =>
    Array.from({ length: convs }, (_, c) => {
      const name = `features.block${b + 1}_conv${c + 1}`;
      return { filter: w(`${name}.weight`) as TF.Tensor4D, bias: w(`${name}.bias`) };
    }),
  );
  const input = tf.tensor4d(x, shape as [number, number, number, number]);
  held.push(input);
  let y: TF.Tensor | null = null;
  const forward = () =>
    tf.tidy(() => {
      let h = input;
      for (const block of layers) {
        for (const { filter, bias } of block) h = tf.relu(tf.add(tf.conv2d(h, filter, 1, 'same'), bias));
        h = tf.maxPool(h, 2, 2, 'valid');
      }
      return h;
    });
  return {
    step: () => {
      y?.dispose();
      y = forward();
    },
    last: async () => (y ? ((await y.data()) as Float32Array) : new Float32Array(0)),
    dispose: () => tf.dispose([...held, ...(y ? [y] : [])]),
  };
}

export function vggForwardCases(scale: number): E2eCase[] {
  const size = vggImageSize(scale);
  return twoBatches(32, scale).map((batch, i) => {
    const shape = [batch, size, size, 3];
    let x: Float32Array | null = null;
    const get = () => (x ??= hostData({ name: 'x', shape }, 700 + i));
    return {
      id: `vgg16.forward/b${batch}`,
      group: 'e2e',
      shape: `${dims(shape)} no top`,
      batch,
      mode: 'inference',
      graph: vgg16Graph({ batch, size }),
      dawnet: () => dawnetSide(get(), shape, 11),
      tfjs: async (peer, weights) => tfjsSide(peer, weights, get(), shape),
      // A forward changes no state: one step, its output compared (13 convs of up to 9·512
      // products each, in float32).
      checkSteps: 1,
      tolerance: 1e-3,
    } satisfies E2eCase;
  });
}
