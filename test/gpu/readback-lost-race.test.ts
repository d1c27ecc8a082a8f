// A wait on the GPU that fails because the device was lost can fail before device.lost resolves:
// mapAsync rejects (an AbortError in Dawn) and only then is the runtime told of the loss. The
// runtime must still throw DeviceLostError, the error a caller checks for to init() again, and a
// failure without a loss must keep its own error. The ordering is made here with a runtime over a
// device of its own whose loss the test announces (ctx.whenLost) when it chooses, and waits whose
// promises reject on cue. Last, what such a loss tells a user of fit: where the run stopped, what
// it kept, and advice that works when followed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { acquireDevice, deviceLossCause, LOSS_GRACE_MS, type GpuContext } from '../../src/gpu/device.js';
import { runtime, Runtime } from '../../src/gpu/runtime.js';

interface Racing {
  rt: Runtime;
  /** A buffer holding [1, 2, 3, 4]. */
  buffer: GPUBuffer;
  /** Announces the device's loss, as device.lost resolving would. */
  lose(): void;
  /** Makes every readback's map reject with `error` (null: map as usual). */
  failMaps(error: Error | null): void;
}

let made: Runtime[] = [];

afterEach(() => {
  for (const rt of made) rt.destroy();
  made = [];
});

async function racingRuntime(): Promise<Racing> {
  const real = await acquireDevice();
  let announce!: (e: dn.DeviceLostError) => void;
  const ctx: GpuContext = { ...real, lost: null, whenLost: new Promise((resolve) => (announce = resolve)) };
  const rt = new Runtime(ctx);
  made.push(rt);
  const lose = () => {
    ctx.lost = new dn.DeviceLostError('GPU device lost (test): the tensors on it are gone');
    announce(ctx.lost);
  };
  let mapError: Error | null = null;
  // Readback staging buffers are the pool's MAP_READ buffers: theirs is the map that fails.
  const acquire = rt.pool.acquire.bind(rt.pool);
  rt.pool.acquire = (bytes, usage, label, what) => {
    const b = acquire(bytes, usage, label, what);
    if (usage & GPUBufferUsage.MAP_READ) {
      const map = b.mapAsync.bind(b);
      Object.defineProperty(b, 'mapAsync', { configurable: true, value: (...args: Parameters<GPUBuffer['mapAsync']>) => (mapError ? Promise.reject(mapError) : map(...args)) });
    }
    return b;
  };
  const buffer = rt.pool.acquire(16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'race.data');
  rt.write(buffer, new Float32Array([1, 2, 3, 4]));
  return { rt, buffer, lose, failMaps: (e) => (mapError = e) };
}

