// A call made without a device (before the first init(), while init() is still acquiring, or after
// shutdown()) names itself: the op or constructor first, then what to do. This file's module state
// is its own (vitest runs each file in a fresh module graph), so it starts with no device.
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { readTensors } from '../../src/graph/tensor.js';

afterAll(() => dn.shutdown());

/** fn throws a NoDeviceError whose message starts with `name` and says to await init(). */
function expectNamed(fn: () => unknown, name: string): void {
  let error: unknown = null;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(dn.NoDeviceError);
  const message = (error as Error).message;
  expect(message.startsWith(`${name}:`), message).toBe(true);
  expect(message).toContain('await dn.init()');
}

describe('a call without a device names itself', () => {
  it('before the first init(): tensor creation, a layer, a readback', async () => {
    expectNamed(() => dn.tensor([1, 2]), 'tensor');
    expectNamed(() => dn.tensor([1, 2], [2], { name: 'w' }), 'tensor');
    expectNamed(() => dn.zeros([2]), 'zeros');
    expectNamed(() => dn.full([2], 3), 'full');
    // A layer's parameters are made by dn.tensor, which is what the message names.
    expectNamed(() => new dn.nn.BatchNorm2d(2), 'tensor');
    await expect(readTensors([])).rejects.toThrow(/^readTensors: no device yet: call `await dn\.init\(\)`/);
  });

  it('while init() is still acquiring the device', async () => {
    const pending = dn.init();
    expectNamed(() => dn.tensor([1]), 'tensor');
    expect(() => dn.tensor([1])).toThrow(/init\(\) has not finished/);
    await pending;
  });

  it('after shutdown(): an elementwise op, batch norm, concat, a module forward and the reads', async () => {
    await dn.init();
    const x = dn.tensor([1, 2, 3, 4], [1, 2, 2, 1], { name: 'image' });
    const w = dn.tensor([1], [1]);
    const bn = new dn.nn.BatchNorm2d(1);
    const net = new dn.nn.Sequential(new dn.nn.MaxPool2d(), bn);
    dn.shutdown();
    expectNamed(() => dn.tensor([1]), 'tensor');
    expect(() => dn.tensor([1])).toThrow(/dn\.shutdown\(\) released the device/);
    // Ops whose inputs are checked first name the op and the input that has outlived its device.
    expect(() => dn.relu(x)).toThrow(/^relu: input image \[1,2,2,1\]/);
    expect(() => dn.batchNorm2d(x, w, w, null, null, { training: true })).toThrow(/^batchNorm2d: input image \[1,2,2,1\]/);
    expect(() => bn.forward(x)).toThrow(/^batchNorm2d: input image/);
    // Sequential names the layer (maxPool2d reaches for the device before its output, unnamed).
    expect(() => net.forward(x)).toThrow(/MaxPool2d.*: dn\.shutdown\(\) released the device/);
    // concat reaches for the device before it binds its inputs: its output's label is named.
    expectNamed(() => dn.concat([x, x], 3), 'concat.out');
    expectNamed(() => dn.softmax(x), 'softmax.out');
    await expect(x.toArray()).rejects.toThrow(/^image \[1,2,2,1\] was made on a device that has since ended/);
    await expect(readTensors([w, x])).rejects.toThrow(/was made on a device that has since ended/);
    await expect(readTensors([w, x])).rejects.toBeInstanceOf(dn.NoDeviceError);
  });
});
