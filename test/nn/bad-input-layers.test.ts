// The bad-input sweep, part 4: dn.nn's layer constructors, their forward, and Module's methods. A
// refused constructor must make no parameter (no buffer kept); a refused forward names the layer
// first (its class and configuration before the message of the op it runs: 'Conv2d 3→4, 3x3:
// conv2d: ...'), and the argument; the controls build each layer well formed and run it.

import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { badTensors, expectAllRefused, filled, useSweep, type BadRow } from '../helpers/bad-input.js';

const f = useSweep(() => ({ img: filled([2, 4, 4, 3]), rows: filled([2, 3]), nchw: filled([2, 3, 4, 4]) }));
const t = () => f.t;
const nn = dn.nn;
const { ArgumentError: Arg, ShapeError: Shp } = dn;
const build = (Layer: unknown, ...args: unknown[]) => () => new (Layer as new (...a: unknown[]) => dn.Module)(...args);

/** [layer, arguments, the name the message gives]: each built in plain JavaScript, each refused. */
const CONSTRUCTORS: [string, unknown[], string][] = [
  ...(['Conv2d', 'ConvTranspose2d', 'DepthwiseConv2d', 'Linear', 'GroupNorm'] as const).flatMap((layer): [string, unknown[], string][] => {
    const [first, second] = { Conv2d: ['inChannels', 'outChannels'], ConvTranspose2d: ['inChannels', 'outChannels'], DepthwiseConv2d: ['channels', 'multiplier'], Linear: ['inFeatures', 'outFeatures'], GroupNorm: ['groups', 'channels'] }[layer];
    return [
      ...[0, -1, 1.5, NaN, Infinity, '3', undefined, null].map((v): [string, unknown[], string] => [layer, [v, 3], first]),
      ...[0, 2.5, '8'].map((v): [string, unknown[], string] => [layer, [3, v], second]),
      [layer, [3, 3, { bogusOption: 1 }], 'bogusOption'],
      [layer, [3, 3, 'same'], 'options'],
    ];
  }),
  ...(['Conv2d', 'ConvTranspose2d', 'DepthwiseConv2d'] as const).flatMap((layer): [string, unknown[], string][] => [
    [layer, [3, 3, { kernelSize: 0 }], 'kernelSize'],
    [layer, [3, 3, { kernelSize: 2.5 }], 'kernelSize'],
    [layer, [3, 3, { stride: -1 }], 'stride'],
    [layer, [3, 3, { padding: NaN }], 'padding'],
    [layer, [3, 3, { bias: 'no' }], 'bias'],
    [layer, [3, 3, { init: 'kaiming' }], 'init'],
    [layer, [3, 3, { seed: '1' }], 'seed'],
  ]),
  ['Conv2d', [3, 8, { groups: 2 }], 'groups'],
  ['Conv2d', [3, 8, { kernel_size: 5 }], 'kernel_size'],
  ['BatchNorm2d', [0], 'channels'],
  ['BatchNorm2d', ['3'], 'channels'],
  ['BatchNorm2d', [3, { momentum: 2 }], 'momentum'],
  ['BatchNorm2d', [3, { eps: 0 }], 'eps'],
  ['BatchNorm2d', [3, { affine: false }], 'affine'],
  ['InstanceNorm2d', [1.5], 'channels'],
  ['InstanceNorm2d', [3, { eps: -1 }], 'eps'],
  ['LayerNorm', [0], 'features'],
  ['LayerNorm', [3, { epsilon: 1e-3 }], 'epsilon'],
  ['Dropout', [1], 'rate'],
  ['Dropout', [NaN], 'rate'],
  ['Dropout', ['0.5'], 'rate'],
  ['Dropout', [0.5, 1.5], 'seed'],
  ...(['MaxPool2d', 'AvgPool2d'] as const).flatMap((layer): [string, unknown[], string][] => [
    [layer, [0], 'size'],
    [layer, [1.5], 'size'],
    [layer, ['2'], 'size'],
    [layer, [2, 0], 'stride'],
    [layer, [2, { padding: 1 }], 'stride'],
    [layer, [2, 2, { padding: 2 }], 'padding'],
    [layer, [2, 2, { ceil_mode: true }], 'ceil_mode'],
  ]),
  ['Upsample', [0], 'scale'],
  ['Upsample', ['2'], 'scale'],
  ['Upsample', [2, 'bicubic'], 'mode'],
  ['Upsample', [2, 'nearest', 1], 'alignCorners'],
  ['LeakyReLU', ['0.2'], 'slope'],
  ['ELU', [NaN], 'alpha'],
  ['Softmax', [1], 'takes no arguments'],
  ['Flatten', [2], 'takes no arguments'],
  ['Sequential', [3], 'layer'],
  ['Sequential', [new Float32Array(2)], 'layer'],
  ['Sequential', [['a', 3]], 'layer'],
  ['ModuleList', [[3]], 'item 0'],
  ['ModuleList', ['abc'], 'modules'],
];

