// The bad-input sweep, part 2: the ops layers are made of (convolutions, pooling, resampling,
// normalisation, dense, dropout, losses, softmax, preprocessing). As part 1: each row is a
// DawnetError naming the op and the argument, with nothing allocated or dispatched; the controls
// run the same calls well formed.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectAllRefused, expectControls, filled, rowsOf, useSweep, type OpSpec } from '../helpers/bad-input.js';

const f = useSweep(() => ({
  img: filled([2, 5, 5, 3]),
  w: filled([3, 3, 3, 4], -0.5, 0.5),
  wT: filled([3, 3, 4, 3], -0.5, 0.5),
  dw: filled([3, 3, 3, 2], -0.5, 0.5),
  b4: filled([4]),
  c3: filled([3]),
  m: filled([2, 3]),
  m34: filled([3, 4]),
  small: filled([2, 2, 2, 3]),
  p: filled([2, 4, 4, 1]),
  y: dn.tensor(Float32Array.from({ length: 32 }, (_, i) => i % 2), [2, 4, 4, 1]),
  logits: filled([2, 4, 4, 3], -2, 2),
  onehot: dn.tensor(Float32Array.from({ length: 96 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [2, 4, 4, 3]),
  // Zero-size dimensions where an op cannot take them (an empty batch, N = 0, it can).
  noRows: dn.zeros([2, 0, 4, 3]),
  noClasses: dn.zeros([2, 0]),
  noKernel: dn.zeros([0, 3, 3, 4]),
  noPixels: dn.zeros([0, 4, 4, 1]),
}));
const t = () => f.t;
const { ArgumentError: Arg, ShapeError: Shp } = dn;

/** Bad values of a number option, each named by the option. */
const badNumbers = (at: string, key: string, values: unknown[], base: object = {}): [string, Record<number, unknown>, string, typeof Shp][] =>
  values.map((v) => [`${key} ${typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v)}`, { [at]: { ...base, [key]: v } }, key, Shp]);
const SIZES = [0, -1, 1.5, NaN, Infinity, '2'];

const specs = (): OpSpec[] => [
  {
    op: 'conv2d',
    fn: dn.conv2d,
    args: () => [t().img, t().w, t().b4, {}],
    out: [2, 3, 3, 4],
    tensors: { 0: 'x', 1: 'w' },
    optional: { 2: 'b' },
    options: 3,
    rows: [
      ['options where the bias goes', { 2: { padding: 'same' } }, 'b', Arg],
      ['x of rank 3', { 0: t().m34 }, 'input', Shp],
      ['w of rank 2', { 1: t().m34 }, 'weight', Shp],
      ['w for 4 input channels', { 1: t().wT }, 'input', Shp],
      ['a bias of 3', { 2: t().c3 }, 'bias', Shp],
      ...badNumbers('3', 'stride', SIZES),
      ...badNumbers('3', 'padding', [-1, 1.5, NaN, 'full', [1, 1]]),
      ...badNumbers('3', 'dilation', SIZES),
      ...badNumbers('3', 'groups', [0, 2, 1.5, NaN, '1']),
      ["activation 'gelu'", { 3: { activation: 'gelu' } }, 'activation', Arg],
    ],
  },
  {
    op: 'convTranspose2d',
    fn: dn.convTranspose2d,
    args: () => [t().img, t().wT, t().b4, {}],
    out: [2, 7, 7, 4],
    tensors: { 0: 'x', 1: 'w' },
    optional: { 2: 'b' },
    options: 3,
    rows: [
      ['x of rank 2', { 0: t().m34 }, 'input', Shp],
      ['w for 4 input channels', { 1: t().w }, 'input', Shp],
      ['a bias of 3', { 2: t().c3 }, 'bias', Shp],
      ...badNumbers('3', 'stride', SIZES),
      ...badNumbers('3', 'padding', [-1, 1.5, NaN, 'full']),
    ],
  },
  {
    op: 'depthwiseConv2d',
    fn: dn.depthwiseConv2d,
    args: () => [t().img, t().dw, null, {}],
    out: [2, 3, 3, 6],
    tensors: { 0: 'x', 1: 'w' },
    options: 3,
    rows: [
      ['w for 4 channels', { 1: t().wT }, 'channels', Shp],
      ['a bias of 4', { 2: t().b4 }, 'bias', Shp],
      ...badNumbers('3', 'stride', SIZES),
      ...badNumbers('3', 'dilation', SIZES),
    ],
  },
  ...(['maxPool2d', 'avgPool2d'] as const).map((op): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().img, { size: 2 }],
    out: [2, 2, 2, 3],
    tensors: { 0: 'x' },
    options: 1,
    rows: [
      ['options left out', { 1: undefined }, 'options', Arg],
      ['x of rank 2', { 0: t().m }, 'x', Shp],
      ...badNumbers('1', 'size', SIZES),
      ...badNumbers('1', 'stride', SIZES, { size: 2 }),
      ...badNumbers('1', 'padding', [-1, 1.5, NaN, 2, 'full'], { size: 2 }),
      ['ceilMode a string', { 1: { size: 2, ceilMode: 'yes' } }, 'ceilMode', Arg],
      ['a window larger than the image', { 1: { size: 7 } }, 'window', Shp],
    ],
  })),
  { op: 'globalAvgPool2d', fn: dn.globalAvgPool2d, args: () => [t().img], out: [2, 3], tensors: { 0: 'x' }, rows: [['x of rank 2', { 0: t().m }, 'x', Shp]] },
  {
    op: 'maxPool2dWithIndices',
    fn: dn.maxPool2dWithIndices,
    args: () => [t().img, { size: 2 }],
    out: [[2, 2, 2, 3], [2, 2, 2, 3]],
    tensors: { 0: 'x' },
    options: 1,
    rows: badNumbers('1', 'size', SIZES),
  },
  {
    op: 'maxUnpool2d',
    fn: dn.maxUnpool2d,
    args: () => [t().small, t().small, { size: 2 }],
    out: [2, 4, 4, 3],
    tensors: { 0: 'x', 1: 'indices' },
    options: 2,
    rows: [
      ['indices of another shape', { 1: t().img }, 'indices', Shp],
      ...badNumbers('2', 'size', SIZES),
      ['outputSize [0, 0]', { 2: { size: 2, outputSize: [0, 0] } }, 'outputSize', Shp],
      ["outputSize 'big'", { 2: { size: 2, outputSize: 'big' } }, 'outputSize', Shp],
    ],
  },
  {
    op: 'upsample2d',
    fn: dn.upsample2d,
    args: () => [t().img, { scale: 2 }],
    out: [2, 10, 10, 3],
    tensors: { 0: 'x' },
    options: 1,
    rows: [
      ['x of rank 2', { 0: t().m }, 'x', Shp],
      ...badNumbers('1', 'scale', [0, -1, NaN, Infinity, '2']),
      ...badNumbers('1', 'size', [[0, 4], [2.5, 4], 4, 'big']),
      ["mode 'bicubic'", { 1: { scale: 2, mode: 'bicubic' } }, 'mode', Arg],
      ['scale and size', { 1: { scale: 2, size: [4, 4] } }, 'scale', Arg],
    ],
  },
  {
    op: 'batchNorm2d',
    fn: dn.batchNorm2d,
    args: () => [t().img, t().c3, t().c3, null, null, { training: true }],
    out: [2, 5, 5, 3],
    tensors: { 0: 'x', 1: 'gamma', 2: 'beta' },
    optional: { 3: 'runningMean', 4: 'runningVar' },
    options: 5,
    rows: [
      ['options left out', { 5: undefined }, 'options', Arg],
      ['x of rank 2', { 0: t().m }, 'x', Shp],
      ['gamma of 4', { 1: t().b4 }, 'gamma', Shp],
      ['runningMean of 4', { 3: t().b4, 4: t().c3 }, 'runningMean', Shp],
      ...badNumbers('5', 'momentum', [-0.1, 1.5, NaN, '0.1'], { training: true }),
      ...badNumbers('5', 'eps', [0, -1, NaN, '1e-5'], { training: true }),
      ['training a string', { 5: { training: 'no' } }, 'training', Arg],
      ['relu a number', { 5: { training: true, relu: 1 } }, 'relu', Arg],
    ],
  },
  {
    op: 'groupNorm',
    fn: dn.groupNorm,
    args: () => [t().img, t().c3, t().c3, { groups: 1 }],
    out: [2, 5, 5, 3],
    tensors: { 0: 'x', 1: 'gamma', 2: 'beta' },
    options: 3,
    rows: [
      ['options left out', { 3: undefined }, 'options', Arg],
      ['gamma of 4', { 1: t().b4 }, 'gamma', Shp],
      ...badNumbers('3', 'groups', [0, 2, 1.5, NaN, '1']),
      ...badNumbers('3', 'eps', [0, -1, NaN, '1e-5'], { groups: 1 }),
    ],
  },
  {
    op: 'layerNorm',
    fn: dn.layerNorm,
    args: () => [t().m, t().c3, t().c3, {}],
    out: [2, 3],
    tensors: { 0: 'x', 1: 'gamma', 2: 'beta' },
    options: 3,
    rows: [['gamma of 4', { 1: t().b4 }, 'gamma', Shp], ...badNumbers('3', 'eps', [0, -1, NaN, '1e-5'])],
  },
  {
    op: 'matmul',
    fn: dn.matmul,
    args: () => [t().m, t().m34, {}],
    out: [2, 4],
    tensors: { 0: 'a', 1: 'b' },
    options: 2,
    rows: [
      ['inner sizes that differ', { 1: t().m }, 'a', Shp],
      ['a of rank 1', { 0: t().c3 }, 'a', Shp],
      ['transposeA a string', { 2: { transposeA: 'yes' } }, 'transposeA', Arg],
    ],
  },
  {
    op: 'linear',
    fn: dn.linear,
    args: () => [t().m, t().m34, t().b4],
    out: [2, 4],
    tensors: { 0: 'x', 1: 'w' },
    optional: { 2: 'b' },
    rows: [
      ['w of the wrong rows', { 1: t().m }, 'w', Shp],
      ['a bias of 3', { 2: t().c3 }, 'bias', Shp],
    ],
  },
  {
    op: 'dropout',
    fn: dn.dropout,
    args: () => [t().m, { rate: 0.5, seed: 1 }],
    out: [2, 3],
    tensors: { 0: 'x' },
    options: 1,
    rows: [
      ['options left out', { 1: undefined }, 'options', Arg],
      ...badNumbers('1', 'rate', [1, -0.1, NaN, '0.5', undefined], { seed: 1 }),
      ...badNumbers('1', 'seed', [-1, 0.5, NaN, '1', undefined], { rate: 0.5 }),
      ['training a string', { 1: { rate: 0.5, seed: 1, training: 'no' } }, 'training', Arg],
    ],
  },
  // Losses: prediction and target of one shape.
  ...(['bceLoss', 'bceWithLogits', 'diceLoss', 'bceDiceLoss', 'mseLoss', 'l1Loss', 'huberLoss', 'tverskyLoss', 'focalTverskyLoss', 'focalLoss', 'sigmoidFocalLoss'] as const).map((op): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().p, t().y, {}],
    out: [],
    tensors: { 0: 'prediction', 1: 'target' },
    options: 2,
    rows: [
      ['a target of another shape', { 1: t().logits }, 'target', Shp],
      ...(['diceLoss', 'bceDiceLoss', 'tverskyLoss', 'focalTverskyLoss'].includes(op) ? [] : badNumbers('2', 'reduction', ['avg', 1])),
    ],
  })),
  { op: 'bceLoss', fn: dn.bceLoss, args: () => [t().p, t().y, {}], rows: badNumbers('2', 'eps', [-1, NaN, '1e-7']) },
  { op: 'diceLoss', fn: dn.diceLoss, args: () => [t().p, t().y, {}], rows: [...badNumbers('2', 'smooth', [-1, NaN, '1']), ['perSample a string', { 2: { perSample: 'yes' } }, 'perSample', Arg]] },
  { op: 'bceDiceLoss', fn: dn.bceDiceLoss, args: () => [t().p, t().y, {}], rows: [...badNumbers('2', 'bceWeight', [Infinity, NaN, '1', -0.5]), ...badNumbers('2', 'diceWeight', [NaN, -1])] },
  { op: 'huberLoss', fn: dn.huberLoss, args: () => [t().p, t().y, {}], rows: badNumbers('2', 'delta', [0, -1, NaN, '1']) },
  { op: 'tverskyLoss', fn: dn.tverskyLoss, args: () => [t().p, t().y, {}], rows: [...badNumbers('2', 'alpha', [-1, NaN, '1']), ...badNumbers('2', 'beta', [NaN])] },
  { op: 'focalTverskyLoss', fn: dn.focalTverskyLoss, args: () => [t().p, t().y, {}], rows: badNumbers('2', 'gamma', [0, NaN, '1']) },
  { op: 'focalLoss', fn: dn.focalLoss, args: () => [t().p, t().y, {}], rows: [...badNumbers('2', 'alpha', [2, NaN, '0.25']), ...badNumbers('2', 'gamma', [-1, NaN])] },
  {
    op: 'softmaxCrossEntropy',
    fn: dn.softmaxCrossEntropy,
    args: () => [t().logits, t().onehot, {}],
    out: [],
    tensors: { 0: 'z', 1: 'y' },
    options: 2,
    rows: [['class ids for targets', { 1: t().p }, 'target', Shp], ...badNumbers('2', 'labelSmoothing', [1.5, -0.1, NaN, '0.1']), ...badNumbers('2', 'reduction', ['avg'])],
  },
  ...(['softmax', 'logSoftmax'] as const).map((op): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().logits, -1],
    out: [2, 4, 4, 3],
    tensors: { 0: 'x' },
    rows: [
      ["NCHW's channel axis", { 1: 1 }, 'axis', Arg],
      ['axis a string', { 1: '-1' }, 'axis', Arg],
      ['axis NaN', { 1: NaN }, 'axis', Arg],
    ],
  })),
  {
    op: 'oneHot',
    fn: dn.oneHot,
    args: () => [t().p, 3],
    out: [2, 4, 4, 3],
    tensors: { 0: 'labels' },
    rows: [
      ['classes 0', { 1: 0 }, 'classes', Arg],
      ['classes 1.5', { 1: 1.5 }, 'classes', Arg],
      ['classes NaN', { 1: NaN }, 'classes', Arg],
      ["classes '3'", { 1: '3' }, 'classes', Arg],
      ['classes left out', { 1: undefined }, 'classes', Arg],
    ],
  },
  {
    op: 'channelAffine',
    fn: dn.channelAffine,
    args: () => [t().img, { perm: [2, 1, 0], scale: [1, 1, 1], shift: [0, 0, 0] }],
    out: [2, 5, 5, 3],
    tensors: { 0: 'x' },
    options: 1,
    rows: [
      ['options left out', { 1: undefined }, 'options', Arg],
      ['perm left out', { 1: { scale: [1, 1, 1], shift: [0, 0, 0] } }, 'perm', Arg],
      ['perm a string', { 1: { perm: '210', scale: [1, 1, 1], shift: [0, 0, 0] } }, 'perm', Arg],
      ['perm fractional', { 1: { perm: [0.5, 1, 2], scale: [1, 1, 1], shift: [0, 0, 0] } }, 'perm[0]', Shp],
      ['perm past the channels', { 1: { perm: [0, 1, 3], scale: [1, 1, 1], shift: [0, 0, 0] } }, 'perm[2]', Shp],
      ['scale NaN', { 1: { perm: [0, 1, 2], scale: [NaN, 1, 1], shift: [0, 0, 0] } }, 'scale[0]', Shp],
      ['shift a string', { 1: { perm: [0, 1, 2], scale: [1, 1, 1], shift: ['0', 0, 0] } }, 'shift[0]', Arg],
      ['scale of 2', { 1: { perm: [0, 1, 2], scale: [1, 1], shift: [0, 0, 0] } }, 'scale', Shp],
    ],
  },
  {
    op: 'imagenetPreprocess',
    fn: dn.imagenetPreprocess,
    args: () => [t().img, 'caffe'],
    out: [2, 5, 5, 3],
    tensors: { 0: 'x' },
    rows: [
      ["mode 'tf'", { 1: 'tf' }, 'mode', Arg],
      ['mode left out', { 1: undefined }, 'mode', Arg],
      ['x of 4 channels', { 0: t().w }, 'channels', Shp],
    ],
  },
];

