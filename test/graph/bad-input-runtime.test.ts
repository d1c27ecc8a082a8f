// The bad-input sweep, part 3: the device and graph functions (init, scope, noGrad, profile,
// backward and reads), the raw conv entry points and the conv algorithm settings. As parts 1 and
// 2: each row is a DawnetError naming the function and the argument, with nothing allocated or
// dispatched; the controls run the same calls well formed.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectAllRefused, expectControls, filled, rowsOf, useSweep, type BadRow, type OpSpec } from '../helpers/bad-input.js';

const f = useSweep(() => ({
  img: filled([2, 5, 5, 3]),
  w: filled([3, 3, 3, 4], -0.5, 0.5),
  dy: filled([2, 3, 3, 4]),
  m: filled([2, 3]),
  scalar: filled([]),
  grad: filled([2, 3], 0.1, 0.9, { requiresGrad: true }),
}));
/** A recorded product and sum of `grad`, for the backward rows: made once, as a refused call leaves them. */
let graph: { doubled: dn.Tensor; total: dn.Tensor };
const t = () => f.t;
const { ArgumentError: Arg, ShapeError: Shp } = dn;

const specs = (): OpSpec[] => [
  {
    op: 'conv2d',
    fn: dn.conv2dForward,
    args: () => [t().img, t().w, null, {}],
    out: [2, 3, 3, 4],
    tensors: { 0: 'x', 1: 'w' },
    optional: { 2: 'b' },
    options: 3,
    rows: [['a zero stride', { 3: { stride: 0 } }, 'stride', Shp]],
  },
  {
    op: 'conv2d.backwardInput',
    fn: dn.conv2dBackwardInput,
    args: () => [t().dy, t().w, [2, 5, 5, 3], {}],
    out: [2, 5, 5, 3],
    tensors: { 0: 'dy', 1: 'w' },
    options: 3,
    rows: [
      ['xShape a tensor', { 2: t().img }, 'xShape', Arg],
      ['xShape of the wrong size', { 2: [2, 6, 6, 3] }, 'dy', Shp],
      ['xShape with a negative size', { 2: [2, -5, 5, 3] }, 'xShape', Shp],
      ['xShape with a fractional size', { 2: [2, 5.5, 5, 3] }, 'xShape', Shp],
    ],
  },
  {
    op: 'conv2d.backwardWeight',
    fn: dn.conv2dBackwardWeight,
    args: () => [t().dy, t().img, [3, 3, 3, 4], {}],
    out: [3, 3, 3, 4],
    tensors: { 0: 'dy', 1: 'x' },
    options: 3,
    rows: [
      ['wShape a string', { 2: '3334' }, 'wShape', Arg],
      ['wShape of rank 2', { 2: [3, 4] }, 'wShape', Shp],
      ['wShape with NaN', { 2: [3, NaN, 3, 4] }, 'wShape', Shp],
    ],
  },
  { op: 'conv2d.backwardBias', fn: dn.conv2dBackwardBias, args: () => [t().dy], out: [4], tensors: { 0: 'dy' } },
  {
    op: 'setConvAlgorithm',
    fn: dn.setConvAlgorithm,
    args: () => ['auto'],
    rows: [
      ["'fast'", { 0: 'fast' }, 'algorithm', Arg],
      ['left out', { 0: undefined }, 'algorithm', Arg],
    ],
  },
  {
    op: 'setConvTile',
    fn: dn.setConvTile,
    args: () => [null],
    rows: [
      ["'huge'", { 0: 'huge' }, 'tile', Arg],
      ['a number', { 0: 64 }, 'tile', Arg],
      ['an object missing sizes', { 0: { bm: 64 } }, 'tile', Arg],
    ],
  },
  {
    op: 'setUniformWeightsPixels',
    fn: dn.setUniformWeightsPixels,
    args: () => [null],
    rows: [
      ['0', { 0: 0 }, 'pixels', Arg],
      ['2.5', { 0: 2.5 }, 'pixels', Arg],
      ["'4'", { 0: '4' }, 'pixels', Arg],
    ],
  },
  {
    op: 'applyConvTuning',
    fn: dn.applyConvTuning,
    args: () => [dn.convTuning()],
    rows: [
      ['a number', { 0: 3 }, 'tuning', dn.FormatError],
      ['text that is not JSON', { 0: '{ nope' }, 'tuning', dn.FormatError],
      ['an object of another format', { 0: { format: 'other' } }, 'tuning', dn.FormatError],
    ],
  },
  { op: 'scope', fn: dn.scope, args: () => [() => 1], rows: [['fn a tensor', { 0: t().m }, 'fn', Arg], ['fn left out', { 0: undefined }, 'fn', Arg]] },
  { op: 'noGrad', fn: dn.noGrad, args: () => [() => 1], rows: [['fn a number', { 0: 3 }, 'fn', Arg]] },
];

