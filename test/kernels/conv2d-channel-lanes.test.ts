// conv2d's forward by a lane per 4 output channels (src/kernels/conv2d-channel-lanes.ts) against
// the float64 reference: VGG16's first conv (3 channels in, 64 out), one channel in, strides,
// asymmetric padding, 1x1, the largest K·Cin it takes, rows whose width is not a multiple of a
// strip, bias, the fused ReLU (NaN kept), and batches split into chunks past the binding limit.
// Its backward is the direct conv's: the gradients are compared with the reference's only to show
// that forcing the algorithm leaves them alone.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { convAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { channelLanesChunk, channelLanesFits, CHANNEL_LANES_MAX_TAPS, CHANNEL_LANES_PIXELS } from '../../src/kernels/conv2d-channel-lanes.js';
import { emptyTensor } from '../../src/graph/tensor.js';
import type { NdArray } from '../../src/reference/array.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose } from '../helpers/close.js';
import { convCaseData } from '../helpers/conv-case.js';
import { fromNd as fromData, useGpu } from '../helpers/gpu.js';
import { BIAS, expectChunkedForward, expectFewInputsFits, expectForcedForward, expectReferenceGradients, expectReluKeepsNan, fewInputsGeometry, forcedCaseTitle, RELU, type ForcedCase } from '../helpers/forced-conv.js';

useGpu();

// Float32 sums of at most 36 products of values in [-1, 1] (K·Cin <= 36), accumulated in the
// reference's tap order but in float32 with fused multiply-adds: errors of a few float32 ulps of
// sums below 36, well inside 1e-4.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const fromNd = (a: NdArray, requiresGrad = false): dn.Tensor => fromData(a.data, a.shape, requiresGrad);
const KERNEL = 'conv2d.forwardChannelLanes';

afterEach(() => {
  dn.setConvAlgorithm('auto');
  runtime().setBindingLimit(null);
});

// Each (bias, activation) pair is a kernel of its own for lavapipe to compile (up to 30 s for the
// largest here): the first case takes both, the others one each, alternately.
const CASES: ForcedCase[] = [
  { name: "VGG16's conv1_1 shape: 3 channels, 64 out", x: [2, 9, 19, 3], k: [3, 3], cout: 64, opts: { padding: 'same' }, variants: [BIAS, RELU] },
  { name: 'one channel in (a grey image), 32 out, a row of 13', x: [2, 7, 13, 1], k: [3, 3], cout: 32, opts: { padding: 'same' }, variants: [RELU] },
  { name: '3x3 stride 2 valid over 4 channels: K·Cin = 36, the most it takes', x: [1, 9, 10, 4], k: [3, 3], cout: 4, opts: { padding: 'valid', stride: 2 }, variants: [BIAS] },
  { name: 'explicit pads [2, 0, 1, 3], 2 channels', x: [2, 6, 5, 2], k: [3, 3], cout: 8, opts: { padding: [2, 0, 1, 3] }, variants: [RELU] },
  { name: '1x1 stride 2, 6 -> 4', x: [3, 5, 6, 6], k: [1, 1], cout: 4, opts: { stride: 2 }, variants: [BIAS] },
  { name: '5x5 stride [1, 2], 1 -> 8', x: [1, 11, 23, 1], k: [5, 5], cout: 8, opts: { padding: 'same', stride: [1, 2] }, variants: [RELU] },
];

describe("conv2d forward by 'channel-lanes'", () => {
  for (const cs of CASES) it(forcedCaseTitle(cs), () => expectForcedForward('channel-lanes', KERNEL, cs, 81, TOL));

  it('strips of 1, 3, 8 and 16 pixels, rows not a multiple of them: the same output', async () => {
    const d = convCaseData({ x: [2, 5, 13, 3], k: [3, 3], cout: 8, opts: { padding: 'same' } }, 82);
    const [x, w, b] = [fromNd(d.x), fromNd(d.w), fromNd(d.b)];
    const g = conv2dGeometry(x.shape, w.shape, d.opts);
    const want = conv2dForwardRef(d.x, d.w, d.b, d.opts).data;
    for (const pixels of [1, 3, 8, 16]) {
      const y = emptyTensor([g.n, g.ho, g.wo, g.cout], 'test.y');
      channelLanesChunk(g, x, w, b, y, false, pixels);
      expectClose(`${pixels} pixels a strip`, await y.toArray(), want, TOL);
      y.dispose();
    }
    expect(CHANNEL_LANES_PIXELS).toBe(8);
    for (const t of [x, w, b]) t.dispose();
  });

  it('keeps NaN through its fused ReLU, as relu does, and max(y, 0) elsewhere', () => expectReluKeepsNan('channel-lanes', 83));

  it('splits a batch past the binding limit into chunks of samples', () => expectChunkedForward('channel-lanes', KERNEL, 3, 84));

  it('leaves the gradients to the direct kernels: the reference backward', () => expectReferenceGradients('channel-lanes', 3, 85));

  it('fits forwards of K·Cin <= 36 with output channels in vec4s, falls back to what runs unforced elsewhere, and no rule picks it', () => {
    expect(CHANNEL_LANES_MAX_TAPS).toBe(36);
    expectFewInputsFits('channel-lanes', channelLanesFits);
    expect(convAlgorithm('forward', fewInputsGeometry(3, 64))).not.toBe('channel-lanes');
  });
});
