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
    expectNamed(() => dn.gpuDevice(), 'gpuDevice');
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

  it('after shutdown(): every op names itself and its stale input; a module forward, the runtime calls and the reads', async () => {
    await dn.init();
    const x = dn.tensor([1, 2, 3, 4], [1, 2, 2, 1], { name: 'image' });
    const w = dn.tensor([1], [1]);
    const k = dn.tensor(new Float32Array(9), [3, 3, 1, 1], { name: 'kernel' });
    const m = dn.tensor([1, 2], [1, 2], { name: 'm' });
    const bn = new dn.nn.BatchNorm2d(1);
    const net = new dn.nn.Sequential(new dn.nn.MaxPool2d(), bn);
    dn.shutdown();
    expectNamed(() => dn.tensor([1]), 'tensor');
    expect(() => dn.tensor([1])).toThrow(/dn\.shutdown\(\) released the device/);
    // Every op checks its inputs at entry: it names itself and the input that outlived its device.
    expect(() => dn.relu(x)).toThrow(/^relu: x image \[1,2,2,1\] was made on a device that has since ended/);
    expect(() => dn.add(x, w)).toThrow(/^add: a image \[1,2,2,1\]/);
    expect(() => dn.conv2d(x, k, null)).toThrow(/^conv2d: input x image \[1,2,2,1\]/);
    expect(() => dn.matmul(m, m)).toThrow(/^matmul: a m \[1,2\]/);
    expect(() => dn.concat([x, x], 3)).toThrow(/^concat: tensors\[0\] image/);
    expect(() => dn.softmax(x)).toThrow(/^softmax: input x image/);
    expect(() => dn.maxPool2d(x, { size: 2 })).toThrow(/^maxPool2d: input x image/);
    expect(() => dn.upsample2d(x, { scale: 2 })).toThrow(/^upsample2d: input x image/);
    expect(() => dn.sum(x)).toThrow(/^sum: input x image/);
    expect(() => dn.batchNorm2d(x, w, w, null, null, { training: true })).toThrow(/^batchNorm2d: input x image \[1,2,2,1\]/);
    expect(() => bn.forward(x)).toThrow(/^BatchNorm2d 1: batchNorm2d: input x image/);
    // A layer names itself before the op's message; in a model, by its path from the model's root.
    expect(() => net.forward(x)).toThrow(/^Sequential 0 \(MaxPool2d 2x2, stride 2\): maxPool2d: input x image/);
    for (const [name, call] of [['info', dn.info], ['memory', dn.memory], ['trimMemory', dn.trimMemory], ['resetPeakMemory', dn.resetPeakMemory]] as const) expectNamed(call, name);
    await expect(dn.sync()).rejects.toThrow(/^sync: dn\.shutdown\(\) released the device/);
    await expect(x.toArray()).rejects.toThrow(/^toArray: input image \[1,2,2,1\] was made on a device that has since ended/);
    await expect(readTensors([w, x])).rejects.toThrow(/was made on a device that has since ended/);
    await expect(readTensors([w, x])).rejects.toBeInstanceOf(dn.NoDeviceError);
  });
});