/** The layers a forward is tried on, each with the name its message starts with: the layer's class. */
const layers = {
  conv: [() => new nn.Conv2d(3, 4), 'Conv2d'],
  transpose: [() => new nn.ConvTranspose2d(3, 4), 'ConvTranspose2d'],
  depthwise: [() => new nn.DepthwiseConv2d(3, 2), 'DepthwiseConv2d'],
  batchNorm: [() => new nn.BatchNorm2d(3), 'BatchNorm2d'],
  groupNorm: [() => new nn.GroupNorm(1, 3), 'GroupNorm'],
  instanceNorm: [() => new nn.InstanceNorm2d(3), 'InstanceNorm2d'],
  layerNorm: [() => new nn.LayerNorm(3), 'LayerNorm'],
  linear: [() => new nn.Linear(3, 2), 'Linear'],
  dropout: [() => new nn.Dropout(0.5, 1), 'Dropout'],
  maxPool: [() => new nn.MaxPool2d(2), 'MaxPool2d'],
  avgPool: [() => new nn.AvgPool2d(2), 'AvgPool2d'],
  globalPool: [() => new nn.GlobalAvgPool2d(), 'GlobalAvgPool2d'],
  upsample: [() => new nn.Upsample(2), 'Upsample'],
  flatten: [() => new nn.Flatten(), 'Flatten'],
  relu: [() => new nn.ReLU(), 'ReLU'],
  leaky: [() => new nn.LeakyReLU(0.2), 'LeakyReLU'],
  softmax: [() => new nn.Softmax(), 'Softmax'],
} as const;
let built: Record<keyof typeof layers, dn.Module>;
afterAll(() => Object.values(built ?? {}).forEach((m) => m.dispose()));

const forwardRows = (): BadRow[] =>
  Object.entries(layers).flatMap(([key, [, op]]) => {
    const layer = built[key as keyof typeof layers];
    const rows: BadRow[] = badTensors(f).map(([what, value, cls]) => ({ op, what: `${layer.constructor.name}.forward(${what})`, names: 'x', cls, call: () => layer.forward(value() as never) }));
    return rows;
  });

/** NHWC layers fed NCHW data or the wrong channels: named by the layer. */
const shapeRows = (): BadRow[] => [
  { op: 'Conv2d', what: 'Conv2d(3, 4) on NCHW data', names: 'NHWC', cls: Shp, call: () => built.conv.forward(t().nchw) },
  { op: 'BatchNorm2d', what: 'BatchNorm2d(3) on NCHW data', names: 'NHWC', cls: Shp, call: () => built.batchNorm.forward(t().nchw) },
  { op: 'InstanceNorm2d', what: 'InstanceNorm2d(3) on NCHW data', names: 'NHWC', cls: Shp, call: () => built.instanceNorm.forward(t().nchw) },
  { op: 'Linear', what: 'Linear(3, 2) on an image', names: 'input', cls: Shp, call: () => built.linear.forward(t().img) },
  { op: 'LayerNorm', what: 'LayerNorm(3) on 4 features', names: 'gamma', cls: Shp, call: () => built.layerNorm.forward(t().nchw) },
];

