// The bad-input sweep, part 1: making tensors, element-wise ops, shape ops and reductions. Each
// public function is fed a table of malformed inputs (the harness adds a disposed tensor, one from
// before shutdown(), arrays, typed arrays, strings, numbers, null and undefined at every tensor
// argument, and an unknown option key); each row must be a DawnetError naming the op and the
// argument, with nothing allocated or dispatched. The controls show the same calls, well formed,
// still work.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectAllRefused, expectControls, filled, rowsOf, useSweep, type BadRow, type OpSpec } from '../helpers/bad-input.js';

const f = useSweep(() => ({
  m: filled([2, 3]),
  m34: filled([3, 4]),
  v: filled([3]),
  img: filled([2, 4, 4, 3]),
}));
const t = () => f.t;
const { ArgumentError: Arg, ShapeError: Shp } = dn;

const unaryOps = ['relu', 'sigmoid', 'tanh', 'exp', 'log', 'neg', 'square', 'sqrt', 'abs', 'softplus', 'silu', 'rsqrt', 'reciprocal', 'sin', 'cos', 'sign', 'floor', 'round', 'log1p', 'expm1'] as const;
const binaryOps = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual'] as const;

const specs = (): OpSpec[] => [
  ...unaryOps.map((op): OpSpec => ({ op, fn: dn[op], args: () => [t().m], tensors: { 0: 'x' }, out: [2, 3] })),
  ...binaryOps.map((op): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().m, t().v],
    out: [2, 3],
    tensors: { 0: 'a', 1: 'b' },
    numbers: [0, 1],
    rows: [
      ['shapes that do not broadcast', { 1: t().m34 }, '[2,3]', Shp],
      ['two numbers', { 0: 1, 1: 2 }, 'numbers', Arg],
      ['a string operand', { 1: '2' }, 'b', Arg],
    ],
  })),
  ...([['scale', 'factor'], ['addScalar', 'value']] as const).map(([op, c]): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().m, 2],
    out: [2, 3],
    tensors: { 0: 'x' },
    rows: [
      ['the constant left out', { 1: undefined }, c, Arg],
      ['the constant a string', { 1: '2' }, c, Arg],
      ['the constant a tensor', { 1: t().v }, c, Arg],
    ],
  })),
  { op: 'leakyRelu', fn: dn.leakyRelu, args: () => [t().m, 0.2], out: [2, 3], tensors: { 0: 'x' }, rows: [['slope a string', { 1: '0.2' }, 'slope', Arg]] },
  { op: 'elu', fn: dn.elu, args: () => [t().m, 1], out: [2, 3], tensors: { 0: 'x' }, rows: [['alpha a string', { 1: '1' }, 'alpha', Arg]] },
  {
    op: 'clamp',
    fn: dn.clamp,
    args: () => [t().m, 0, 1],
    out: [2, 3],
    tensors: { 0: 'x' },
    rows: [
      ['min a string', { 1: '0' }, 'min', Arg],
      ['min above max', { 1: 2, 2: 1 }, 'min', Arg],
      ['min NaN', { 1: NaN }, 'min', Arg],
      // Before: 0 <= '1' held by coercion and the lower bound's kernel was queued first.
      ['max a string', { 2: '1' }, 'max', Arg],
    ],
  },
  {
    op: 'pow',
    fn: dn.pow,
    args: () => [t().m, 2],
    out: [2, 3],
    tensors: { 0: 'x' },
    rows: [
      ['exponent NaN', { 1: NaN }, 'exponent', Arg],
      ['exponent a string', { 1: '2' }, 'exponent', Arg],
      ['exponent left out', { 1: undefined }, 'exponent', Arg],
    ],
  },
  { op: 'gelu', fn: dn.gelu, args: () => [t().m, {}], out: [2, 3], tensors: { 0: 'x' }, options: 1, rows: [["approximate 'fast'", { 1: { approximate: 'fast' } }, 'approximate', Arg]] },
  {
    op: 'where',
    fn: dn.where,
    args: () => [t().m, t().m, 0],
    out: [2, 3],
    tensors: { 0: 'cond', 1: 'a', 2: 'b' },
    numbers: [1, 2],
    rows: [['shapes that do not broadcast', { 1: t().m34 }, '[3,4]', Shp]],
  },
  // Shape ops.
  {
    op: 'reshape',
    fn: dn.reshape,
    args: () => [t().m, [3, 2]],
    out: [3, 2],
    tensors: { 0: 'x' },
    rows: [
      ['shape a number', { 1: 6 }, 'shape', Arg],
      ['a negative size', { 1: [-2, -3] }, 'size', Shp],
      ['a fractional size', { 1: [1.5, 4] }, 'size', Shp],
      ['a NaN size', { 1: [NaN, 6] }, 'size', Shp],
      ['an Infinity size', { 1: [Infinity] }, 'size', Shp],
      ['a string size', { 1: ['6'] }, 'size', Arg],
      ['two -1s', { 1: [-1, -1] }, '-1', Shp],
      ['the wrong element count', { 1: [4, 2] }, 'view', Shp],
    ],
  },
  {
    op: 'transpose',
    fn: dn.transpose,
    args: () => [t().m, [1, 0]],
    out: [3, 2],
    tensors: { 0: 'x' },
    rows: [
      ['perm too short', { 1: [0] }, 'perm', Shp],
      ['perm repeats an axis', { 1: [0, 0] }, 'perm', Shp],
      ['perm out of range', { 1: [0, 2] }, 'perm', Shp],
      ['perm fractional', { 1: [0.5, 1] }, 'perm', Shp],
      ['perm a string', { 1: '10' }, 'perm', Arg],
    ],
  },
  {
    op: 'concat',
    fn: dn.concat,
    args: () => [[t().m, t().m], 0],
    out: [4, 3],
    rows: [
      ['xs empty', { 0: [] }, 'tensors', Arg],
      ['xs a tensor', { 0: t().m }, 'tensors', Arg],
      ['a disposed member', { 0: [t().m, f.disposed] }, 'tensors[1]', dn.DisposedError],
      ['a member from before shutdown', { 0: [f.stale, t().m] }, 'tensors[0]', dn.NoDeviceError],
      ['a member a number', { 0: [t().m, 1] }, 'tensors[1]', Arg],
      ['axis out of range', { 1: 2 }, 'axis', Shp],
      ['axis fractional', { 1: 0.5 }, 'axis', Shp],
      ['axis NaN', { 1: NaN }, 'axis', Shp],
      ['axis left out', { 1: undefined }, 'axis', Arg],
      ['mismatched sizes off the axis', { 0: [t().m, t().m34] }, '[3,4]', Shp],
    ],
  },
  {
    op: 'split',
    fn: dn.split,
    args: () => [t().m, [1, 2], 1],
    out: [[2, 1], [2, 2]],
    tensors: { 0: 'x' },
    rows: [
      ['sizes that do not sum to the axis', { 1: [1, 1] }, 'sizes', Shp],
      ['a negative size', { 1: [-1, 4] }, 'sizes', Shp],
      ['a fractional size', { 1: [1.5, 1.5] }, 'sizes', Shp],
      ['sizes a string', { 1: '12' }, 'sizes', Arg],
      ['axis out of range', { 2: 2 }, 'axis', Shp],
      ['axis left out', { 2: undefined }, 'axis', Arg],
    ],
  },
  {
    op: 'stack',
    fn: dn.stack,
    args: () => [[t().m, t().m], 0],
    out: [2, 2, 3],
    rows: [
      ['xs empty', { 0: [] }, 'tensors', Arg],
      ['a disposed member', { 0: [t().m, f.disposed] }, 'tensors[1]', dn.DisposedError],
      ['mismatched shapes', { 0: [t().m, t().m34] }, '[3,4]', Shp],
      ['axis out of range', { 1: 4 }, 'axis', Shp],
      ['axis fractional', { 1: 0.5 }, 'axis', Shp],
      ['axis a string', { 1: '0' }, 'axis', Arg],
    ],
  },
  {
    op: 'unstack',
    fn: dn.unstack,
    args: () => [t().m, 0],
    out: [[3], [3]],
    tensors: { 0: 'x' },
    rows: [
      ['axis out of range', { 1: 2 }, 'axis', Shp],
      ['axis NaN', { 1: NaN }, 'axis', Shp],
      ['axis a string', { 1: '0' }, 'axis', Arg],
    ],
  },
  {
    op: 'slice',
    fn: dn.slice,
    args: () => [t().m, [0, 1], [2, 2]],
    out: [2, 2],
    tensors: { 0: 'x' },
    rows: [
      ['begin too long', { 1: [0, 0, 0] }, 'begin', Shp],
      ['begin fractional', { 1: [0.5, 0] }, 'begin', Shp],
      ['begin NaN', { 1: [NaN, 0] }, 'begin', Shp],
      ['begin a number', { 1: 0 }, 'begin', Arg],
      ['size past the end', { 2: [3, 1] }, 'size', Shp],
      ['size -2', { 2: [-2, 1] }, 'size', Shp],
    ],
  },
  {
    op: 'stridedSlice',
    fn: dn.stridedSlice,
    args: () => [t().m, [0, 0], [2, 3], [1, 1]],
    out: [2, 3],
    tensors: { 0: 'x' },
    rows: [
      ['a zero stride', { 3: [0, 1] }, 'strides', Shp],
      ['a fractional stride', { 3: [1.5, 1] }, 'strides', Shp],
      ['end too long', { 2: [2, 3, 1] }, 'end', Shp],
      ['end left out', { 2: undefined }, 'end', Arg],
      ['begin Infinity', { 1: [Infinity, 0] }, 'begin', Shp],
    ],
  },
  {
    op: 'reverse',
    fn: dn.reverse,
    args: () => [t().m, 1],
    out: [2, 3],
    tensors: { 0: 'x' },
    rows: [
      ['axis out of range', { 1: 2 }, 'axes', Shp],
      ['axis fractional', { 1: [0.5] }, 'axes[0]', Shp],
      ['axis a string', { 1: '1' }, 'axes', Arg],
    ],
  },
  {
    op: 'tile',
    fn: dn.tile,
    args: () => [t().m, [2, 1]],
    out: [4, 3],
    tensors: { 0: 'x' },
    rows: [
      ['reps too short', { 1: [2] }, 'reps', Shp],
      ['a negative rep', { 1: [-1, 1] }, 'reps', Shp],
      ['a fractional rep', { 1: [1.5, 1] }, 'reps', Shp],
      ['reps a number', { 1: 2 }, 'reps', Arg],
    ],
  },
  {
    op: 'pad2d',
    fn: dn.pad2d,
    args: () => [t().img, [1, 1, 1, 1], {}],
    out: [2, 6, 6, 3],
    tensors: { 0: 'x' },
    options: 2,
    rows: [
      ['x of rank 2', { 0: t().m }, 'x', Shp],
      ['a negative pad', { 1: [-1, 0, 0, 0] }, 'pads', Shp],
      ['a fractional pad', { 1: 0.5 }, 'pads', Shp],
      ['a NaN pad', { 1: [NaN, 0, 0, 0] }, 'pads', Shp],
      ['three pads', { 1: [1, 1, 1] }, 'pads', Shp],
      ['pads a string', { 1: '1' }, 'pads', Arg],
      ["mode 'circular'", { 2: { mode: 'circular' } }, 'mode', Arg],
      ['reflect wider than the image', { 1: [4, 0, 0, 0], 2: { mode: 'reflect' } }, 'reflect', Shp],
      ['value a string', { 2: { value: '1' } }, 'value', Arg],
    ],
  },
  // Reductions.
  ...(['sum', 'mean', 'max', 'min'] as const).map((op): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().m, 1, false],
    out: [2],
    tensors: { 0: 'x' },
    rows: [
      ['axis out of range', { 1: 2 }, 'axis', Shp],
      ['axis fractional', { 1: 0.5 }, 'axis', Shp],
      ['axis NaN', { 1: NaN }, 'axis', Shp],
      ['axis a string', { 1: '1' }, 'axis', Arg],
      ['an axis twice', { 1: [1, -1] }, 'axis', Shp],
      ['keepDims a string', { 2: 'yes' }, 'keepDims', Arg],
    ],
  })),
  ...(['argmax', 'argmin'] as const).map((op): OpSpec => ({
    op,
    fn: dn[op],
    args: () => [t().m, 1],
    out: [2],
    tensors: { 0: 'x' },
    rows: [
      ['axis left out', { 1: undefined }, 'axis', Arg],
      ['axis out of range', { 1: -3 }, 'axis', Shp],
      ['axis a list', { 1: [0, 1] }, 'axis', Arg],
      ['keepDims a number', { 2: 1 }, 'keepDims', Arg],
    ],
  })),
];

