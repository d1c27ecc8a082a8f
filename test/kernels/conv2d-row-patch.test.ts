// conv2d's forward by a workgroup a strip of an output row (src/kernels/conv2d-row-patch.ts)
// against the float64 reference: VGG16's first conv (3 channels in, 64 out) over rows of two
// strips, the second partial; one channel in, strides, asymmetric padding, 1x1 over 36 channels
// (whose staged input halves the strip twice), 5x5, bias, the fused ReLU (NaN kept), other pixel
// counts a thread, and batches split into chunks past the binding limit. Its backward is the
// direct conv's: the gradients are compared with the reference's only to show that forcing the
// algorithm leaves them alone.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { conv2dGeometry } from '../../src/kernels/conv2d.js';
import { convAlgorithm, ROW_PATCH_RULE_MAX_CIN, ruleConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { rowPatchChunk, rowPatchFits, rowPatchLayout, setRowPatchPixels, ROW_PATCH_MAX_TAPS, ROW_PATCH_PIXELS } from '../../src/kernels/conv2d-row-patch.js';
import { emptyTensor } from '../../src/graph/tensor.js';
import type { NdArray } from '../../src/reference/array.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { expectClose } from '../helpers/close.js';
import { convCaseData } from '../helpers/conv-case.js';
import { fromNd as fromData, useGpu } from '../helpers/gpu.js';
import { BIAS, expectChunkedForward, expectFewInputsFits, expectForcedForward, expectReferenceGradients, expectReluKeepsNan, fewInputsGeometry, forcedCaseTitle, RELU, type ForcedCase } from '../helpers/forced-conv.js';

useGpu();

// Float32 sums of at most 36 products of values in [-1, 1] (K·Cin <= 36), accumulated in the
// reference's tap order within each kernel row but in float32 with fused multiply-adds: errors of a
// few float32 ulps of sums below 36, well inside 1e-4.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const fromNd = (a: NdArray, requiresGrad = false): dn.Tensor => fromData(a.data, a.shape, requiresGrad);
const KERNEL = 'conv2d.forwardRowPatch';

afterEach(() => {
  dn.setConvAlgorithm('auto');
  setRowPatchPixels(null);
  runtime().setBindingLimit(null);
});

const CASES: ForcedCase[] = [
  { name: "VGG16's conv1_1 shape over rows of 139: a strip of 128 and a partial one", x: [2, 4, 139, 3], k: [3, 3], cout: 64, opts: { padding: 'same' }, variants: [BIAS, RELU] },
  { name: 'one channel in (a grey image), 32 out, a row of 13', x: [2, 7, 13, 1], k: [3, 3], cout: 32, opts: { padding: 'same' }, variants: [RELU] },
  { name: '3x3 stride 2 valid over 4 channels: K·Cin = 36, the most it takes', x: [1, 9, 10, 4], k: [3, 3], cout: 4, opts: { padding: 'valid', stride: 2 }, variants: [BIAS] },
  { name: 'explicit pads [2, 0, 1, 3], 2 channels', x: [2, 6, 5, 2], k: [3, 3], cout: 8, opts: { padding: [2, 0, 1, 3] }, variants: [RELU] },
  { name: '1x1 over 36 channels to 64: the strip cut to 32 pixels to fit', x: [1, 3, 70, 36], k: [1, 1], cout: 64, opts: {}, variants: [BIAS] },
  { name: '5x5 stride [1, 2], 1 -> 8', x: [1, 11, 23, 1], k: [5, 5], cout: 8, opts: { padding: 'same', stride: [1, 2] }, variants: [RELU] },
];

describe("conv2d forward by 'row-patch'", () => {
  for (const cs of CASES) it(forcedCaseTitle(cs), () => expectForcedForward('row-patch', KERNEL, cs, 91, TOL));

  it('lays a strip out within 16 KiB of workgroup memory: conv1_1 16 groups of 8 pixels, the 1x1 over 36 channels 4', () => {
    const conv11 = conv2dGeometry([1, 256, 256, 3], [3, 3, 3, 64], { padding: 'same' });
    expect(rowPatchLayout(conv11, 8)).toEqual({ lanes: 16, groups: 16, pixels: 8, columns: 130 });
    const wide = conv2dGeometry([1, 3, 256, 36], [1, 1, 36, 64], {});
    // 9216 bytes of weights; 128 columns of 36 channels would be 18432 more, 64 columns 9216, 32 4608.
    expect(rowPatchLayout(wide, 8)).toEqual({ lanes: 16, groups: 4, pixels: 8, columns: 32 });
    // A row of 4 outputs needs one group, however many threads 4 output channels would allow.
    const narrow = conv2dGeometry([1, 9, 10, 4], [3, 3, 4, 4], { padding: 'valid', stride: 2 });
    expect(rowPatchLayout(narrow, 8)).toEqual({ lanes: 1, groups: 1, pixels: 8, columns: 17 });
    const strided = conv2dGeometry([1, 3, 4096, 36], [1, 1, 36, 64], { stride: 8 });
    expect(rowPatchLayout(strided, 32), '31·8 + 1 columns of 36 channels past 16 KiB beside the weights').toBeNull();
  });

  it('1, 3, 8 and 16 pixels a thread, rows not a multiple of a strip: the same output', async () => {
    const d = convCaseData({ x: [2, 5, 45, 3], k: [3, 3], cout: 8, opts: { padding: 'same' } }, 92);
    const [x, w, b] = [fromNd(d.x), fromNd(d.w), fromNd(d.b)];
    const g = conv2dGeometry(x.shape, w.shape, d.opts);
    const want = conv2dForwardRef(d.x, d.w, d.b, d.opts).data;
    for (const pixels of [1, 3, 8, 16]) {
      const y = emptyTensor([g.n, g.ho, g.wo, g.cout], 'test.y');
      rowPatchChunk(g, x, w, b, y, false, pixels);
      expectClose(`${pixels} pixels a thread`, await y.toArray(), want, TOL);
      y.dispose();
    }
    expect(ROW_PATCH_PIXELS).toBe(4);
    setRowPatchPixels(3);
    dn.setConvAlgorithm('row-patch');
    const y = dn.conv2d(x, w, b, d.opts);
    expectClose('setRowPatchPixels(3)', await y.toArray(), want, TOL);
    expect(() => setRowPatchPixels(0)).toThrow(/setRowPatchPixels: expected a whole number from 1 to 32 or null, got the number 0/);
    for (const t of [x, w, b, y]) t.dispose();
  });

  it('keeps NaN through its fused ReLU, as relu does, and max(y, 0) elsewhere', () => expectReluKeepsNan('row-patch', 93));

  it('splits a batch past the binding limit into chunks of samples', () => expectChunkedForward('row-patch', KERNEL, 3, 94));

  it('leaves the gradients to the direct kernels: the reference backward', () => expectReferenceGradients('row-patch', 3, 95));

  it('fits forwards of K·Cin <= 36 to at most 64 channels in vec4s, falls back to what runs unforced elsewhere; the GPU rule takes it up to 4 channels in', () => {
    const geometry = fewInputsGeometry;
    expect(ROW_PATCH_MAX_TAPS).toBe(36);
    expectFewInputsFits('row-patch', rowPatchFits);
    expect(rowPatchFits('forward', geometry(3, 68)), 'Cout past 64').toBe(false);
    // GPUs: the first convs of VGG16 and the U-Net (3 channels), and anything it fits up to 4 in.
    expect(ROW_PATCH_RULE_MAX_CIN).toBe(4);
    const rule = (g: ReturnType<typeof geometry>, cpu: boolean) => ruleConvAlgorithm('forward', g, 'tiled', cpu);
    expect([rule(geometry(3, 64), false), rule(geometry(3, 32), false), rule(geometry(4, 8), false), rule(geometry(1, 4, 5), false)]).toEqual(['row-patch', 'row-patch', 'row-patch', 'row-patch']);
    expect(rule(geometry(8, 8, 1), false), '1x1 over 8 channels: fits, but past 4 in').not.toBe('row-patch');
    expect(rule(geometry(3, 128), false), '128 outputs: does not fit').not.toBe('row-patch');
    expect(rule(geometry(3, 64), true), 'CPU adapters stay direct').toBe('direct');
    expect(ruleConvAlgorithm('backwardInput', geometry(3, 64), 'tiled', false)).not.toBe('row-patch');
    expect(convAlgorithm('forward', geometry(3, 64)), 'untuned, this adapter runs the rule').toBe(rule(geometry(3, 64), isCpuAdapterReport(runtime().ctx.report)));
  });
});
