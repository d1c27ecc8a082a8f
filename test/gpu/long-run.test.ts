// A long run must not grow: after a warm-up, each step of training, prediction or profiling reuses
// what the first steps made, so every counter of what the runtime holds stays flat: the pool's
// bytes in use and allocated and buffers created, the compiled pipelines, the bind groups, the
// timer's query sets, the error checks waiting to be read, the tape nodes and tensors of past
// steps; and a shut-down or lost device is let go. A tiny U-Net (16x16, depth 2, batch 2) stands
// in for the hours of a real run: what grows by a step here grows by a million steps there.
// Liveness is read from WeakRefs after full collections (global gc, enabled below), so it is
// exact rather than at the collector's whim. The JS heap is not asserted: V8 goes on compiling
// the loop's code for the first ~100 steps (about 10 KB a step here), longer than this file may
// run, and is flat after that (measured over 320 steps of fit: 8.3 MB +- 0.2 MB).

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime, type Runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects after the current job, which holds every WeakRef dereferenced in it alive. */
async function collect(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  gc();
}

const [N, S] = [2, 16];

/**
 * Counters that must not grow once a run has warmed up. bytesAllocated and bindGroups may fall:
 * the pool destroys a buffer left unused for maxIdleSubmits submits (one the first steps alone
 * used), and the bind groups that bound it with it.
 */
function counters(): Record<string, number> {
  const rt = runtime();
  const m = dn.memory();
  return {
    bytesInUse: m.bytesInUse,
    bytesAllocated: m.bytesAllocated,
    buffersCreated: m.buffersCreated,
    pipelines: rt.compiledKernels().length,
    bindGroups: rt.bindGroups.size,
    querySets: rt.gpuTimer.querySetsCreated,
  };
}

/** Deterministic images and masks, new tensors on every call (fit disposes its batches). */
function sample(seed: number): { x: dn.Tensor; y: dn.Tensor } {
  const x = Float32Array.from({ length: N * S * S * 3 }, (_, i) => Math.abs(Math.sin(i * 12.9898 + seed)) % 1);
  const y = Float32Array.from({ length: N * S * S }, (_, i) => (Math.sin(i * 78.233 + seed) > 0 ? 1 : 0));
  return { x: dn.tensor(x, [N, S, S, 3]), y: dn.tensor(y, [N, S, S, 1]) };
}

/** `now` has grown by nothing since `warm`: equal, except the two counters that may fall. */
function expectFlat(now: Record<string, number>, warm: Record<string, number>, what: string): void {
  const mayFall = ['bytesAllocated', 'bindGroups'];
  for (const [k, v] of Object.entries(warm)) {
    if (mayFall.includes(k)) expect(now[k], `${what}: ${k}`).toBeLessThanOrEqual(v);
    else expect(now[k], `${what}: ${k}`).toBe(v);
  }
}

const dataset = (batches: number, offset = 0): dn.train.Dataset => ({
  batchCount: batches,
  *batches(epoch: number) {
    for (let b = 0; b < batches; b++) yield sample(offset + epoch * batches + b);
  },
});

function unet(): dn.Module {
  dn.setInitSeed(7);
  return dn.models.unet({ features: 4, depth: 2 });
}

/** How many of `refs` still reach their object after a full collection. */
async function alive(refs: WeakRef<object>[]): Promise<number> {
  await collect();
  return refs.filter((r) => r.deref() !== undefined).length;
}

/**
 * Destroys the current device and waits for the runtime to see it lost. A function of its own, so
 * that no frame of the test holds the lost runtime once it returns.
 */
