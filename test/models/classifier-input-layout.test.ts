// vggClassifier given NCHW data ([1, 3, 32, 32]) was told 'built for 32x32 inputs', which it
// looks like already; now it says what it expects and how to convert NCHW.

import { expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

it('VggClassifier names the NHWC layout for NCHW, rank-3 and wrong-channel inputs', () => {
  const net = dn.models.vggClassifier({ widthScale: 0.02, inputSize: 32, hidden: 2 });
  const cases = [
    [[1, 3, 32, 32], 'dn.transpose(x, [0, 2, 3, 1])'],
    [[32, 32, 3], 'VggClassifier: expects [N, 32, 32, 3] input'],
    [[1, 32, 32, 1], 'VggClassifier: expects [N, 32, 32, 3] input'],
  ] as const;
  for (const [shape, message] of cases) {
    const x = dn.zeros(shape);
    expect(() => net.forward(x)).toThrow(dn.ShapeError);
    expect(() => net.forward(x)).toThrow(message);
    x.dispose();
  }
  net.dispose();
});
