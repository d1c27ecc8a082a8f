// conv2d's forward with the weights in a uniform buffer (src/kernels/conv2d-uniform-weights.ts)
// against the float64 reference: both of its code shapes (taps unrolled with scalar loads of 3
// channels, VGG's conv1_1; a loop over taps with vec4 loads, the U-Net's level 1), strides,
// asymmetric padding, 1x1, rows whose width is not a multiple of the pixels a thread owns, bias
// and fused ReLU, and batches split into chunks past the binding limit. Its backward is the direct
// conv's (the reference's own is checked by finite differences in conv2d.test.ts), so the
// gradients are compared with the reference's here only to show that forcing the algorithm leaves
// them alone.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { ArgumentError, LimitError } from '../../src/errors.js';
import { runtime } from '../../src/gpu/runtime.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { convAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { defaultConvFamily } from '../../src/kernels/conv2d-launch.js';
import { pixelVariants, setUniformWeightsPixels, uniformWeightsChunk, uniformWeightsFits, uniformWeightsLayout, UNIFORM_WEIGHTS_MAX_COUT } from '../../src/kernels/conv2d-uniform-weights.js';
import { emptyTensor } from '../../src/graph/tensor.js';
import { nd, type NdArray } from '../../src/reference/array.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose } from '../helpers/close.js';
import { convCaseData } from '../helpers/conv-case.js';
import { fromNd as fromData, useGpu } from '../helpers/gpu.js';
import { BIAS, expectChunkedForward, expectForcedForward, expectReferenceGradients, forcedCaseTitle, RELU, type ForcedCase } from '../helpers/forced-conv.js';

useGpu();

// As conv2d.test.ts: float32 sums of up to 288 products of values in [-1, 1], accumulated in a
// different order from the reference's; the largest error seen here was about 3e-6.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const fromNd = (a: NdArray, requiresGrad = false): dn.Tensor => fromData(a.data, a.shape, requiresGrad);
const relu = (a: NdArray): NdArray => nd(a.data.map((v) => Math.max(v, 0)), a.shape);
const KERNEL = 'conv2d.forwardUniformWeights';

afterEach(() => {
  dn.setConvAlgorithm('auto');
  dn.clearConvTuning();
  runtime().setBindingLimit(null);
});

const CASES: ForcedCase[] = [
  { name: "VGG's conv1_1 shape: 3 channels, 64 out, taps unrolled", x: [2, 9, 11, 3], k: [3, 3], cout: 64, opts: { padding: 'same' }, variants: [BIAS, RELU] },
  { name: "U-Net level 1 shape: 32 -> 32, a loop over taps, vec4 loads", x: [2, 10, 7, 32], k: [3, 3], cout: 32, opts: { padding: 'same' }, variants: [BIAS, RELU] },
  { name: '3x3 stride 2 valid, 8 -> 12', x: [1, 9, 10, 8], k: [3, 3], cout: 12, opts: { padding: 'valid', stride: 2 }, variants: [BIAS, RELU] },
  { name: 'explicit pads [2, 0, 1, 3], 5 channels', x: [2, 6, 5, 5], k: [3, 3], cout: 8, opts: { padding: [2, 0, 1, 3] }, variants: [BIAS, RELU] },
  { name: '1x1, 20 -> 4', x: [3, 5, 6, 20], k: [1, 1], cout: 4, opts: {}, variants: [BIAS, RELU] },
  { name: '5x5 stride [1, 2], 4 -> 16', x: [1, 11, 13, 4], k: [5, 5], cout: 16, opts: { padding: 'same', stride: [1, 2] }, variants: [BIAS, RELU] },
];

