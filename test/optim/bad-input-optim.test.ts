// The bad-input sweep, part 5: dn.optim's constructors (PyTorch's and Keras's forms), the lr
// setter and clipGradNorm. Each row is a DawnetError naming the optimiser and the argument, with
// nothing allocated or dispatched; the controls build each optimiser well formed and step it.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectAllRefused, filled, useSweep, type BadRow } from '../helpers/bad-input.js';

const f = useSweep(() => ({
  w: filled([2, 3], 0.1, 0.9, { requiresGrad: true, name: 'w' }),
  b: filled([3], 0.1, 0.9, { requiresGrad: true, name: 'b' }),
  frozen: filled([3], 0.1, 0.9, { name: 'frozen' }),
}));
const t = () => f.t;
/** 2w, recorded: an op's output, which an optimiser must refuse as PyTorch does. */
let nonLeaf: dn.Tensor;
const { ArgumentError: Arg } = dn;
type Make = (params: unknown, opts?: unknown) => unknown;

const MAKERS: [string, Make][] = [
  ['Adam', (p, o) => new dn.optim.Adam(p as never, o as never)],
  ['AdamW', (p, o) => new dn.optim.AdamW(p as never, o as never)],
  ['SGD', (p, o) => new dn.optim.SGD(p as never, o as never)],
  ['RMSprop', (p, o) => new dn.optim.RMSprop(p as never, o as never)],
  ['Adagrad', (p, o) => new dn.optim.Adagrad(p as never, o as never)],
  ['Adam.keras', (p, o) => dn.optim.Adam.keras(p as never, o as never)],
  ['RMSprop.keras', (p, o) => dn.optim.RMSprop.keras(p as never, o as never)],
];

/** params stand-ins, each with the name its message gives. */
const badParams = (): [string, () => unknown, string, typeof dn.DawnetError][] => [
  ['params a model-like object', () => ({ parameters: () => [] }), 'params', Arg],
  ['params a tensor', () => t().w, 'params', Arg],
  ['params empty', () => [], 'empty', Arg],
  ['a number among params', () => [t().w, 3], 'params[1]', Arg],
  ['a disposed tensor among params', () => [t().w, f.disposed], 'params[1]', dn.DisposedError],
  ['a tensor from before shutdown', () => [f.stale], 'params[0]', dn.NoDeviceError],
  ['a { name, tensor } with a disposed tensor', () => [{ name: 'd', tensor: f.disposed }], 'params[0]', dn.DisposedError],
  ['the output of an op (not a leaf)', () => [nonLeaf], 'params[0]', Arg],
  ['a tensor listed twice', () => [t().w, t().w], 'params[1]', Arg],
];

/** Numeric options each optimiser reads, with values it must refuse. */
const OPTION_ROWS: Record<string, [string, unknown][]> = {
  Adam: [['lr', '0.1'], ['lr', NaN], ['lr', -1], ['beta1', 1], ['beta2', -0.1], ['eps', '1e-8'], ['weightDecay', -1], ['epsilonMode', 'tf'], ['learningRate', 0.1]],
  AdamW: [['lr', Infinity], ['weightDecay', NaN]],
  SGD: [['lr', null], ['momentum', 1.5], ['nesterov', 'yes'], ['weightDecay', '0']],
  RMSprop: [['alpha', 2], ['eps', -1], ['centered', 1], ['convention', 'torch'], ['rho', 0.9]],
  Adagrad: [['lrDecay', -1], ['initialAccumulatorValue', NaN], ['eps', '1e-10']],
  'Adam.keras': [['learningRate', -1], ['epsilon', '1e-7'], ['beta1', 1], ['amsgrad', true]],
  'RMSprop.keras': [['learningRate', NaN], ['rho', 2], ['lr', 0.01]],
};

const rows = (): BadRow[] => [
  ...MAKERS.flatMap(([op, make]): BadRow[] => [
    ...badParams().map(([what, params, names, cls]): BadRow => ({ op, what, names, cls, call: () => make(params()) })),
    { op, what: 'options a number (a positional lr)', names: 'options', cls: Arg, call: () => make([t().w], 0.01) },
    ...OPTION_ROWS[op].map(([key, value]): BadRow => ({ op, what: `${key} ${String(value)}`, names: key, cls: Arg, call: () => make([t().w], { [key]: value }) })),
  ]),
  ...[['0.1', Arg], [NaN, Arg], [-1, Arg], [undefined, Arg]].map(([lr, cls]): BadRow => ({
    op: 'SGD',
    what: `the lr setter given ${String(lr)}`,
    names: 'lr',
    cls: cls as typeof Arg,
    call: () => {
      const opt = new dn.optim.SGD([t().w]);
      opt.lr = lr as number;
    },
  })),
  ...badParams()
    .filter(([what]) => !/empty|twice|leaf/.test(what))
    .map(([what, params, names, cls]): BadRow => ({ op: 'clipGradNorm', what, names, cls, call: () => dn.optim.clipGradNorm(params() as never, 1) })),
  {
    op: 'clipGradNorm',
    what: 'a parameter whose gradient was disposed',
    names: 'params[0].grad',
    cls: dn.DisposedError,
    call: () => {
      t().b.grad = f.disposed;
      try {
        return dn.optim.clipGradNorm([t().b], 1);
      } finally {
        t().b.grad = null;
      }
    },
  },
  ...[0, -1, NaN, '1', undefined].map((maxNorm): BadRow => ({ op: 'clipGradNorm', what: `maxNorm ${String(maxNorm)}`, names: 'maxNorm', cls: Arg, call: () => dn.optim.clipGradNorm([t().w], maxNorm as never) })),
];

describe('bad input to dn.optim', () => {
  it('every row is refused by name, before any GPU work', async () => {
    nonLeaf = dn.mul(t().w, 2);
    await expectAllRefused(rows());
    nonLeaf.dispose();
  });

  it('controls: each optimiser built well formed steps its parameters', async () => {
    const before = Array.from(await t().w.toArray());
    for (const [op, make] of MAKERS) {
      const opt = make([t().w, { name: 'bias', tensor: t().b }, t().frozen], { ...(op.endsWith('keras') ? { learningRate: 0.1 } : { lr: 0.1 }) }) as dn.optim.Optimizer;
      t().w.grad = dn.full([2, 3], 1);
      opt.step();
      opt.lr = 0.05;
      t().w.zeroGrad();
      opt.dispose();
    }
    const after = Array.from(await t().w.toArray());
    expect(after.every((v, i) => v < before[i]), `${before} -> ${after}`).toBe(true);
    t().w.grad = dn.full([2, 3], 3);
    const norm = dn.optim.clipGradNorm([t().w, t().b], 1);
    expect(await norm.item()).toBeCloseTo(3 * Math.sqrt(6), 4);
    norm.dispose();
    t().w.zeroGrad();
  });
});