/** Ops given zero-size dimensions they cannot take: [op, call, the name the message gives]. */
const empties = (): [string, () => unknown, string][] => [
  ['conv2d', () => dn.conv2d(t().noRows, t().w), 'empty'],
  ['conv2d', () => dn.conv2d(t().img, t().noKernel), 'empty'],
  ['maxPool2d', () => dn.maxPool2d(t().noRows, { size: 2 }), 'empty'],
  ['avgPool2d', () => dn.avgPool2d(t().noRows, { size: 2 }), 'empty'],
  ['upsample2d', () => dn.upsample2d(t().noRows, { scale: 2 }), 'empty'],
  ['softmax', () => dn.softmax(t().noClasses), 'empty'],
  ['softmaxCrossEntropy', () => dn.softmaxCrossEntropy(t().noClasses, t().noClasses), 'empty'],
  ['bceLoss', () => dn.bceLoss(t().noPixels, t().noPixels), 'empty'],
  ['diceLoss', () => dn.diceLoss(t().noPixels, t().noPixels), 'empty'],
  ['argmax', () => dn.argmax(t().noClasses, 1), 'empty'],
];

describe('bad input to the layer ops', () => {
  it('every row is refused by name, before any GPU work', async () => {
    const zeroSize = empties().map(([op, call, names]) => ({ op, what: 'a zero-size dimension', names, cls: dn.ShapeError, call }));
    await expectAllRefused([...specs().flatMap((s) => rowsOf(s, f)), ...zeroSize]);
  });

  it('controls: the same calls, well formed, give tensors of the right shapes', () => {
    expectControls(specs());
  });

  it('controls: options of the right types are used as given', async () => {
    const { img, c3, m, m34 } = t();
    const rm = dn.zeros([3]);
    const rv = dn.full([3], 1);
    const got = dn.scope(() => ({
      // Inference with unit running statistics, gamma c3 and beta 0 ... is x·c3/sqrt(1 + eps).
      bn: dn.batchNorm2d(img, c3, dn.zeros([3]), rm, rv, { training: false, eps: 1e-5, momentum: 0.5, relu: false }),
      mm: dn.matmul(m, m34, { transposeA: false, transposeB: false }),
      kept: dn.dropout(m, { rate: 0.5, seed: 3, training: false }),
      bgr: dn.channelAffine(img, { perm: [2, 1, 0], scale: [2, 2, 2], shift: [1, 1, 1] }),
    }));
    const [x, g, bn, kept, bgr] = await Promise.all([img.toArray(), c3.toArray(), got.bn.toArray(), got.kept.toArray(), got.bgr.toArray()]);
    expect(Math.abs(bn[5] - (x[5] * g[2]) / Math.sqrt(1 + 1e-5))).toBeLessThan(1e-6);
    expect(Array.from(kept)).toEqual(Array.from(await m.toArray()));
    expect(bgr[0]).toBeCloseTo(x[2] * 2 + 1, 5);
    expect(got.mm.shape).toEqual([2, 4]);
    for (const v of [rm, rv, ...Object.values(got)]) v.dispose();
  });
});
