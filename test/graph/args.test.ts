// What a plain-JavaScript caller gets for the slips TypeScript would have caught: an ArgumentError
// (a ShapeError) whose message starts with the op or layer and the argument at fault, thrown
// before anything is allocated. And the friendlier forms the API takes: nested arrays for
// dn.tensor, a single axis for sum and mean.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { describeValue } from '../../src/graph/args.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

type Call = (t: { x: dn.Tensor; w: dn.Tensor; v: dn.Tensor }) => unknown;

// [what the caller wrote, the call, the message's start: op and argument]
const SLIPS: [string, Call, string][] = [
  ['conv2d with options where the bias goes', ({ x, w }) => dn.conv2d(x, w, { padding: 'same' } as never), 'conv2d: bias b'],
  ['conv2d with an array as input', ({ w }) => dn.conv2d([1, 2] as never, w), 'conv2d: input x'],
  ['conv2d without a weight', ({ x }) => dn.conv2d(x, undefined as never), 'conv2d: weight w'],
  ['conv2d with options a number', ({ x, w }) => dn.conv2d(x, w, null, 1 as never), 'conv2d: options'],
  ['convTranspose2d with options where the bias goes', ({ x, w }) => dn.convTranspose2d(x, w, { stride: 2 } as never), 'convTranspose2d: bias b'],
  ['conv2dBackwardInput with a tensor for the shape', ({ x, w }) => dn.conv2dBackwardInput(x, w, x as never), 'conv2d.backwardInput: xShape'],
  ['maxPool2d with a number for options', ({ x }) => dn.maxPool2d(x, 2 as never), 'maxPool2d: options'],
  ['maxPool2d without options', ({ x }) => dn.maxPool2d(x, undefined as never), 'maxPool2d: options'],
  ['avgPool2d with a string size', ({ x }) => dn.avgPool2d(x, { size: '2' as never }), 'avgPool2d: size'],
  ['globalAvgPool2d on an array', () => dn.globalAvgPool2d([] as never), 'globalAvgPool2d: input x'],
  ['upsample2d with a number for options', ({ x }) => dn.upsample2d(x, 2 as never), 'upsample2d: options'],
  ['add with an array', ({ x }) => dn.add(x, [1, 2] as never), 'add: b'],
  ['mul by a string', ({ x }) => dn.mul(x, '2' as never), 'mul: b'],
  ['sub of a string from a number', () => dn.sub(1, 'x' as never), 'sub: b'],
  ['sub with two numbers', () => dn.sub(1 as never, 2 as never), 'sub: '],
  ['relu of undefined', () => dn.relu(undefined as never), 'relu: x'],
  ['scale by a string', ({ x }) => dn.scale(x, 'a' as never), 'scale: factor'],
  ['leakyRelu with a string slope', ({ x }) => dn.leakyRelu(x, '0.1' as never), 'leakyRelu: slope'],
  ['matmul of a Float32Array', ({ v }) => dn.matmul(new Float32Array(4) as never, v), 'matmul: a'],
  ['linear with options where the bias goes', ({ v }) => dn.linear(v, v, {} as never), 'linear: bias b'],
  ['sum over a string axis', ({ x }) => dn.sum(x, 'a' as never), 'sum: axes'],
  ['reshape to a number', ({ x }) => dn.reshape(x, 192 as never), 'reshape: shape'],
  ['concat of two tensors, not an array', ({ x }) => dn.concat(x as never, x as never), 'concat: tensors'],
  ['concat with an array holding a number', ({ x }) => dn.concat([x, 3 as never], -1), 'concat: tensors[1]'],
  ['split with a number for sizes', ({ x }) => dn.split(x, 2 as never, -1), 'split: sizes'],
  ['batchNorm2d without parameters', ({ x }) => dn.batchNorm2d(x, undefined as never, undefined as never, null, null, { training: true }), 'batchNorm2d: gamma'],
  ['dropout with a number for options', ({ x }) => dn.dropout(x, 0.5 as never), 'dropout: options'],
  ['diceLoss of an array', ({ x }) => dn.diceLoss([0] as never, x), 'diceLoss: prediction'],
  ['bceLoss with a string for options', ({ x }) => dn.bceLoss(x, x, 'mean' as never), 'bceLoss: options'],
  ['imagenetPreprocess in an unknown mode', ({ x }) => dn.imagenetPreprocess(x, 'tf' as never), 'imagenetPreprocess: mode'],
  ['augment.flip with a number for options', ({ x }) => dn.augment.flip(x, 1 as never), 'flip: options'],
  ['augment.flip of an array', () => dn.augment.flip([1] as never), 'flip: image x'],
  ['augment.elastic without options', ({ x }) => dn.augment.elastic(x, undefined as never), 'elastic: options'],
  ['augment.affinePair without a mask', ({ x }) => dn.augment.affinePair(x, undefined as never), 'affinePair: mask'],
  ['augment.batch with a string for the masks', ({ x }) => dn.augment.batch(x, 'hflip' as never, 'hflip', 1), 'augmentBatch: mask'],
  ['tensor from a string', () => dn.tensor('abc' as never, [3]), 'tensor: data'],
  ['tensor holding a string', () => dn.tensor([1, '2', 3] as never), 'tensor: data[1]'],
  ['tensor with a number for the shape', () => dn.tensor([1, 2], 2 as never), 'tensor: shape'],
  ['zeros with a number for the shape', () => dn.zeros(3 as never), 'zeros: shape'],
  ['full with a string value', () => dn.full([2], '1' as never), 'full: value'],
  ['Adam given a tensor, not an array', ({ x }) => new dn.optim.Adam(x as never), 'Adam: params'],
  ['Adam given an array holding a number', ({ x }) => new dn.optim.Adam([x, 1] as never), 'Adam: params[1]'],
  ['SGD given one tensor twice', ({ x, w }) => new dn.optim.SGD([x, w, x]), 'SGD: params[2] is params[0] again (tensor#'],
  ['Adam given one named parameter twice', ({ x }) => new dn.optim.Adam([{ name: 'fc.weight', tensor: x }, { name: 'head.weight', tensor: x }]), "Adam: params[1] is params[0] again ('head.weight' and 'fc.weight'); list each parameter once"],
  ['Adam with a string learning rate', ({ x }) => new dn.optim.Adam([x], { lr: '1e-3' as never }), 'Adam: lr'],
  ['Adam with beta2 of 1', ({ x }) => new dn.optim.Adam([x], { beta2: 1 }), 'Adam: beta2'],
  ['AdamW with a negative weight decay', ({ x }) => new dn.optim.AdamW([x], { weightDecay: -1 }), 'AdamW: weightDecay'],
  ['SGD with a negative learning rate', ({ x }) => new dn.optim.SGD([x], { lr: -0.1 }), 'SGD: lr'],
  ["Adam with Keras's learningRate", ({ x }) => new dn.optim.Adam([x], { learningRate: 0.1 } as never), "Adam: unknown option 'learningRate' (did you mean lr?)"],
  ['SGD with nesterov but no momentum', ({ x }) => new dn.optim.SGD([x], { nesterov: true }), 'SGD: nesterov'],
  ['EarlyStopping with the monitor where the options go', () => new dn.train.EarlyStopping('val_dice' as never), 'EarlyStopping: options'],
  ["EarlyStopping with Keras's restore_best_weights", () => new dn.train.EarlyStopping({ restore_best_weights: true } as never), "EarlyStopping: unknown option 'restore_best_weights'"],
  ['ModelCheckpoint without a path', () => new (dn.train.ModelCheckpoint as never as new () => unknown)(), 'ModelCheckpoint: path'],
  ['ReduceLROnPlateau with factor 1', () => new dn.train.ReduceLROnPlateau({ factor: 1 }), 'ReduceLROnPlateau: factor'],
  ['rocAuc of 3 scores and 2 labels', () => dn.train.rocAuc([0.1, 0.9, 0.5], [0, 1]), 'rocAuc: scores'],
  ['segmentationReport with sliceSize 0', () => dn.train.segmentationReport([1], [1], 0), 'segmentationReport: sliceSize'],
  ['nn.Conv2d with a string channel count', () => new dn.nn.Conv2d('3' as never, 4), 'Conv2d: inChannels'],
  ['nn.Conv2d with a fractional kernel size', () => new dn.nn.Conv2d(3, 4, { kernelSize: 2.5 }), 'Conv2d: kernelSize'],
  ["nn.Conv2d with PyTorch's kernel_size", () => new dn.nn.Conv2d(1, 1, { kernel_size: 5 } as never), "Conv2d: unknown option 'kernel_size'"],
  ['nn.Linear with an unknown initialiser', () => new dn.nn.Linear(2, 2, { init: 'he_normal' as never }), 'Linear: init'],
  ['nn.ConvTranspose2d with 0 output channels', () => new dn.nn.ConvTranspose2d(3, 0), 'ConvTranspose2d: outChannels'],
  ['nn.BatchNorm2d with momentum 2', () => new dn.nn.BatchNorm2d(4, { momentum: 2 }), 'BatchNorm2d: momentum'],
  ['nn.Linear with no sizes', () => new (dn.nn.Linear as never as new () => unknown)(), 'Linear: inFeatures'],
  ['nn.Dropout with rate 1', () => new dn.nn.Dropout(1), 'Dropout: rate'],
  ['nn.Upsample in an unknown mode', () => new dn.nn.Upsample(2, 'cubic' as never), 'Upsample: mode'],
  ['nn.Sequential holding a function', () => new dn.nn.Sequential(dn.relu as never), 'Sequential: layer 0'],
  ['scope of a tensor', ({ x }) => dn.scope(x as never), 'scope: fn'],
  ['noGrad of undefined', () => dn.noGrad(undefined as never), 'noGrad: fn'],
  ['setConvAlgorithm to an unknown algorithm', () => dn.setConvAlgorithm('fast' as never), 'setConvAlgorithm: algorithm'],
  ['unet with 0 features', () => dn.models.unet({ features: 0 }), 'UNet: features'],
  ['unet asked for logits and softmax at once', () => dn.models.unet({ sigmoid: false, output: 'softmax' }), 'UNet: sigmoid'],
  ['unet asked for no batch norm and instance norm at once', () => dn.models.unet({ batchNorm: false, norm: 'instance' }), 'UNet: batchNorm'],
  ['unet with group norm that does not split its width', () => dn.models.unet({ features: 12, norm: 'group', normGroups: 8 }), 'UNet: 12 features'],
  ['nn.GroupNorm with channels not split by groups', () => new dn.nn.GroupNorm(3, 8), 'GroupNorm: 8 channels'],
  ['unet with an unknown output', () => dn.models.unet({ output: 'tanh' as never }), 'UNet: output'],
  ['unet of depth 12', () => dn.models.unet({ depth: 12 }), 'UNet: depth'],
  ["unet with Buda's argument names", () => dn.models.unet({ in_channels: 3, out_channels: 2, init_features: 4 } as never), "UNet: unknown options 'in_channels', 'out_channels', 'init_features'"],
  ['vgg16 with an unknown preprocessing', () => dn.models.vgg16({ preprocess: 'tf' as never }), 'VGG16: preprocess'],
  ['vggClassifier on 16 px inputs', () => dn.models.vggClassifier({ inputSize: 16 }), 'VggClassifier: inputSize'],
  ['vggClassifier asked for 3 classes', () => dn.models.vggClassifier({ classes: 3 } as never), "VggClassifier: unknown option 'classes'"],
  ["vggClassifier with Keras's input_size", () => dn.models.vggClassifier({ input_size: 32 } as never), "VggClassifier: unknown option 'input_size'"],
];

