// GroupNorm and InstanceNorm2d given NCHW data: InstanceNorm2d(3) on [2, 3, 8, 8] said
// 'groupNorm: 8 channels do not split into 3 groups', groups the caller never chose; now the
// layer names itself, what it expects and the NHWC conversion.

import { expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

it.each([
  ['InstanceNorm2d', () => new dn.nn.InstanceNorm2d(3)],
  ['GroupNorm', () => new dn.nn.GroupNorm(1, 3)],
] as const)('%s refuses NCHW input naming itself and the layout', (name, make) => {
  const layer = make();
  const x = dn.zeros([2, 3, 8, 8]);
  for (const mode of ['train', 'eval'] as const) {
    layer[mode]();
    expect(() => layer.forward(x)).toThrow(dn.ShapeError);
    expect(() => layer.forward(x)).toThrow(`${name}: expects [N, H, W, 3] input`);
    expect(() => layer.forward(x)).toThrow('dn.transpose(x, [0, 2, 3, 1])');
  }
  x.dispose();
  layer.dispose();
});