async function loseDevice(): Promise<void> {
  const rt = runtime();
  rt.device.destroy();
  for (let k = 0; k < 100 && !rt.ctx.lost; k++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(rt.ctx.lost).toBeInstanceOf(dn.DeviceLostError);
}


describe('a long run', () => {
  it('fit with validation: pool, pipelines and bind groups flat after warm-up; past steps\' graphs are freed', async () => {
    const net = unet();
    const optimizer = new dn.optim.Adam(net.parameters(), { lr: 1e-3 });
    const [EPOCHS, WARM, BATCHES] = [12, 4, 4];
    const byEpoch: Record<string, number>[] = [];
    const graphs: WeakRef<object>[][] = [];
    const loss = (p: dn.Tensor, y: dn.Tensor) => {
      const l = dn.diceLoss(p, y);
      // The prediction and the loss's tape node: what a step's graph that outlives it would keep.
      graphs.push([new WeakRef(p), new WeakRef(l.node ?? l)]);
      return l;
    };
    try {
      await dn.train.fit(net, dataset(BATCHES), dataset(2, 10_000), {
        epochs: EPOCHS,
        optimizer,
        loss,
        onEpoch: () => void byEpoch.push(counters()),
      });
      // The graphs of every step but the last few are gone; a parameter is not (the control: the
      // collection and the WeakRefs do see what is still referenced).
      const old = graphs.slice(0, -BATCHES * 2).flat();
      expect(await alive(old), 'graphs of past steps still reachable').toBe(0);
      expect(await alive([new WeakRef(net.parameters()[0])])).toBe(1);
    } finally {
      optimizer.dispose();
      net.dispose();
    }
    for (let e = WARM; e < EPOCHS; e++) expectFlat(byEpoch[e], byEpoch[WARM - 1], `after epoch ${e + 1} against epoch ${WARM}`);
  });

  it('a training loop that does not read back: error checks settle as it goes instead of piling up', async () => {
    const net = unet();
    const optimizer = new dn.optim.Adam(net.parameters(), { lr: 1e-3 });
    const rt = runtime();
    const [STEPS, WARM] = [80, 20];
    const pending: number[] = [];
    let warm: Record<string, number> = {};
    let submits = 0;
    try {
      for (let step = 0; step < STEPS; step++) {
        const before = rt.submitCount;
        const { x, y } = sample(step);
        const l = dn.scope(() => {
          const l = dn.diceLoss(net.forward(x), y);
          l.backward();
          return l;
        });
        optimizer.step();
        optimizer.zeroGrad();
        for (const t of [l, x, y]) t.dispose();
        // What a data loader's await gives: the event loop turns, Dawn resolves what it has done.
        await new Promise((resolve) => setImmediate(resolve));
        pending.push(rt.checks.size);
        submits = Math.max(submits, rt.submitCount - before);
        if (step === WARM - 1) warm = counters();
      }
      expectFlat(counters(), warm, `after ${STEPS} steps against step ${WARM}`);
      // Without a readback for 80 steps the checks of ~240 submits were held; now at most the
      // last step's are (the control: a step does submit, so there are checks to hold).
      expect(submits).toBeGreaterThan(0);
      expect(Math.max(...pending.slice(WARM)), 'pending error checks after a step').toBeLessThanOrEqual(submits);
      await dn.sync();
      expect(rt.checks.size).toBe(0);
    } finally {
      optimizer.dispose();
      net.dispose();
    }
  });

  it('predict, then profile, repeated: counters flat, one query set, no error checks pile up', async () => {
    const net = unet().eval();
    const rt = runtime();
    const [CALLS, WARM] = [40, 10];
    let warm: Record<string, number> = {};
    const pending: number[] = [];
    const { x, y } = sample(0);
    try {
      for (let i = 0; i < CALLS; i++) {
        const pred = dn.noGrad(() => net.forward(x));
        expect((await pred.toArray()).length).toBe(N * S * S);
        pred.dispose();
        if (i === WARM - 1) warm = counters();
      }
      expectFlat(counters(), warm, `after ${CALLS} predictions against prediction ${WARM}`);
      // profile() reads back through the timer, not through the runtime's readback, which was
      // all that took the submits' error checks.
      for (let i = 0; i < CALLS; i++) {
        const profile = await dn.profile(() => dn.noGrad(() => net.forward(x)).dispose());
        expect(profile?.kernels.length ?? 1).toBeGreaterThan(0);
        await new Promise((resolve) => setImmediate(resolve));
        pending.push(rt.checks.size);
        if (i === WARM - 1) warm = counters();
      }
      expectFlat(counters(), warm, `after ${CALLS} profiles against profile ${WARM}`);
      expect(Math.max(...pending.slice(WARM)), 'pending error checks after a profile').toBeLessThanOrEqual(2);
    } finally {
      for (const t of [x, y]) t.dispose();
      net.dispose();
    }
  });

  it('init() and shutdown() cycles, and init() after a lost device, let every old device go', async () => {
    const runtimes: WeakRef<Runtime>[] = [];
    const created: number[] = [];
    const use = async () => {
      runtimes.push(new WeakRef(runtime()));
      const x = dn.tensor([-1, 2, 3], [3]);
      const t = dn.relu(x);
      expect([...(await t.toArray())]).toEqual([0, 2, 3]);
      t.dispose();
      x.dispose();
      created.push(dn.memory().buffersCreated);
    };
    await use();
    for (let i = 0; i < 10; i++) {
      dn.shutdown();
      await dn.init();
      await use();
    }
    // A device lost (here destroyed under the runtime) and replaced by init(), as a long run
    // that survives a driver reset does.
    for (let i = 0; i < 3; i++) {
      await loseDevice();
      await dn.init();
      await use();
    }
    // The first runtime is the one the other tests used; each fresh one creates the same buffers.
    expect(new Set(created.slice(1)).size, 'buffers each fresh runtime created').toBe(1);
    // Every runtime but the current one is collected; the current one is not (the control).
    expect(await alive(runtimes.slice(0, -1)), 'old runtimes still reachable').toBe(0);
    expect(await alive(runtimes.slice(-1))).toBe(1);
  });
});
