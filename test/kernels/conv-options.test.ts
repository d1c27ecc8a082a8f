// Options the conv ops do not know, or know and do not implement, are ArgumentErrors that name
// them: a misspelt `strides` used to run at stride 1, an activation on convTranspose2d or
// depthwiseConv2d used to be dropped.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../../src/kernels/conv2d.js';
import { convTranspose2dForward } from '../../src/kernels/conv-transpose2d.js';
import { depthwiseConv2dBackwardInput, depthwiseConv2dForward } from '../../src/kernels/depthwise-conv2d.js';
import { nd } from '../../src/reference/array.js';
import { depthwiseConv2dForwardRef } from '../../src/reference/depthwise-conv.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const CONV2D_KNOWN = 'the options are stride, padding, dilation, groups, activation';

describe('conv option checks', () => {
  it('conv2d refuses an unknown option in every entry point, listing the known ones', () => {
    dn.scope(() => {
      const x = dn.zeros([1, 8, 8, 3]);
      const w = dn.zeros([3, 3, 3, 8]);
      const dy = dn.zeros([1, 6, 6, 8]);
      const strides = { strides: 2 } as never;
      expectThrows(() => dn.conv2d(x, w, null, strides), dn.ArgumentError, `conv2d: unknown option 'strides'; ${CONV2D_KNOWN}`);
      expectThrows(() => conv2dForward(x, w, null, strides), dn.ArgumentError, `conv2d: unknown option 'strides'; ${CONV2D_KNOWN}`);
      expectThrows(() => conv2dBackwardInput(dy, w, [1, 8, 8, 3], strides), dn.ArgumentError, "conv2d.backwardInput: unknown option 'strides'");
      expectThrows(() => conv2dBackwardWeight(dy, x, [3, 3, 3, 8], strides), dn.ArgumentError, "conv2d.backwardWeight: unknown option 'strides'");
      expect(dn.conv2d(x, w, null, { stride: 2, padding: 'same', dilation: 1, groups: 1, activation: 'relu' }).shape).toEqual([1, 4, 4, 8]);
    });
  });

  it('convTranspose2d refuses dilation and activation by name, and unknown options', () => {
    dn.scope(() => {
      const x = dn.zeros([1, 4, 4, 3]);
      const w = dn.zeros([2, 2, 8, 3]);
      for (const run of [dn.convTranspose2d, convTranspose2dForward]) {
        expectThrows(() => run(x, w, null, { stride: 2, dilation: 2 } as never), dn.ArgumentError, 'convTranspose2d: dilation is not supported');
        expectThrows(() => run(x, w, null, { activation: 'relu' } as never), dn.ArgumentError, 'convTranspose2d: activation is not supported');
        expectThrows(() => run(x, w, null, { strides: 2 } as never), dn.ArgumentError, "convTranspose2d: unknown option 'strides'; the options are stride, padding");
      }
      expect(dn.convTranspose2d(x, w, null, { stride: 2, padding: 'same' }).shape).toEqual([1, 8, 8, 8]);
      // Their neutral values, as an options object shared with conv2d holds them, are taken.
      expect(dn.convTranspose2d(x, w, null, { stride: 2, padding: 'same', dilation: 1, activation: 'none' } as never).shape).toEqual([1, 8, 8, 8]);
    });
  });

  it('depthwiseConv2d refuses an activation (relu or any other) and unknown options', () => {
    dn.scope(() => {
      const x = dn.zeros([1, 8, 8, 4]);
      const w = dn.zeros([3, 3, 4, 2]);
      const dy = dn.zeros([1, 6, 6, 8]);
      for (const run of [dn.depthwiseConv2d, depthwiseConv2dForward]) {
        for (const activation of ['relu', 'sigmoid']) {
          expectThrows(() => run(x, w, null, { activation } as never), dn.ArgumentError, 'depthwiseConv2d: activation is not supported');
        }
        expectThrows(() => run(x, w, null, { strides: 2 } as never), dn.ArgumentError, "depthwiseConv2d: unknown option 'strides'; the options are stride, padding, dilation");
        expectThrows(() => run(x, w, null, { groups: 4 } as never), dn.ArgumentError, 'depthwiseConv2d: groups is not an option here');
      }
      expectThrows(() => depthwiseConv2dBackwardInput(dy, w, [1, 8, 8, 4], { strides: 2 } as never), dn.ArgumentError, "depthwiseConv2d: unknown option 'strides'");
      expect(dn.depthwiseConv2d(x, w, null, { stride: 2, padding: 'same', dilation: 1 }).shape).toEqual([1, 4, 4, 8]);
    });
  });

  // conv2d runs groups = Cin through depthwiseConv2d with its own per-group options (groups: 1,
  // activation: 'none'), which the checks above must let through; its ReLU comes after.
  it('conv2d with groups = Cin and a ReLU still runs through the depthwise kernels and matches the reference', async () => {
    const [xs, ws] = [[1, 5, 6, 4], [3, 3, 1, 8]];
    const x = uniform(120, 1);
    const w = uniform(72, 2);
    const want = depthwiseConv2dForwardRef(nd(x, xs), nd(w, [3, 3, 4, 2]), null, { padding: 'same' }).data.map((v) => Math.max(v, 0));
    const [xt, wt] = [fromNd(x, xs, true), fromNd(w, ws, true)];
    const y = dn.conv2d(xt, wt, null, { groups: 4, padding: 'same', activation: 'relu' });
    expectClose('grouped depthwise relu', await y.toArray(), want);
    const dy = dn.full(y.shape, 1);
    y.backward(dy);
    expect(xt.grad!.shape).toEqual(xs);
    const dx = conv2dBackwardInput(dy, wt, xs, { groups: 4, padding: 'same', activation: 'relu' });
    expect(dx.shape).toEqual(xs);
    for (const t of [xt, wt, y, dy, dx]) t.dispose();
  });
});