/** Module's own methods, on a small model. */
const moduleRows = (): BadRow[] => {
  const m = built.conv;
  return [
    { op: 'freeze', what: 'a prefix that matches nothing', names: 'parameter', cls: Shp, call: () => m.freeze('encoder') },
    { op: 'freeze', what: 'a number for a prefix', names: 'prefixes[0]', cls: Arg, call: () => m.freeze(3 as never) },
    { op: 'unfreeze', what: 'null for a prefix', names: 'prefixes[0]', cls: Arg, call: () => m.unfreeze(null as never) },
    { op: 'train', what: "'no' for on", names: 'on', cls: Arg, call: () => m.train('no' as never) },
    { op: 'module', what: 'a path that is not there', names: 'nope', cls: Shp, call: () => m.module('nope') },
    { op: 'module', what: 'a number for a path', names: 'path', cls: Arg, call: () => m.module(3 as never) },
    // The forward's own refusal of the shape, naming the layer and then the op that refused it.
    { op: 'Conv2d', what: 'summary with an input shape of rank 2', names: 'input', cls: Shp, call: () => m.summary([2, 3]) },
    { op: 'summary', what: 'an input shape with -1', names: 'shape', cls: Shp, call: () => m.summary([1, -1, 4, 3]) },
    { op: 'summary', what: 'an input shape as a string', names: 'shape', cls: Arg, call: () => m.summary('1,4,4,3' as never) },
  ];
};

describe('bad input to dn.nn', () => {
  it('every constructor row is refused by name, with no parameter made', async () => {
    await expectAllRefused(CONSTRUCTORS.map(([layer, args, names]) => ({ op: layer, what: `new ${layer}(${args.map((a) => (typeof a === 'string' ? `'${a}'` : JSON.stringify(a) ?? String(a))).join(', ')})`, names, call: build(nn[layer as keyof typeof nn], ...args) })));
  });

  it('every forward and Module method row is refused by name, before any GPU work', async () => {
    built = Object.fromEntries(Object.entries(layers).map(([k, [make]]) => [k, make()])) as typeof built;
    await expectAllRefused([...forwardRows(), ...shapeRows(), ...moduleRows()]);
  });

  it('controls: each layer built well formed runs, and Module methods take what they should', () => {
    const want: Record<keyof typeof layers, number[]> = {
      conv: [2, 4, 4, 4], transpose: [2, 8, 8, 4], depthwise: [2, 4, 4, 6], batchNorm: [2, 4, 4, 3], groupNorm: [2, 4, 4, 3],
      instanceNorm: [2, 4, 4, 3], layerNorm: [2, 4, 4, 3], linear: [2, 2], dropout: [2, 4, 4, 3], maxPool: [2, 2, 2, 3],
      avgPool: [2, 2, 2, 3], globalPool: [2, 3], upsample: [2, 8, 8, 3], flatten: [2, 48], relu: [2, 4, 4, 3], leaky: [2, 4, 4, 3], softmax: [2, 4, 4, 3],
    };
    const got = dn.scope(() => Object.fromEntries(Object.entries(built).map(([k, m]) => [k, [...m.forward(k === 'linear' ? t().rows : t().img).shape]])));
    expect(got).toEqual(want);
    const m = built.conv;
    expect(m.freeze('weight')).toBe(1);
    expect(m.unfreeze()).toBe(2);
    expect(m.train(false).training).toBe(false);
    expect(m.train().training).toBe(true);
    expect(m.summary([1, 4, 4, 3])).toContain('[1,4,4,4]');
    const seq = new nn.Sequential(['c', built.conv], built.relu);
    expect(seq.module('c')).toBe(built.conv);
    expect(new nn.ModuleList([new nn.ReLU()]).length).toBe(1);
  });
});