/** Runs `fn` and returns what it threw and how long it took to throw. */
async function failure(fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

const operationError = () => new DOMException('mapAsync failed', 'OperationError');
/** Long after a map's rejection has been seen and its error checks awaited, within the grace wait. */
const LATE_MS = Math.min(300, LOSS_GRACE_MS / 2);

describe('a readback or sync that fails as the device is lost', () => {
  it('reads back as usual while nothing fails (the fake map passes through)', async () => {
    const { rt, buffer } = await racingRuntime();
    expect([...new Float32Array(await rt.read(buffer, 16))]).toEqual([1, 2, 3, 4]);
  });

  it('read: a map that rejects before device.lost resolves gives DeviceLostError', async () => {
    const { rt, buffer, lose, failMaps } = await racingRuntime();
    failMaps(operationError());
    setTimeout(lose, LATE_MS);
    const { error } = await failure(() => rt.read(buffer, 16));
    expect(error).toBeInstanceOf(dn.DeviceLostError);
  });

  it('readMany: the same, for a read of several buffers', async () => {
    const { rt, buffer, lose, failMaps } = await racingRuntime();
    failMaps(operationError());
    setTimeout(lose, LATE_MS);
    const { error } = await failure(() => rt.readMany([{ buffer, bytes: 8 }, { buffer, bytes: 16 }]));
    expect(error).toBeInstanceOf(dn.DeviceLostError);
  });

  it('control: a map that rejects with no loss keeps its own error, after a bounded wait', async () => {
    const { rt, buffer, failMaps } = await racingRuntime();
    const own = operationError();
    failMaps(own);
    const { error, ms } = await failure(() => rt.read(buffer, 16));
    expect(error).toBe(own);
    expect(ms).toBeLessThan(LOSS_GRACE_MS + 2000);
    // The runtime is still usable: the failed read left no staging buffer mapped or held.
    failMaps(null);
    expect([...new Float32Array(await rt.read(buffer, 16))]).toEqual([1, 2, 3, 4]);
  });

  it('sync: onSubmittedWorkDone rejecting before the loss gives DeviceLostError; without a loss, its own error', async () => {
    const { rt, lose } = await racingRuntime();
    const own = new DOMException('work done failed', 'OperationError');
    Object.defineProperty(rt.device.queue, 'onSubmittedWorkDone', { configurable: true, value: () => Promise.reject(own) });
    const alone = await failure(() => rt.sync());
    expect(alone.error).toBe(own);
    setTimeout(lose, LATE_MS);
    const lost = await failure(() => rt.sync());
    expect(lost.error).toBeInstanceOf(dn.DeviceLostError);
  });
});

describe('fit on a lost device', () => {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dawnet-fit-lost-'));
    await dn.init();
  });
  afterAll(() => {
    dn.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const mse = (p: dn.Tensor, y: dn.Tensor) => dn.mean(dn.square(dn.sub(p, y)));
  const data = () => ({
    batchCount: 2,
    *batches() {
      for (let i = 0; i < 2; i++) yield { x: dn.tensor([[i, 1, -1, 0.5], [1, i, 0, 2]]), y: dn.tensor([[1], [0]]) };
    },
  });
  const model = () => {
    dn.setInitSeed(2);
    const net = new dn.nn.Linear(4, 1);
    return { net, optimizer: new dn.optim.Adam(net.parameters(), { lr: 1e-2 }) };
  };
  /** fit for 3 epochs, the device destroyed after the first batch of epoch 2: the error it stopped with. */
  async function losingFit(callbacks: dn.train.Callback[]): Promise<Error> {
    const { net, optimizer } = model();
    const stopped = await dn.train
      .fit(net, data(), null, { epochs: 3, optimizer, loss: mse, callbacks, onBatch: (p) => void (p.epoch === 1 && p.batch === 1 && runtime().device.destroy()) })
      .then(() => null, (e: Error) => e);
    await dn.init();
    return stopped!;
  }

  it('names the checkpoint a callback saved, what went with the device, and how to resume; the advice works', async () => {
    const path = join(dir, 'last.safetensors');
    const error = await losingFit([new dn.train.ModelCheckpoint(path)]);
    expect(error).toBeInstanceOf(dn.DeviceLostError);
    expect(error.message).toMatch(/^GPU device lost \(destroyed: .*\) in epoch 2 of fit/);
    expect(error.message).toContain(`the last is ${path}, of epoch 1`);
    expect(error.message).toMatch(/the model's weights, the optimiser's state.*build the model and optimiser again.*initialEpoch: 1$/);
    // A caller that words the loss its own way (the CLI's --resume) still finds the driver's cause.
    expect(deviceLossCause(error)).toMatch(/^destroyed/);
    // As the message says: a new model and optimiser, the checkpoint, fit from initialEpoch.
    const { net, optimizer } = model();
    await dn.train.loadCheckpoint(path, net, optimizer);
    const history = await dn.train.fit(net, data(), null, { epochs: 3, initialEpoch: 1, optimizer, loss: mse });
    expect(history.epochs).toEqual([1, 2]);
    optimizer.dispose();
    net.dispose();
  });

  it('without a checkpoint, says that nothing of the run is on disk', async () => {
    const error = await losingFit([]);
    expect(error).toBeInstanceOf(dn.DeviceLostError);
    expect(error.message).toMatch(/in epoch 2 of fit.*No callback saved a checkpoint in this call/);
  });
});
