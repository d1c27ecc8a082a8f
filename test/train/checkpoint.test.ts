import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { Module } from '../../src/nn/module.js';
import { Dropout, Linear, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/adam.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { expectClose } from '../helpers/close.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

class Tiny extends Module {
  w: dn.Tensor;
  rm: dn.Tensor;
  constructor(n: number, fill: number) {
    super();
    this.w = this.addParameter('weight', dn.full([n, 2], fill));
    this.rm = this.addBuffer('running_mean', dn.full([2], fill * 10));
  }
  forward(x: dn.Tensor): dn.Tensor {
    return dn.mul(x, this.w);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'dawnet-ckpt-'));

/** A model after one Adam step, saved with its optimiser state as `file`. */
async function adamCheckpoint(file: string): Promise<{ a: Tiny; adam: Adam; path: string }> {
  const a = new Tiny(3, 1);
  const adam = new Adam(a.trainableParameters(), { lr: 0.1 });
  a.w.grad = dn.full([3, 2], 0.5);
  adam.step();
  const path = join(dir, file);
  await saveCheckpoint(path, a, adam, {});
  return { a, adam, path };
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, 8-byte aligned', () => {
    const bytes = encodeSafetensors(new Map([['a', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }], ['b', { shape: [], data: Float32Array.from([7]) }]]), { k: 'v' });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const back = decodeSafetensors(bytes, 'mem');
    expect(back.metadata).toEqual({ k: 'v' });
    expect([...back.tensors.get('a')!.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.get('b')!.shape).toEqual([]);
  });

  it('rejects truncated and foreign files with FormatError naming the source', () => {
    const bytes = encodeSafetensors(new Map([['a', { shape: [4], data: new Float32Array(4) }]]));
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 3), 'cut.safetensors')).toThrow(dn.FormatError);
    expect(() => decodeSafetensors(new TextEncoder().encode('hello world, not weights'), 'x.txt')).toThrow(/x\.txt/);
  });
});

