// The bad-input sweep, part 7: dn.train's functions that take tensors, models or host arrays
// (test-time augmentation, ensembles, weight averaging, array datasets, metrics, masks'
// components, schedules). Each row is a DawnetError naming the function and the argument, with
// nothing allocated or dispatched; the controls run the same calls well formed.

import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { badTensors, expectAllRefused, filled, useSweep, type BadRow } from '../helpers/bad-input.js';

const f = useSweep(() => ({ img: filled([1, 4, 4, 3]) }));
const t = () => f.t;
const { ArgumentError: Arg, ShapeError: Shp } = dn;
let net: dn.Module;
afterAll(() => net?.dispose());

const scores = [0.9, 0.2, 0.7, 0.1];
const labels = [1, 0, 1, 0];
const row = (op: string, what: string, names: string, call: () => unknown, cls: new (...args: never[]) => Error = Arg): BadRow => ({ op, what, names, call, cls });

const rows = (): BadRow[] => [
  ...badTensors(f).map(([what, v, cls]) => row('predictWithTta', `x: ${what}`, 'x', () => dn.train.predictWithTta(net, v() as never), cls)),
  row('predictWithTta', 'model a tensor', 'model', () => dn.train.predictWithTta(t().img as never, t().img)),
  row('predictWithTta', "mode 'rotate'", 'mode', () => dn.train.predictWithTta(net, t().img, 'rotate' as never)),
  row('TtaModel', 'model a function', 'model', () => new dn.train.TtaModel((() => 1) as never, 'flip')),
  row('TtaModel', 'mode left out', 'mode', () => new (dn.train.TtaModel as new (m: unknown) => unknown)(net)),
  row('EnsembleModel', 'members empty', 'members', () => new dn.train.EnsembleModel([])),
  row('EnsembleModel', 'a member a number', 'members', () => new dn.train.EnsembleModel([net, 3 as never])),
  row('WeightEma', 'model a tensor', 'model', () => new dn.train.WeightEma(t().img as never)),
  row('WeightEma', 'decay 1', 'decay', () => new dn.train.WeightEma(net, { decay: 1 })),
  row('WeightEma', "decay '0.9'", 'decay', () => new dn.train.WeightEma(net, { decay: '0.9' as never })),
  row('WeightEma', 'an unknown option', 'decy', () => new dn.train.WeightEma(net, { decy: 0.99 } as never)),
  row('arrayDataset', 'x a tensor', 'x', () => dn.train.arrayDataset(t().img as never, { data: [1], shape: [1] })),
  row('arrayDataset', 'x.data shorter than its shape', 'x.data', () => dn.train.arrayDataset({ data: [1, 2], shape: [3] }, { data: [1, 2, 3], shape: [3] })),
  row('arrayDataset', 'x.shape with -1', 'x.shape', () => dn.train.arrayDataset({ data: [1, 2], shape: [-1, -2] }, { data: [1, 2], shape: [2] })),
  row('arrayDataset', 'x.data of strings', 'x.data', () => dn.train.arrayDataset({ data: ['1', '2'] as never, shape: [2] }, { data: [1, 2], shape: [2] })),
  row('arrayDataset', 'x.data a BigInt64Array', 'x.data', () => dn.train.arrayDataset({ data: new BigInt64Array(2) as never, shape: [2] }, { data: [1, 2], shape: [2] })),
  row('arrayDataset', 'samples that do not pair up', 'x', () => dn.train.arrayDataset({ data: [1, 2], shape: [2] }, { data: [1], shape: [1] })),
  row('arrayDataset', 'batchSize 0', 'batchSize', () => dn.train.arrayDataset({ data: [1], shape: [1] }, { data: [1], shape: [1] }, { batchSize: 0 })),
  row('arrayDataset', "Keras's batch_size", 'batch_size', () => dn.train.arrayDataset({ data: [1], shape: [1] }, { data: [1], shape: [1] }, { batch_size: 2 } as never)),
  ...(['binaryReport', 'confusion', 'rocAuc'] as const).flatMap((op) => [
    row(op, 'scores a tensor', 'scores', () => dn.train[op](t().img as never, labels)),
    row(op, 'labels left out', 'labels', () => (dn.train[op] as unknown as (s: number[]) => unknown)(scores)),
    row(op, 'lengths that differ', 'labels', () => dn.train[op](scores, [1, 0])),
    row(op, 'a NaN score', 'scores[1]', () => dn.train[op]([0.9, NaN, 0.7, 0.1], labels)),
  ]),
  row('binaryReport', "threshold '0.5'", 'threshold', () => dn.train.binaryReport(scores, labels, '0.5' as never)),
  row('overlap', 'pred a tensor', 'pred', () => dn.train.overlap(t().img as never, labels)),
  row('overlap', 'lengths that differ', 'truth', () => dn.train.overlap(scores, [1, 0])),
  row('overlap', 'threshold NaN', 'threshold', () => dn.train.overlap(scores, labels, NaN)),
  row('overlap', 'to past the end', 'to', () => dn.train.overlap(scores, labels, 0.5, 0, 9)),
  row('diceOf', "emptyPolicy 'zero'", 'emptyPolicy', () => dn.train.diceOf({ intersection: 0, predicted: 0, truth: 0 }, 'zero' as never)),
  row('diceOf', 'counts that are not numbers', 'o', () => dn.train.diceOf({ intersection: 1 } as never, 'one')),
  row('iouOf', 'counts left out', 'o', () => dn.train.iouOf(undefined as never, 'one')),
  row('segmentationReport', 'pred a tensor', 'pred', () => dn.train.segmentationReport(t().img as never, labels, 2)),
  row('segmentationReport', 'sliceSize 3 for 4 values', 'sliceSize', () => dn.train.segmentationReport(scores, labels, 3)),
  row('segmentationReport', 'an unknown option', 'volume', () => dn.train.segmentationReport(scores, labels, 2, { volume: ['a', 'a'] } as never)),
  row('multiClassReport', 'scores a tensor', 'scores', () => dn.train.multiClassReport(t().img as never, [0, 1], 2)),
  row('multiClassReport', 'target left out', 'target', () => (dn.train.multiClassReport as unknown as (s: number[]) => unknown)([0.1, 0.9, 0.8, 0.2])),
  row('multiClassReport', 'classes 1.5', 'classes', () => dn.train.multiClassReport([0.1, 0.9, 0.8, 0.2], [1, 0], 1.5), Shp),
  row('multiClassReport', "classes '2'", 'classes', () => dn.train.multiClassReport([0.1, 0.9, 0.8, 0.2], [1, 0], '2' as never), Shp),
  row('multiClassReport', 'an unknown option', 'ignore_background', () => dn.train.multiClassReport([0.1, 0.9, 0.8, 0.2], [1, 0], 2, { ignore_background: true } as never)),
  row('multiClassReport', "emptyPolicy 'zero'", 'emptyPolicy', () => dn.train.multiClassReport([0.1, 0.9, 0.8, 0.2], [1, 0], 2, { emptyPolicy: 'zero' as never })),
  row('surfaceDistance', 'a a tensor', 'a', () => dn.train.surfaceDistance(t().img as never, labels, [2, 2])),
  row('surfaceDistance', 'shape a number', 'shape', () => dn.train.surfaceDistance(labels, labels, 4 as never)),
  row('surfaceDistance', 'shape of the wrong size', 'shape', () => dn.train.surfaceDistance(labels, labels, [3, 3]), Shp),
  row('labelComponents', 'mask left out', 'mask', () => (dn.train.labelComponents as () => unknown)()),
  row('labelComponents', 'shape a string', 'shape', () => dn.train.labelComponents(labels, '2x2' as never)),
  row('labelComponents', 'connectivity 5', 'connectivity', () => dn.train.labelComponents(labels, [2, 2], 5 as never)),
  row('postprocessMask', 'an unknown option', 'min_size', () => dn.train.postprocessMask(labels, [2, 2], { min_size: 2 } as never)),
  row('postprocessMask', 'minSize -1', 'minSize', () => dn.train.postprocessMask(labels, [2, 2], { minSize: -1 })),
  row('postprocessVolumes', 'an unknown option', 'keep_largest', () => dn.train.postprocessVolumes(labels, [2, 2], undefined, { keep_largest: true } as never)),
  row('postprocessVolumes', 'pred a tensor', 'pred', () => dn.train.postprocessVolumes(t().img as never, [2, 2], undefined)),
  row('postprocessVolumes', 'sliceShape a number', 'sliceShape', () => dn.train.postprocessVolumes(labels, 4 as never, undefined)),
  row('postprocessVolumes', "threshold '0.5'", 'threshold', () => dn.train.postprocessVolumes(labels, [2, 2], undefined, { threshold: '0.5' as never })),
  row('cosineDecay', 'an unknown option', 'warmup', () => dn.train.cosineDecay({ lr: 1, epochs: 5, warmup: 2 } as never)),
  row('cosineDecay', 'epochs 0', 'epochs', () => dn.train.cosineDecay({ lr: 1, epochs: 0 })),
  row('stepDecay', 'an unknown option', 'gamma', () => dn.train.stepDecay({ lr: 1, every: 2, gamma: 0.5 } as never)),
  row('stepDecay', "every '2'", 'every', () => dn.train.stepDecay({ lr: 1, every: '2' as never })),
  // Checkpoints: refused before anything is read back or written.
  row('encodeCheckpoint', 'model a tensor', 'model', () => dn.train.encodeCheckpoint(t().img as never, null, {})),
  row('encodeCheckpoint', 'optimizer a string', 'optimizer', () => dn.train.encodeCheckpoint(net, 'adam' as never, {})),
  row('encodeCheckpoint', 'meta left out', 'meta', () => (dn.train.encodeCheckpoint as (m: unknown, o: null) => unknown)(net, null)),
  row('encodeCheckpoint', 'ema an options object', 'ema', () => dn.train.encodeCheckpoint(net, null, {}, { decay: 0.9 } as never)),
  row('encodeCheckpoint', 'a disposed extra tensor', 'extra', () => dn.train.encodeCheckpoint(net, null, {}, null, new Map([['snap/w', f.disposed]])), dn.DisposedError),
  row('encodeCheckpoint', 'extra a plain object', 'extra', () => dn.train.encodeCheckpoint(net, null, {}, null, { 'snap/w': t().img } as never)),
  row('saveCheckpoint', 'optimizer a string', 'optimizer', () => dn.train.saveCheckpoint('never-written.safetensors', net, 'adam' as never, {})),
  row('saveCheckpoint', 'meta a number', 'meta', () => dn.train.saveCheckpoint('never-written.safetensors', net, null, 3 as never)),
  row('applyCheckpoint', 'bytes a number', 'bytes', () => dn.train.applyCheckpoint(3 as never, 'x', net)),
  row('applyCheckpoint', 'source left out', 'source', () => dn.train.applyCheckpoint(new Uint8Array(8), undefined as never, net)),
  row('applyCheckpoint', 'model a function', 'model', () => dn.train.applyCheckpoint(new Uint8Array(8), 'x', (() => 1) as never)),
  row('loadCheckpoint', 'ema a number', 'ema', () => dn.train.loadCheckpoint('never-read.safetensors', net, null, 3 as never)),
];

