// An error leaving a model's forward names the layer by its path, and prints short: the note the
// module wrappers keep on it (which holds a module) is not enumerable, so Node's inspector, and
// with it an uncaught exception's printout, leaves it out (audit14 finding 5: 604 lines).

import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** The error `run` throws, and its print as Node's uncaught-exception handler makes it (depth at least 5). */
function caught(run: () => unknown): { error: Error; printed: string } {
  try {
    run();
  } catch (e) {
    return { error: e as Error, printed: inspect(e, { depth: 5, customInspect: false }) };
  }
  throw new Error('nothing thrown');
}

describe('an error from inside a model', () => {
  it('a small U-Net fed 5 channels: a short print, the message in it', () => {
    const net = dn.models.unet({ features: 4, depth: 2 });
    const x = dn.zeros([1, 16, 16, 5]);
    const { error, printed } = caught(() => dn.scope(() => net.forward(x)));
    expect(error).toBeInstanceOf(dn.ShapeError);
    expect(error.message).toMatch(/^UNet: expects \[N, H, W, 3\] input/);
    expect(printed.split('\n').length, printed).toBeLessThan(40);
    expect(printed).toContain(error.message);
    expect(printed).not.toMatch(/Conv2d \{|BatchNorm2d \{/);
    x.dispose();
    net.dispose();
  });

  it('the same U-Net inside a model: the path is named and the print stays short', () => {
    const unet = dn.models.unet({ features: 4, depth: 2 });
    const net = new dn.nn.Sequential(['stem', new dn.nn.Conv2d(3, 5, { kernelSize: 1 })], ['body', new dn.nn.Sequential(['unet', unet])]);
    const x = dn.zeros([1, 16, 16, 3]);
    const { error, printed } = caught(() => dn.scope(() => net.forward(x)));
    expect(error).toBeInstanceOf(dn.ShapeError);
    expect(error.message).toMatch(/^Sequential body\.unet \(UNet 3→1, 4 features, depth 2\): UNet: expects \[N, H, W, 3\] input/);
    expect(printed.split('\n').length, printed).toBeLessThan(40);
    expect(printed).toContain(error.message);
    expect(printed).not.toMatch(/Conv2d \{|BatchNorm2d \{/);
    x.dispose();
    net.dispose();
  });
});