/** dn.tensor, zeros, full and randomUniform take data and shapes, not tensors. */
const creation = (): BadRow[] => [
  ...[
    ['a BigInt64Array', () => new BigInt64Array(4), 'data'],
    ['a string', () => '1234', 'data'],
    ['a number', () => 4, 'data'],
    ['undefined', () => undefined, 'data'],
    ['a Tensor', () => t().v, 'data'],
    ['a string among the values', () => [1, '2', 3, 4], 'data[1]'],
    ['ragged rows', () => [[1, 2], [3]], 'ragged'],
  ].map(([what, data, names]): BadRow => ({ op: 'tensor', what: `data: ${what as string}`, names: names as string, call: () => dn.tensor((data as () => never)(), [2, 2]) })),
  ...[
    ['a length that does not fill it', [3, 2], 'shape'],
    ['a negative size', [-2, -2], 'shape'],
    ['a fractional size', [1.5, 2], 'shape'],
    ['a NaN size', [NaN, 4], 'shape'],
    ['an Infinity size', [Infinity], 'shape'],
    ['a string size', ['2', 2], 'shape'],
    ['a number', 4, 'shape'],
  ].map(([what, shape, names]): BadRow => ({ op: 'tensor', what: `shape: ${what as string}`, names: names as string, cls: Shp, call: () => dn.tensor([1, 2, 3, 4], shape as never) })),
  { op: 'tensor', what: 'options: an unknown key', names: 'bogusOption', cls: Arg, call: () => dn.tensor([1, 2], [2], { bogusOption: 1 } as never) },
  { op: 'tensor', what: 'requiresGrad a string', names: 'requiresGrad', cls: Arg, call: () => dn.tensor([1, 2], [2], { requiresGrad: 'yes' } as never) },
  { op: 'tensor', what: 'name a number', names: 'name', cls: Arg, call: () => dn.tensor([1, 2], [2], { name: 3 } as never) },
  ...(['zeros', 'full'] as const).flatMap((op): BadRow[] => [
    [-1, 2],
    [0.5],
    [NaN],
    ['3'],
    3,
    undefined,
  ].map((shape) => ({ op, what: `shape ${JSON.stringify(shape)}`, names: 'shape', cls: Shp, call: () => (op === 'zeros' ? dn.zeros(shape as never) : dn.full(shape as never, 1)) }))),
  { op: 'full', what: 'value a string', names: 'value', cls: Arg, call: () => dn.full([2], '1' as never) },
  { op: 'full', what: 'value left out', names: 'value', cls: Arg, call: () => (dn.full as unknown as (s: number[]) => unknown)([2]) },
  { op: 'zeros', what: 'an unknown option', names: 'bogusOption', cls: Arg, call: () => dn.zeros([2], { bogusOption: 1 } as never) },
  ...[
    [[-1, 2], 1, 'shape'],
    [[0.5], 1, 'shape'],
    [['2'], 1, 'shape'],
    [[2], -1, 'seed'],
    [[2], 0.5, 'seed'],
    [[2], NaN, 'seed'],
    [[2], '1', 'seed'],
    [[2], undefined, 'seed'],
  ].map(([shape, seed, names]): BadRow => ({ op: 'randomUniform', what: `shape ${JSON.stringify(shape)}, seed ${String(seed)}`, names: names as string, cls: Shp, call: () => dn.randomUniform(shape as never, seed as never) })),
];

