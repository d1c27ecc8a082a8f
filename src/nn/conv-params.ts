// What the convolution layers outside layers.ts (Conv1d, Conv3d, ConvTranspose3d) share: their
// constructor's channel counts and options checked naming the layer (checkConvLayer), and their
// weight and bias (convParams): the bias, init and seed options checked, the weight drawn
// by the initialiser (Glorot uniform by default, fans from its shape), the bias zeros (none with
// bias: false); the layer registers them as 'weight' and 'bias'.

import { expectChoice, expectNumber, expectOptionalBoolean, expectOptionalNumber } from '../graph/args.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { INIT_NAMES, initValues, nextSeed, type InitName } from './init.js';
import { expectLayerOptions } from './options.js';

export interface ConvParamOptions {
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

/**
 * The channel counts (positive integers), the options (only `known`; `example` shows their form)
 * and, of those given, the `wholes` (kernel size, stride, dilation) as positive integers.
 */
export function checkConvLayer(layer: string, inChannels: unknown, outChannels: unknown, opts: object, known: readonly string[], example: string, wholes: readonly string[]): void {
  const whole = (role: string, v: unknown) => expectNumber(layer, role, v, { integer: true, min: 1 });
  whole('inChannels', inChannels);
  whole('outChannels', outChannels);
  expectLayerOptions(layer, opts, known, example);
  for (const role of wholes) {
    const v = (opts as Record<string, unknown>)[role];
    if (v !== undefined) whole(role, v);
  }
}

export function convParams(layer: string, shape: number[], outChannels: number, opts: ConvParamOptions): { weight: Tensor; bias: Tensor | null } {
  expectOptionalBoolean(layer, 'bias', opts.bias);
  expectChoice(layer, 'init', opts.init, INIT_NAMES);
  expectOptionalNumber(layer, 'seed', opts.seed);
  const weight = tensor(initValues(opts.init ?? 'glorotUniform', shape, opts.seed ?? nextSeed()), shape, { requiresGrad: true });
  const bias = opts.bias === false ? null : tensor(new Float32Array(outChannels), [outChannels], { requiresGrad: true });
  return { weight, bias };
}