describe('checkpoints', () => {
  it('save and load restore weights, buffers and optimiser state', async () => {
    const a = new Tiny(3, 1);
    const opt = new Adam(a.trainableParameters(), { lr: 0.1 });
    a.w.grad = dn.full([3, 2], 0.5);
    opt.step();
    const path = join(dir, 'a.safetensors');
    await saveCheckpoint(path, a, opt, { epoch: 4, seed: 9, architecture: { name: 'tiny' } });
    const b = new Tiny(3, 0);
    const optB = new Adam(b.trainableParameters(), { lr: 1 });
    const loaded = await loadCheckpoint(path, b, optB);
    expect(loaded.meta.epoch).toBe(4);
    expect(loaded.optimizerRestored).toBe(true);
    expect(optB.lr).toBe(0.1);
    expect(optB.stepCount).toBe(1);
    expectClose('weights', await b.w.toArray(), await a.w.toArray());
    expectClose('buffer', await b.rm.toArray(), [10, 10]);
    for (const m of [a, b]) m.dispose();
    opt.dispose();
    optB.dispose();
  });

  it('carries dropout call counts so a resumed run draws the same masks', async () => {
    const make = () => new Sequential(['fc', new Linear(4, 4, { seed: 1 })], ['drop', new Dropout(0.5, 99)]);
    const a = make();
    const x = dn.tensor(new Float32Array(8).fill(1), [2, 4]);
    for (let i = 0; i < 3; i++) a.forward(x).dispose();
    const path = join(dir, 'dropout.safetensors');
    await saveCheckpoint(path, a, null, {});
    const b = make();
    await loadCheckpoint(path, b);
    expect(b.namedScalarState()).toEqual({ drop: { calls: 3 } });
    const [ya, yb] = [a.forward(x), b.forward(x)];
    expect([...(await yb.toArray())]).toEqual([...(await ya.toArray())]);
    for (const t of [x, ya, yb]) t.dispose();
    a.dispose();
    b.dispose();
  });

  it('a wrong shape fails naming the parameter and both shapes, and leaves the model untouched', async () => {
    const a = new Tiny(3, 1);
    const path = join(dir, 'shape.safetensors');
    await saveCheckpoint(path, a, null, {});
    const b = new Tiny(4, 2);
    await expect(loadCheckpoint(path, b)).rejects.toThrow(/weight.*\[3,2\].*\[4,2\]/);
    await expect(loadCheckpoint(path, b)).rejects.toBeInstanceOf(dn.ShapeError);
    expectClose('untouched', await b.w.toArray(), new Array(8).fill(2));
    a.dispose();
    b.dispose();
  });

  it("another kind of optimiser's state is refused, naming the file and both kinds, with model and optimiser untouched", async () => {
    const { a, adam, path } = await adamCheckpoint('adam.safetensors');
    const b = new Tiny(3, 2);
    const rms = new dn.optim.RMSprop(b.trainableParameters(), { lr: 0.5 });
    const err = await loadCheckpoint(path, b, rms).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(dn.FormatError);
    expect((err as Error).message).toMatch(/adam\.safetensors: the checkpoint holds Adam's state but the optimiser given is RMSprop/);
    expectClose('weights untouched', await b.w.toArray(), new Array(6).fill(2));
    expect([rms.lr, rms.stepCount, rms.stateDict().tensors.size]).toEqual([0.5, 0, 0]);
    // The same file still resumes an Adam, and gives its weights to a model loaded with no optimiser.
    const c = new Tiny(3, 0);
    const adamC = new Adam(c.trainableParameters(), { lr: 1 });
    expect((await loadCheckpoint(path, c, adamC)).optimizerRestored).toBe(true);
    expect((await loadCheckpoint(path, b)).optimizerRestored).toBe(false);
    expectClose('weights loaded', await b.w.toArray(), await a.w.toArray());
    for (const m of [a, b, c]) m.dispose();
    for (const o of [adam, rms, adamC]) o.dispose();
  });

  it('optimiser state for a parameter the optimiser lacks is refused before the weights are written', async () => {
    const { a, adam, path } = await adamCheckpoint('stray.safetensors');
    const b = new Tiny(3, 2);
    // An optimiser over another parameter than the one the state was saved for ('weight').
    const other = dn.full([3, 2], 0, { requiresGrad: true });
    const otherOpt = new Adam([{ name: 'other', tensor: other }], { lr: 0.5 });
    await expect(loadCheckpoint(path, b, otherOpt)).rejects.toThrow(/stray\.safetensors: optimizer state: .* belongs to no parameter/);
    expectClose('weights untouched', await b.w.toArray(), new Array(6).fill(2));
    expect(otherOpt.lr).toBe(0.5);
    for (const m of [a, b]) m.dispose();
    for (const o of [adam, otherOpt]) o.dispose();
    other.dispose();
  });

  it('damaged metadata is a FormatError naming the file, with model and optimiser untouched', async () => {
    const { a, adam, path } = await adamCheckpoint('meta.safetensors');
    const saved = decodeSafetensors(readFileSync(path), path);
    const damaged = [
      { key: 'modules', value: '{"drop": {"calls"', error: /meta-modules\.safetensors: the checkpoint's 'modules' metadata is not JSON/ },
      { key: 'meta', value: '[1, 2]', error: /meta-meta\.safetensors: the checkpoint's 'meta' metadata is \[1,2\], not an object/ },
      { key: 'optimizer', value: '{"type": "Adam", "step": 1}', error: /meta-optimizer\.safetensors: the checkpoint's optimiser metadata lacks a valid type, learning rate and step count/ },
    ];
    for (const d of damaged) {
      const file = join(dir, `meta-${d.key}.safetensors`);
      writeFileSync(file, encodeSafetensors(saved.tensors, { ...saved.metadata, [d.key]: d.value }));
      const b = new Tiny(3, 2);
      const opt = new Adam(b.trainableParameters(), { lr: 0.5 });
      const err = await loadCheckpoint(file, b, opt).catch((e: unknown) => e);
      expect(err, d.key).toBeInstanceOf(dn.FormatError);
      expect((err as Error).message).toMatch(d.error);
      expectClose(`${d.key}: weights untouched`, await b.w.toArray(), new Array(6).fill(2));
      expectClose(`${d.key}: buffer untouched`, await b.rm.toArray(), [20, 20]);
      expect([opt.lr, opt.stepCount, opt.stateDict().tensors.size], d.key).toEqual([0.5, 0, 0]);
      b.dispose();
      opt.dispose();
    }
    a.dispose();
    adam.dispose();
  });

  it('a save killed mid-write leaves the previous checkpoint loadable', async () => {
    const path = join(dir, 'crash.safetensors');
    const small = new Tiny(2, 3);
    await saveCheckpoint(path, small, null, { epoch: 1 });
    const before = readFileSync(path);
    // A child process rewrites the same path with a large file and is killed while writing.
    const bundle = join(dir, 'writer.mjs');
    await build({ entryPoints: ['src/io/files.ts'], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
    const script = join(dir, 'crash.mjs');
    writeFileSync(script, `import { writeFileAtomic } from ${JSON.stringify(bundle)};\nconsole.log('start');\nawait writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(400_000_000).fill(7));\nconsole.log('done');\n`);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Either the old file is intact, or (if the write won the race) a complete new one replaced it.
    const size = statSync(path).size;
    if (size === before.length) {
      expect(readFileSync(path).equals(before)).toBe(true);
      const again = new Tiny(2, 0);
      await loadCheckpoint(path, again);
      expectClose('previous weights', await again.w.toArray(), [3, 3, 3, 3]);
      again.dispose();
    } else {
      expect(size).toBe(400_000_000);
    }
    expect(readdirSync(dir).some((f) => f === 'crash.safetensors')).toBe(true);
    small.dispose();
  });
});