describe('bad input to tensors, element-wise, shape and reduction ops', () => {
  it('every row is refused by name, before any GPU work', async () => {
    await expectAllRefused([...specs().flatMap((s) => rowsOf(s, f)), ...creation()]);
  });

  it('controls: the same calls, well formed, give tensors of the right shapes', () => {
    expectControls([
      ...specs(),
      { op: 'tensor', fn: dn.tensor, args: () => [[[1, 2], [3, 4]], undefined, { requiresGrad: false, name: 'w' }], out: [2, 2] },
      { op: 'zeros', fn: dn.zeros, args: () => [[2, 0, 3], { requiresGrad: true }], out: [2, 0, 3] },
      { op: 'full', fn: dn.full, args: () => [[3], 0, { name: 'z' }], out: [3] },
      { op: 'randomUniform', fn: dn.randomUniform, args: () => [[2, 3], 7], out: [2, 3] },
    ]);
  });

  it('controls: a constant, options and data that are well formed are used as given', async () => {
    const x = dn.tensor([1, -2, 3]);
    const got = dn.scope(() => ({
      scaled: dn.scale(x, 3),
      shifted: dn.addScalar(x, 0.5),
      clamped: dn.clamp(x, -1, 2),
      // Other numeric typed arrays convert to float32, as tf.tensor takes them.
      wide: dn.tensor(new Float64Array([0.5, 1e-3])),
      ints: dn.tensor(new Int32Array([-7, 7])),
    }));
    expect(Array.from(await got.scaled.toArray())).toEqual([3, -6, 9]);
    expect(Array.from(await got.shifted.toArray())).toEqual([1.5, -1.5, 3.5]);
    expect(Array.from(await got.clamped.toArray())).toEqual([1, -1, 2]);
    expect(Array.from(await got.wide.toArray())).toEqual([0.5, Math.fround(1e-3)]);
    expect(Array.from(await got.ints.toArray())).toEqual([-7, 7]);
    const w = dn.tensor([1, 2], [2], { requiresGrad: true, name: 'w' });
    expect([w.requiresGrad, w.name]).toEqual([true, 'w']);
    for (const v of [x, w, ...Object.values(got)]) v.dispose();
  });
});