describe('argument checks for plain-JavaScript callers', () => {
  for (const [what, call, start] of SLIPS) {
    it(`${what}: ArgumentError naming ${start.replace(/: $/, '')}, nothing allocated`, () => {
      const t = { x: dn.zeros([1, 8, 8, 4]), w: dn.zeros([3, 3, 4, 4]), v: dn.zeros([2, 2]) };
      const before = dn.memory().bytesInUse;
      let error: unknown;
      try {
        call(t);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(dn.ArgumentError);
      expect(error).toBeInstanceOf(dn.ShapeError);
      expect((error as Error).message.startsWith(start), (error as Error).message).toBe(true);
      expect(dn.memory().bytesInUse).toBe(before);
      for (const u of Object.values(t)) u.dispose();
    });
  }

  it('fit: each slip rejects before the first batch, naming fit and the argument', async () => {
    // A parameter to give the optimiser: one over an empty list is refused (it would train nothing).
    const model = new dn.nn.Sequential(new dn.nn.Linear(2, 1), new dn.nn.ReLU());
    const optimizer = new dn.optim.SGD(model.parameters());
    let batches = 0;
    const train = { batches: () => { batches++; return []; } };
    const good = { epochs: 1, optimizer, loss: dn.diceLoss };
    const slips: [unknown[], string][] = [
      [[{}, train, null, good], 'fit: model'],
      [[model, [], null, good], 'fit: train'],
      [[model, train, 'val', good], 'fit: val'],
      [[model, train, null, { ...good, epochs: '3' }], 'fit: epochs'],
      [[model, train, null, { ...good, optimizer: 'adam' }], 'fit: optimizer'],
      [[model, train, null, { ...good, loss: 'dice' }], 'fit: loss'],
    ];
    for (const [args, start] of slips) {
      const error = await (dn.train.fit as (...a: unknown[]) => Promise<unknown>)(...args).catch((e: unknown) => e);
      expect(error, start).toBeInstanceOf(dn.ArgumentError);
      expect((error as Error).message.startsWith(start), (error as Error).message).toBe(true);
    }
    expect(batches).toBe(0);
    await dn.train.fit(model, train, null, good);
    expect(batches).toBe(1);
    optimizer.dispose();
    model.dispose();
  });

  it('models and layers run on something not a tensor: ArgumentError naming them, nothing allocated', () => {
    const models: [dn.Module, string][] = [
      [dn.models.unet({ features: 2, depth: 1 }), 'UNet: input x'],
      [dn.models.vgg16({ widthScale: 1 / 32 }), 'VGG16: input x'],
      [new dn.nn.Linear(2, 2), 'Linear: input x'],
    ];
    for (const [model, start] of models) {
      const before = dn.memory().bytesInUse;
      expect(() => model.forward(new Float32Array(4) as never)).toThrow(dn.ArgumentError);
      expect(() => model.forward([1, 2] as never)).toThrow(new RegExp(`^${start}`));
      expect(dn.memory().bytesInUse).toBe(before);
      model.dispose();
    }
  });

  it('async entry points reject, naming the function and the argument, before touching a file', async () => {
    const model = new dn.nn.Sequential(new dn.nn.ReLU());
    const calls: [() => Promise<unknown>, string][] = [
      [() => dn.profile(5 as never), 'profile: fn'],
      [() => dn.tuneConvs('step' as never), 'tuneConvs: fn'],
      [() => dn.train.saveCheckpoint(undefined as never, model, null, {}), 'saveCheckpoint: path'],
      [() => dn.train.loadCheckpoint('x.safetensors', {} as never), 'loadCheckpoint: model'],
      [() => dn.io.loadWeights(model, 5 as never), 'loadWeights: source'],
    ];
    for (const [call, start] of calls) {
      const error = await call().catch((e: unknown) => e);
      expect(error, start).toBeInstanceOf(dn.ArgumentError);
      expect((error as Error).message.startsWith(start), (error as Error).message).toBe(true);
    }
  });

  it('a disposed tensor gives a DisposedError naming the op and the argument', () => {
    const x = dn.zeros([1, 4, 4, 2]);
    const w = dn.zeros([3, 3, 2, 2]);
    w.dispose();
    expect(() => dn.conv2d(x, w)).toThrow(dn.DisposedError);
    expect(() => dn.conv2d(x, w)).toThrow(/^conv2d: weight w/);
    x.dispose();
  });

  it('describeValue says what a value is', () => {
    const t = dn.zeros([2]);
    expect([2, 'ab', undefined, null, [1, 2, 3], new Float32Array(2), { a: 1, b: 2 }, {}, () => 0, new Map(), t].map(describeValue)).toEqual([
      'the number 2', "the string 'ab'", 'undefined', 'null', 'an array of 3', 'a Float32Array', 'an object with a, b', 'an empty object', 'a function', 'a Map', t.describe(),
    ]);
    t.dispose();
  });
});

describe('forms the API takes beyond the typed ones', () => {
  it('dn.tensor takes nested arrays, their nesting giving the shape', async () => {
    const t = dn.tensor([[[1, 2], [3, 4], [5, 6]]]);
    expect(t.shape).toEqual([1, 3, 2]);
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    const reshaped = dn.tensor([[1, 2], [3, 4]], [4]);
    expect(reshaped.shape).toEqual([4]);
    const ints = dn.tensor(new Int32Array([7, -8]));
    expect(Array.from(await ints.toArray())).toEqual([7, -8]);
    for (const u of [t, reshaped, ints]) u.dispose();
  });

  it('toNested reads the values back as nested arrays in the shape, what dn.tensor takes', async () => {
    const nested = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]];
    const t = dn.tensor(nested);
    expect(await t.toNested()).toEqual(nested);
    const scalar = dn.tensor([7.5], []);
    expect(await scalar.toNested()).toBe(7.5);
    const empty = dn.zeros([2, 0]);
    expect(await empty.toNested()).toEqual([[], []]);
    for (const u of [t, scalar, empty]) u.dispose();
  });

  it('ragged nested arrays are a ShapeError naming the row at fault', () => {
    const before = dn.memory().bytesInUse;
    expect(() => dn.tensor([[1, 2], [3]])).toThrow(/^tensor: .*\[1\]/);
    expect(() => dn.tensor([[1, 2], 3] as never)).toThrow(dn.ShapeError);
    expect(() => dn.tensor([[1, 2], [3, 4]], [3])).toThrow(dn.ShapeError);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('sum and mean take a single axis as well as a list', async () => {
    const x = dn.tensor([[1, 2, 3], [4, 5, 6]]);
    const [one, list, mean] = [dn.sum(x, 1), dn.sum(x, [1]), dn.mean(x, -2)];
    expect(Array.from(await one.toArray())).toEqual([6, 15]);
    expect(Array.from(await list.toArray())).toEqual([6, 15]);
    expect(Array.from(await mean.toArray())).toEqual([2.5, 3.5, 4.5]);
    for (const u of [x, one, list, mean]) u.dispose();
  });
});

// PyTorch's NCHW where NHWC goes: the channel mismatch says how to convert, and only where axis 1
// holds the channels expected (a plain channel mismatch keeps its plain message).
const NCHW: [string, () => unknown][] = [
  ['Conv2d', () => new dn.nn.Conv2d(3, 4).forward(dn.zeros([1, 3, 8, 8]))],
  ['conv2d dilated', () => dn.conv2d(dn.zeros([1, 3, 8, 8]), dn.zeros([3, 3, 3, 4]), null, { dilation: 2 })],
  ['ConvTranspose2d', () => new dn.nn.ConvTranspose2d(3, 4).forward(dn.zeros([1, 3, 8, 8]))],
  ['DepthwiseConv2d', () => new dn.nn.DepthwiseConv2d(3).forward(dn.zeros([1, 3, 8, 8]))],
  ['BatchNorm2d', () => new dn.nn.BatchNorm2d(3).forward(dn.zeros([2, 3, 8, 8]))],
  ['GroupNorm', () => new dn.nn.GroupNorm(1, 3).forward(dn.zeros([2, 3, 8, 8]))],
  ['UNet', () => dn.models.unet({ features: 2, depth: 1 }).forward(dn.zeros([1, 3, 8, 8]))],
];

describe('NCHW input to a channels-last layer', () => {
  for (const [what, call] of NCHW) {
    it(`${what}: a ShapeError saying how to make NHWC`, () => {
      const error = (() => {
        try {
          dn.scope(call);
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(dn.ShapeError);
      expect(error!.message).toContain('dn.transpose(x, [0, 2, 3, 1])');
    });
  }

  it('an NHWC input with the wrong channels gets no NCHW hint', () => {
    expect(() => dn.scope(() => new dn.nn.Conv2d(3, 4).forward(dn.zeros([1, 8, 8, 5])))).toThrow(/^Conv2d 3→4, 3x3: conv2d: input has 5 channels but the weight expects 3 \(input \[1,8,8,5\], weight \[3,3,3,4\]\)$/);
  });
});
