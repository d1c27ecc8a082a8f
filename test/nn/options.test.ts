// Every layer and model constructor that takes an options object refuses a key it does not read:
// before, Conv2d's { kernel_size: 5 } built a 3x3 kernel and unet's { init_features: 4 } 32
// features, silently. The ArgumentError names the class and lists the options, with a hint for
// the snake_case names of Keras and PyTorch, and nothing is allocated.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { AttentionGate } from '../../src/models/attention-gate.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const CONV = 'kernelSize, stride, dilation, groups, padding, bias, init, seed';
const CONV_NO_GROUPS = 'kernelSize, stride, dilation, padding, bias, init, seed';
const UNET = 'features, depth, inChannels, outChannels, up, batchNorm, norm, normGroups, activation, sigmoid, output, attention, checkpoint';
const CLASSIFIER = 'inChannels, widthScale, preprocess, inputSize, hidden, dropout, freezeBase';

// [the call, its whole message]
const REFUSED: [() => unknown, string][] = [
  [() => new dn.nn.Conv2d(1, 1, { kernel_size: 5 } as never), `Conv2d: unknown option 'kernel_size'; the options are ${CONV} (kernel_size is kernelSize in dawnet)`],
  [() => new dn.nn.Conv2d(1, 1, { kernelSize: 5, filters: 4, use_bias: false } as never), `Conv2d: unknown options 'filters', 'use_bias'; the options are ${CONV} (use_bias is bias in dawnet)`],
  [() => new dn.nn.DepthwiseConv2d(2, 1, { groups: 2 } as never), `DepthwiseConv2d: unknown option 'groups'; the options are ${CONV_NO_GROUPS}`],
  [() => new dn.nn.ConvTranspose2d(2, 1, { groups: 2, output_padding: 1 } as never), `ConvTranspose2d: unknown options 'groups', 'output_padding'; the options are ${CONV_NO_GROUPS}`],
  [() => new dn.nn.BatchNorm2d(4, { epsilon: 1e-3 } as never), "BatchNorm2d: unknown option 'epsilon'; the options are momentum, eps"],
  [() => new dn.nn.GroupNorm(2, 4, { affine: false } as never), "GroupNorm: unknown option 'affine'; the options are eps"],
  [() => new dn.nn.InstanceNorm2d(4, { affine: false } as never), "InstanceNorm2d: unknown option 'affine'; the options are eps"],
  [() => new dn.nn.LayerNorm(4, { elementwise_affine: false } as never), "LayerNorm: unknown option 'elementwise_affine'; the options are eps"],
  [() => new dn.nn.Linear(2, 2, { units: 3 } as never), "Linear: unknown option 'units'; the options are bias, init, seed"],
  [() => new AttentionGate(4, 4, { F_int: 2 } as never), "AttentionGate: unknown option 'F_int'; the options are interChannels, norm, normGroups"],
  [
    () => dn.models.unet({ in_channels: 3, out_channels: 2, init_features: 4 } as never),
    `UNet: unknown options 'in_channels', 'out_channels', 'init_features'; the options are ${UNET} (in_channels is inChannels in dawnet; out_channels is outChannels in dawnet; init_features is features in dawnet)`,
  ],
  [() => dn.models.vgg16({ include_top: true } as never), "VGG16: unknown option 'include_top'; the options are includeTop, inChannels, widthScale, preprocess, classes (include_top is includeTop in dawnet)"],
  [
    () => dn.models.vggClassifier({ classes: 3 } as never),
    `VggClassifier: unknown option 'classes'; the options are ${CLASSIFIER} (the head has one sigmoid output, tumour or not; for more classes use vgg16({ includeTop: true, classes }))`,
  ],
  [() => dn.models.vggClassifier({ input_size: 32 } as never), `VggClassifier: unknown option 'input_size'; the options are ${CLASSIFIER} (input_size is inputSize in dawnet)`],
  [() => dn.models.vggClassifier({ includeTop: true } as never), `VggClassifier: unknown option 'includeTop'; the options are ${CLASSIFIER} (the base never has its top: the dense head replaces it)`],
];

// Values of known options that were taken without a look: [the call, the message's start].
const BAD_VALUES: [() => unknown, string][] = [
  [() => new dn.nn.Conv2d(1, 1, { init: 'he_normal' } as never), "Conv2d: init must be 'glorotUniform' or 'heNormal' or 'heUniform' or 'normal' or 'zeros' or 'ones', got the string 'he_normal'"],
  [() => new dn.nn.Linear(2, 2, { bias: 0 } as never), 'Linear: bias must be true or false, got the number 0'],
  [() => new dn.nn.Linear(2, 2, 5 as never), 'Linear: options must be an object'],
  [() => new dn.nn.GroupNorm(2, 4, 'eps' as never), 'GroupNorm: options must be an object'],
  [() => new dn.nn.InstanceNorm2d(0), 'InstanceNorm2d: channels must be an integer >= 1'],
  [() => dn.models.unet({ sigmoid: 'no' } as never), 'UNet: sigmoid must be true or false'],
  [() => dn.models.vgg16({ classes: 5 }), "VGG16: classes sizes the top's predictions, and there is no top without includeTop: true"],
  [() => dn.models.vggClassifier({ freezeBase: 'yes' } as never), 'VggClassifier: freezeBase must be true or false'],
];

/** The error `call` throws, checking that it allocated nothing on the way. */
function refusal(call: () => unknown): Error {
  const before = dn.memory().bytesInUse;
  let error: unknown = null;
  try {
    call();
  } catch (e) {
    error = e;
  }
  expect(dn.memory().bytesInUse).toBe(before);
  return error as Error;
}

describe('layer and model options', () => {
  it('an unknown option is an ArgumentError naming the class, listing the options, with a hint; nothing allocated', () => {
    for (const [call, message] of REFUSED) {
      const error = refusal(call);
      expect(error, message).toBeInstanceOf(dn.ArgumentError);
      expect(error.message).toBe(message);
    }
  });

  it('a known option with a value of the wrong kind is an ArgumentError too; nothing allocated', () => {
    for (const [call, start] of BAD_VALUES) {
      const error = refusal(call);
      expect(error, start).toBeInstanceOf(dn.ArgumentError);
      expect(error.message.startsWith(start), error.message).toBe(true);
    }
  });

  it("the dawnet names build what they say: a 5x5 kernel, Buda's arguments under their names, a 32 px classifier", () => {
    const conv = new dn.nn.Conv2d(1, 1, { kernelSize: 5, bias: false, init: 'heUniform', seed: 2 });
    expect(conv.weight.shape).toEqual([5, 5, 1, 1]);
    expect(conv.bias).toBeNull();
    const net = dn.models.unet({ inChannels: 3, outChannels: 2, features: 4 });
    expect(net.options.features).toBe(4);
    expect(net.namedParameters().at(-2)!.tensor.shape).toEqual([1, 1, 4, 2]);
    const classifier = dn.models.vggClassifier({ inputSize: 32, widthScale: 1 / 32, hidden: 8, preprocess: 'caffe', inChannels: 3 });
    expect(classifier.inputSize).toBe(32);
    expect(classifier.base.preprocess).toBe('caffe');
    // Keys whose value is undefined take the default (src/app passes its config's fields so).
    const defaults = new dn.nn.Linear(2, 2, { bias: undefined, init: undefined, seed: undefined });
    expect(defaults.bias).not.toBeNull();
    for (const m of [conv, net, classifier, defaults]) m.dispose();
  });
});
