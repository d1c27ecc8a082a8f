// The weight and bias of the convolution layers outside layers.ts (Conv1d, Conv3d,
// ConvTranspose3d): their bias, init and seed options checked naming the layer, the weight drawn
// by the initialiser (Glorot uniform by default, fans from its shape), the bias zeros (none with
// bias: false); the layer registers them as 'weight' and 'bias'.

import { expectChoice, expectOptionalBoolean, expectOptionalNumber } from '../graph/args.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { INIT_NAMES, initValues, nextSeed, type InitName } from './init.js';

export interface ConvParamOptions {
  bias?: boolean;
  init?: InitName;
  seed?: number;
}

export function convParams(layer: string, shape: number[], outChannels: number, opts: ConvParamOptions): { weight: Tensor; bias: Tensor | null } {
  expectOptionalBoolean(layer, 'bias', opts.bias);
  expectChoice(layer, 'init', opts.init, INIT_NAMES);
  expectOptionalNumber(layer, 'seed', opts.seed);
  const weight = tensor(initValues(opts.init ?? 'glorotUniform', shape, opts.seed ?? nextSeed()), shape, { requiresGrad: true });
  const bias = opts.bias === false ? null : tensor(new Float32Array(outChannels), [outChannels], { requiresGrad: true });
  return { weight, bias };
}
