// Arguments a layer would otherwise drop or take on trust, refused when it is built, naming it:
// PyTorch's nn.Softmax(1) (dawnet's runs over the last axis), nn.ReLU(True), nn.Flatten(2),
// Keras's keepdims; a Dropout seed that is not a number (every mask drew seed 0); a conv padding
// or a dilated stride that only the first forward refused, naming the op rather than the layer.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const nn = dn.nn;
/** A layer built with arguments its TypeScript signature refuses, as plain JavaScript passes them. */
const build = (Layer: unknown, ...args: unknown[]) => new (Layer as new (...a: unknown[]) => unknown)(...args);
// [the call, a part of its message]
const REFUSED = [
  [() => build(nn.Softmax, 1), 'Softmax: takes no arguments, got the number 1'],
  [() => build(nn.ReLU, true), 'ReLU: takes no arguments'],
  [() => build(nn.SiLU, { inplace: true }), 'SiLU: takes no arguments'],
  [() => build(nn.Sigmoid, 1), 'Sigmoid: takes no arguments'],
  [() => build(nn.Tanh, 1), 'Tanh: takes no arguments'],
  [() => build(nn.Flatten, 2), 'Flatten: takes no arguments, got the number 2'],
  [() => build(nn.GlobalAvgPool2d, { keepdims: true }), 'GlobalAvgPool2d: takes no arguments'],
  [() => new nn.Dropout(0.5, 'x' as never), 'Dropout: seed must be an integer'],
  [() => new nn.Dropout(0.5, { seed: 3 } as never), 'Dropout: takes (rate, seed?), not options'],
  [() => new nn.Conv2d(3, 8, { padding: 'full' as never }), "Conv2d: padding must be 'same', 'valid'"],
  [() => new nn.Conv2d(3, 8, { padding: -1 }), 'Conv2d: padding must be'],
  [() => new nn.Conv2d(3, 8, { padding: [1, 2] as never }), "a pair is PyTorch's (rows, columns): [1, 1, 2, 2] here"],
  [() => new nn.DepthwiseConv2d(3, 1, { padding: 'causal' as never }), 'DepthwiseConv2d: padding must be'],
  [() => new nn.ConvTranspose2d(3, 8, { padding: 'full' as never }), 'ConvTranspose2d: padding must be'],
  [() => new nn.Conv2d(3, 8, { dilation: 2, stride: 2 }), 'Conv2d: a dilated conv takes stride 1'],
] as const;

describe('layer constructor arguments', () => {
  it.each(REFUSED.map(([make, message], i) => [i, make, message] as const))('case %i is refused, naming the layer', (_i, make, message) => {
    expect(make).toThrow(dn.ArgumentError);
    expect(make).toThrow(message);
  });

  it("takes what the layer does anyway: Softmax(-1), Flatten(1), undefined, an integer Dropout seed, explicit paddings", () => {
    expect(new nn.Softmax(-1)).toBeInstanceOf(nn.Softmax);
    expect(new nn.Flatten(1)).toBeInstanceOf(nn.Flatten);
    expect(new nn.ReLU(...([] as []))).toBeInstanceOf(nn.ReLU);
    expect(new nn.Dropout(0.5, 7)).toBeInstanceOf(nn.Dropout);
    const paddings: dn.nn.ConvLayerOptions['padding'][] = ['same', 'valid', 0, 2, [0, 1, 1, 0]];
    for (const padding of paddings) new nn.Conv2d(2, 2, { padding }).dispose();
    new nn.Conv2d(2, 2, { dilation: 2 }).dispose();
  });
});