/** Async functions and methods: their rejections are the refusals. */
const calls = (): BadRow[] => [
  { op: 'init', what: 'an unknown option', names: 'memory_budget', cls: Arg, call: () => dn.init({ memory_budget: 1 } as never) },
  { op: 'init', what: 'options a string', names: 'options', cls: Arg, call: () => dn.init('vulkan' as never) },
  { op: 'init', what: "powerPreference 'fast'", names: 'powerPreference', cls: Arg, call: () => dn.init({ powerPreference: 'fast' as never }) },
  { op: 'init', what: 'memoryBudget a string', names: 'memoryBudget', cls: Arg, call: () => dn.init({ memoryBudget: '1e9' as never }) },
  { op: 'init', what: 'memoryBudget -1', names: 'memoryBudget', cls: Arg, call: () => dn.init({ memoryBudget: -1 }) },
  { op: 'init', what: 'dawnOptions a string', names: 'dawnOptions', cls: Arg, call: () => dn.init({ dawnOptions: 'backend=vulkan' as never }) },
  { op: 'profile', what: 'fn a number', names: 'fn', cls: Arg, call: () => dn.profile(3 as never) },
  { op: 'tuneConvs', what: 'fn left out', names: 'fn', cls: Arg, call: () => dn.tuneConvs(undefined as never) },
  ...[
    [{ reps: 0 }, 'reps'],
    [{ reps: 1.5 }, 'reps'],
    [{ margin: 1 }, 'margin'],
    [{ margin: NaN }, 'margin'],
    [{ clock: 'cpu' }, 'clock'],
    [{ algorithms: ['fast'] }, 'algorithms'],
    [{ algorithms: 'direct' }, 'algorithms'],
    [{ tiles: ['huge'] }, 'tiles'],
    [{ repeats: 3 }, 'repeats'],
  ].map(([options, names]): BadRow => ({
    op: 'tuneConvs',
    what: JSON.stringify(options),
    names: names as string,
    cls: Shp,
    // The step would run a conv: refused options must stop it before it does.
    call: () => dn.tuneConvs(() => dn.conv2d(t().img, t().w).dispose(), options as never),
  })),
  { op: 'backward', what: 'dy of another shape', names: 'dy', cls: Shp, call: () => graph.doubled.backward(t().img) },
  { op: 'backward', what: 'dy a number', names: 'dy', cls: Arg, call: () => graph.doubled.backward(3 as never) },
  { op: 'backward', what: 'dy disposed', names: 'dy', cls: dn.DisposedError, call: () => graph.doubled.backward(f.disposed) },
  { op: 'backward', what: 'dy from before shutdown', names: 'dy', cls: dn.NoDeviceError, call: () => graph.doubled.backward(f.stale) },
  { op: 'backward', what: 'retainGraph a string', names: 'retainGraph', cls: Arg, call: () => graph.total.backward(undefined, { retainGraph: 'yes' as never }) },
  { op: 'backward', what: 'no dy for a loss of 6', names: 'dy', cls: Shp, call: () => graph.doubled.backward() },
  { op: 'backward', what: 'a loss that needs no gradient', names: 'gradient', cls: Shp, call: () => t().scalar.backward() },
  { op: 'item', what: 'a tensor of 6', names: 'item', cls: Shp, call: () => t().m.item() },
  { op: 'toArray', what: 'a disposed tensor', names: 'dispose', cls: dn.DisposedError, call: () => f.disposed.toArray() },
  { op: 'toArray', what: 'a tensor from before shutdown', names: 'shutdown', cls: dn.NoDeviceError, call: () => f.stale.toArray() },
  { op: 'item', what: 'a disposed tensor', names: 'dispose', cls: dn.DisposedError, call: () => f.disposed.item() },
  { op: 'toNested', what: 'a tensor from before shutdown', names: 'shutdown', cls: dn.NoDeviceError, call: () => f.stale.toNested() },
];

describe('bad input to the device, graph and conv-setting functions', () => {
  it('every row is refused by name, before any GPU work', async () => {
    graph = { doubled: dn.mul(t().grad, 2), total: dn.sum(t().grad) };
    await expectAllRefused([...specs().flatMap((s) => rowsOf(s, f)), ...calls()]);
    // Nothing refused touched the graph: both still backpropagate.
    const ones = dn.full([2, 3], 1);
    graph.doubled.backward(ones);
    ones.dispose();
    graph.total.backward();
    expect(Array.from(await t().grad.grad!.toArray())).toEqual([3, 3, 3, 3, 3, 3]);
    t().grad.zeroGrad();
    for (const g of Object.values(graph)) g.dispose();
  });

  it('controls: the same calls, well formed, work', async () => {
    expectControls(specs());
    expect(dn.setConvAlgorithm('direct')).toBe('auto');
    expect(dn.setConvAlgorithm('auto')).toBe('direct');
    dn.setUniformWeightsPixels(2);
    dn.setUniformWeightsPixels(null);
    expect(dn.applyConvTuning(dn.convTuning())).toBe(dn.convTuning().convs.length);
    expect(dn.noGrad(() => dn.isRecording())).toBe(false);
    await dn.init({ powerPreference: 'low-power', memoryBudget: 2 ** 30 }); // already initialised: a no-op
    const tuned = await dn.tuneConvs(() => dn.conv2d(t().img, t().w).dispose(), { reps: 1, margin: 0.5, clock: 'wall', algorithms: ['direct'], tiles: [] });
    expect(tuned).toEqual([]); // one algorithm: nothing to choose
    const loss = dn.scope(() => dn.sum(dn.mul(t().grad, 2)));
    loss.backward(undefined, { retainGraph: false });
    expect(Array.from(await t().grad.grad!.toArray())).toEqual([2, 2, 2, 2, 2, 2]);
    t().grad.zeroGrad();
    loss.dispose();
  });
});