describe("conv2d forward by 'uniform-weights'", () => {
  // Each combination is a kernel of its own for lavapipe to compile: two cover both flags.
  for (const cs of CASES) it(forcedCaseTitle(cs), () => expectForcedForward('uniform-weights', KERNEL, cs, 71, TOL));

  it("the GPU layouts (pixels a thread, taps unrolled or looped), rows not a multiple of the pixels: the same output", async () => {
    // Small channel counts keep lavapipe's compiles short; 4 channels take vec4 loads, 3 scalar ones.
    for (const cin of [4, 3]) {
      const d = convCaseData({ x: [2, 5, 13, cin], k: [3, 3], cout: 8, opts: { padding: 'same' } }, 72 + cin);
      const [x, w, b] = [fromNd(d.x), fromNd(d.w), fromNd(d.b)];
      const g = conv2dGeometry(x.shape, w.shape, d.opts);
      const want = relu(conv2dForwardRef(d.x, d.w, d.b, d.opts)).data;
      for (const layout of [{ pixels: 8, unrollTaps: true }, { pixels: 3, unrollTaps: false }]) {
        const y = emptyTensor([g.n, g.ho, g.wo, g.cout], 'test.y');
        uniformWeightsChunk(g, x, w, b, y, true, layout);
        expectClose(`${cin} channels, ${JSON.stringify(layout)}`, await y.toArray(), want, TOL);
        y.dispose();
      }
      for (const t of [x, w, b]) t.dispose();
    }
  });

  it('lays the code out for a GPU by its accumulators, and simply on CPU adapters', () => {
    const vgg = conv2dGeometry([32, 256, 256, 3], [3, 3, 3, 64], { padding: 'same' });
    const unet = conv2dGeometry([16, 256, 256, 32], [3, 3, 32, 32], { padding: 'same' });
    const gate = conv2dGeometry([16, 64, 64, 64], [1, 1, 64, 8], { padding: 'valid' });
    // 2 pixels of 16 vec4s; 27·16·2 = 864 statements, unrolled.
    expect(uniformWeightsLayout(vgg, false)).toEqual({ pixels: 2, unrollTaps: true });
    // 4 pixels of 8 vec4s; 288·8·4 = 9216 statements, a loop over the nine taps.
    expect(uniformWeightsLayout(unet, false)).toEqual({ pixels: 4, unrollTaps: false });
    expect(uniformWeightsLayout(gate, false)).toEqual({ pixels: 8, unrollTaps: true });
    for (const g of [vgg, unet, gate]) expect(uniformWeightsLayout(g, true)).toEqual({ pixels: 1, unrollTaps: false });
    // The benchmark's other pixel counts: within 64 vec4 accumulators, the default left out.
    expect([pixelVariants(64), pixelVariants(32), pixelVariants(8)]).toEqual([[1, 4], [1, 2, 8], [1, 2, 4]]);
    // Forced, the count applies on both kinds of adapter; the unrolling follows it on GPUs.
    setUniformWeightsPixels(4);
    try {
      expect(uniformWeightsLayout(vgg, false)).toEqual({ pixels: 4, unrollTaps: true }); // 27·16·4 = 1728
      expect(uniformWeightsLayout(unet, true)).toEqual({ pixels: 4, unrollTaps: false });
    } finally {
      setUniformWeightsPixels(null);
    }
    expect(uniformWeightsLayout(vgg, false).pixels).toBe(2);
    expect(() => setUniformWeightsPixels(0)).toThrow(ArgumentError);
    expect(() => setUniformWeightsPixels(2.5)).toThrow(/setUniformWeightsPixels: expected a whole number from 1 to 16 or null, got the number 2.5/);
  });

  it('splits a batch past the binding limit into chunks of samples', () => expectChunkedForward('uniform-weights', KERNEL, 4, 73));

  it('leaves the gradients to the direct kernels: the reference backward', () => expectReferenceGradients('uniform-weights', 8, 74));

  it('fits forwards of Cout <= 64 in vec4s whose weights fit a uniform binding, and falls back to direct elsewhere', async () => {
    const limit = runtime().limits.maxUniformBufferBindingSize;
    const geometry = (cin: number, cout: number, k = 3) => conv2dGeometry([1, 8, 8, cin], [k, k, cin, cout], { padding: 'same' });
    expect(uniformWeightsFits('forward', geometry(3, 64))).toBe(true);
    expect(uniformWeightsFits('backwardInput', geometry(3, 64))).toBe(false);
    expect(uniformWeightsFits('backwardWeight', geometry(3, 64))).toBe(false);
    expect(uniformWeightsFits('forward', geometry(3, 6)), 'Cout not in vec4s').toBe(false);
    expect(uniformWeightsFits('forward', geometry(3, UNIFORM_WEIGHTS_MAX_COUT + 4)), 'more outputs than a thread holds').toBe(false);
    // The largest Cin whose 3x3 weights to 32 outputs fit the device's uniform binding, and one more.
    const most = Math.floor(limit / (9 * 32 * 4));
    expect(uniformWeightsFits('forward', geometry(most, 32))).toBe(true);
    expect(uniformWeightsFits('forward', geometry(most + 1, 32))).toBe(false);
    // Forced where it does not fit: what runs unforced (here the rule's choice).
    const unforced = [convAlgorithm('forward', geometry(3, 6)), convAlgorithm('backwardInput', geometry(3, 64)), convAlgorithm('forward', geometry(most + 1, 32))];
    expect(unforced).not.toContain('uniform-weights');
    dn.setConvAlgorithm('uniform-weights');
    expect([convAlgorithm('forward', geometry(3, 6)), convAlgorithm('backwardInput', geometry(3, 64)), convAlgorithm('forward', geometry(most + 1, 32))]).toEqual(unforced);
    // A tuning's choice counts as unforced: here Winograd for the input gradient it cannot run.
    const tuned = { direction: 'backwardInput', geometry: geometry(3, 64), family: defaultConvFamily(), algorithm: 'winograd', ms: {}, clock: 'gpu' };
    dn.applyConvTuning({ format: 'dawnet-conv-tuning', version: 1, adapter: dn.info().name, convs: [tuned] });
    expect(convAlgorithm('backwardInput', geometry(3, 64))).toBe('winograd');
    dn.clearConvTuning();
    // And the rule never picks it (not yet timed on a GPU).
    dn.setConvAlgorithm('auto');
    expect(convAlgorithm('forward', geometry(3, 64))).not.toBe('uniform-weights');
    expect(convAlgorithm('forward', geometry(most, 32))).not.toBe('uniform-weights');
  });

  it('a uniform binding past maxUniformBufferBindingSize is a LimitError naming the kernel and the limit', () => {
    const limit = runtime().limits.maxUniformBufferBindingSize;
    const cin = Math.floor(limit / (9 * 32 * 4)) + 1;
    const g = conv2dGeometry([1, 4, 4, cin], [3, 3, cin, 32], { padding: 'same' });
    const x = dn.zeros([1, 4, 4, cin]);
    const w = dn.zeros([3, 3, cin, 32]);
    const y = emptyTensor([1, 4, 4, 32], 'test.y');
    expect(() => uniformWeightsChunk(g, x, w, null, y, false)).toThrow(LimitError);
    expect(() => uniformWeightsChunk(g, x, w, null, y, false)).toThrow(new RegExp(`${KERNEL.replace('.', '\\.')}: binding 1 of ${9 * cin * 32 * 4} bytes exceeds the uniform binding limit of ${limit} bytes \\(maxUniformBufferBindingSize\\)`));
    for (const t of [x, w, y]) t.dispose();
  });
});
