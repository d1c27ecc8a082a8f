// MaxPool2d and AvgPool2d: PyTorch's nn.MaxPool2d(size, stride, padding, ceil_mode) and
// nn.AvgPool2d(..., count_include_pad, divisor_override) as MaxPool2d(size, stride, { padding,
// ceilMode }) and AvgPool2d(size, stride, { padding, ceilMode, countIncludePad, divisorOverride }).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { AvgPool2d, MaxPool2d } from '../../src/nn/layers.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('MaxPool2d and AvgPool2d', () => {
  it('give what their ops give with the same options; size alone and size, stride still work', async () => {
    const x = dn.tensor(new Float32Array(2 * 6 * 7 * 3).map((_, i) => 2 * Math.sin(i * 1.3)), [2, 6, 7, 3]);
    const pairs: [dn.Module, (t: dn.Tensor) => dn.Tensor][] = [
      [new MaxPool2d(2), (t) => dn.maxPool2d(t, { size: 2 })],
      [new MaxPool2d(3, 2), (t) => dn.maxPool2d(t, { size: 3, stride: 2 })],
      [new MaxPool2d(3, 2, { padding: 1, ceilMode: true }), (t) => dn.maxPool2d(t, { size: 3, stride: 2, padding: 1, ceilMode: true })],
      [new MaxPool2d(2, undefined, { padding: 'same' }), (t) => dn.maxPool2d(t, { size: 2, padding: 'same' })],
      [new AvgPool2d(2), (t) => dn.avgPool2d(t, { size: 2 })],
      [new AvgPool2d(3, 1, { padding: 1, countIncludePad: false }), (t) => dn.avgPool2d(t, { size: 3, stride: 1, padding: 1, countIncludePad: false })],
      [new AvgPool2d(3, 2, { padding: 1, ceilMode: true }), (t) => dn.avgPool2d(t, { size: 3, stride: 2, padding: 1, ceilMode: true })],
      [new AvgPool2d(2, 2, { divisorOverride: 3 }), (t) => dn.avgPool2d(t, { size: 2, divisorOverride: 3 })],
    ];
    for (const [i, [layer, op]] of pairs.entries()) {
      const [a, b] = [layer.forward(x), op(x)];
      expect(a.shape, `pair ${i}`).toEqual(b.shape);
      expect(Array.from(await a.toArray()), `pair ${i}`).toEqual(Array.from(await b.toArray()));
      for (const t of [a, b]) t.dispose();
    }
    // (6 + 2 - 3) / 2 = 2.5 and (7 + 2 - 3) / 2 = 3: ceil mode gives 4x4 where floor gives 3x4.
    const y = new MaxPool2d(3, 2, { padding: 1, ceilMode: true }).forward(x);
    expect(y.shape).toEqual([2, 4, 4, 3]);
    for (const t of [x, y]) t.dispose();
  });

  it('a bad size, stride or option is refused when the layer is built, naming the layer and the option', () => {
    const refusals: [() => unknown, typeof dn.ShapeError | typeof dn.ArgumentError, RegExp][] = [
      [() => new AvgPool2d(0), dn.ArgumentError, /^AvgPool2d: size/],
      [() => new MaxPool2d(2, 1.5), dn.ArgumentError, /^MaxPool2d: stride/],
      [() => new MaxPool2d(3, { padding: 1 } as never), dn.ArgumentError, /^MaxPool2d: options go third, after the stride/],
      [() => new MaxPool2d(3, 2, { padding: 2 }), dn.ShapeError, /^MaxPool2d: padding 2x2 is more than half the 3x3 window/],
      [() => new MaxPool2d(3, 2, { padding: 'full' as never }), dn.ShapeError, /^MaxPool2d: padding must be/],
      [() => new MaxPool2d(3, 2, { ceilMode: 'yes' as never }), dn.ArgumentError, /^MaxPool2d: ceilMode must be true or false/],
      [() => new MaxPool2d(2, 2, { padding: 'same', ceilMode: true }), dn.ArgumentError, /^MaxPool2d: ceilMode is for 'valid' or explicit padding/],
      [() => new MaxPool2d(2, 2, { countIncludePad: false } as never), dn.ArgumentError, /^MaxPool2d: unknown option 'countIncludePad'/],
      [() => new MaxPool2d(2, 2, { ceil_mode: true } as never), dn.ArgumentError, /^MaxPool2d: unknown option 'ceil_mode'.*ceil_mode is ceilMode in dawnet/],
      [() => new AvgPool2d(2, 2, { count_include_pad: false } as never), dn.ArgumentError, /count_include_pad is countIncludePad in dawnet/],
      [() => new AvgPool2d(2, 2, { divisorOverride: 0 }), dn.ArgumentError, /^AvgPool2d: divisorOverride must be an integer >= 1/],
      [() => new AvgPool2d(2, 2, { padding: 'same', countIncludePad: true }), dn.ArgumentError, /^AvgPool2d: countIncludePad needs explicit padding/],
      [() => new AvgPool2d(2, 2, null as never), dn.ArgumentError, /^AvgPool2d: options must be an object/],
    ];
    for (const [i, [build, kind, message]] of refusals.entries()) {
      expect(build, `refusal ${i}`).toThrow(kind);
      expect(build, `refusal ${i}`).toThrow(message);
    }
  });
});