describe('bad input to dn.train', () => {
  it('every row is refused by name, before any GPU work', async () => {
    net = new dn.nn.Conv2d(3, 1, { kernelSize: 1 });
    await expectAllRefused(rows());
  });

  it('controls: the same calls, well formed, work', async () => {
    const y = dn.noGrad(() => dn.train.predictWithTta(net, t().img, 'flip'));
    expect(y.shape).toEqual([1, 4, 4, 1]);
    y.dispose();
    const ema = new dn.train.WeightEma(net, { decay: 0.9, warmup: false });
    expect(ema.names.sort()).toEqual(['bias', 'weight']);
    ema.dispose();
    const data = dn.train.arrayDataset({ data: new Float32Array(4), shape: [4] }, { data: [1, 0, 1, 0], shape: [4, 1] }, { batchSize: 2 });
    expect(data.batchCount).toBe(2);
    expect(dn.train.binaryReport(scores, labels, { threshold: 0.5 }).accuracy).toBe(1);
    expect(dn.train.rocAuc(scores, labels)).toBe(1);
    expect(dn.train.confusion(scores, labels, 0.8)).toEqual({ tp: 1, fp: 0, tn: 2, fn: 1 });
    const o = dn.train.overlap(scores, labels, 0.5, 0, 2);
    expect(o).toEqual({ intersection: 1, predicted: 1, truth: 1 });
    expect([dn.train.diceOf(o, 'one'), dn.train.iouOf(o, 'skip')]).toEqual([1, 1]);
    expect(dn.train.segmentationReport(scores, labels, 2, { emptyPolicy: 'skip' }).dicePerSlice).toBe(1);
    expect(dn.train.multiClassReport([0.1, 0.9, 0.8, 0.2], [1, 0], 2, { emptyPolicy: 'one' }).accuracy).toBe(1);
    expect(dn.train.surfaceDistance(labels, labels, [2, 2]).hd95).toBe(0);
    expect(dn.train.labelComponents([1, 0, 0, 1], [2, 2], 4).count).toBe(2);
    expect(dn.train.postprocessMask([1, 0, 0, 1], [2, 2], { connectivity: 4, keepLargest: true }).removedComponents).toBe(1);
    expect(dn.train.postprocessVolumes([1, 0, 0, 1], [2, 2], ['a'], { threshold: 0.5, connectivity: 6, minSize: 2 }).removedComponents).toBe(2);
    expect(dn.train.cosineDecay({ lr: 1, epochs: 4, minLr: 0, warmupEpochs: 1 })(0, 1)).toBe(1);
    expect(dn.train.stepDecay({ lr: 1, every: 2, factor: 0.5 })(2, 1)).toBe(0.5);
    const opt = new dn.optim.SGD(net.parameters(), { lr: 0.1 });
    const extra = dn.tensor([1, 2], [2]);
    const bytes = await dn.train.encodeCheckpoint(net, opt, { epoch: 3 }, null, new Map([['snap/w', extra]]));
    const loaded = dn.train.applyCheckpoint(bytes, 'mine', net, opt, null);
    expect([loaded.meta.epoch, [...loaded.extra.keys()]]).toEqual([3, ['snap/w']]);
    extra.dispose();
    opt.dispose();
  });
});
