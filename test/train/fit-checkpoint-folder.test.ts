// A checkpoint's path in a folder that does not exist yet: saveCheckpoint makes the folder, as
// Keras's model.save and ModelCheckpoint do (fit's ModelCheckpoint failed with Node's bare ENOENT
// after the first epoch); a file in the way is an error naming the folder, and nothing is written.

import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';
import { loss, Scale } from '../helpers/scale-model.js';

useGpu();

const rows = { batches: () => [{ x: dn.tensor([[1], [2]]), y: dn.tensor([[2], [4]]) }] };
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('fit with ModelCheckpoint', () => {
  it("makes the checkpoint's folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dawnet-ckpt-'));
    dirs.push(dir);
    const path = join(dir, 'run', 'nested', 'best-{epoch}.safetensors');
    const model = new Scale();
    const optimizer = new dn.optim.SGD(model.parameters(), { lr: 0.01 });
    const callbacks = [new dn.train.ModelCheckpoint(path, { saveBestOnly: true })];
    await dn.train.fit(model, rows, rows, { epochs: 1, optimizer, loss, callbacks });
    expect((await stat(join(dir, 'run', 'nested', 'best-001.safetensors'))).isFile()).toBe(true);
    optimizer.dispose();
    model.dispose();
  });
});

describe('saveCheckpoint', () => {
  it('makes the folder and writes a checkpoint that loads back; a file in the way names the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dawnet-ckpt-'));
    dirs.push(dir);
    const model = new Scale();
    const path = join(dir, 'a', 'b', 'c.safetensors');
    await dn.train.saveCheckpoint(path, model, null, { epoch: 3 });
    expect((await dn.train.loadCheckpoint(path, model)).meta.epoch).toBe(3);
    await writeFile(join(dir, 'file'), 'x');
    const blocked = join(dir, 'file', 'd', 'e.safetensors');
    await expect(dn.train.saveCheckpoint(blocked, model, null, { epoch: 1 })).rejects.toThrow(`cannot create folder ${join(dir, 'file', 'd')}: ${join(dir, 'file')} is in the way`);
    model.dispose();
  });

  it("keeps NaN and infinities in meta, and refuses a folder as the path or meta JSON cannot hold, writing nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dawnet-ckpt-'));
    dirs.push(dir);
    const model = new Scale();
    const path = join(dir, 'c.safetensors');
    // A run without validation logs val_loss NaN; JSON alone would bring it back as null.
    await dn.train.saveCheckpoint(path, model, null, { epoch: 0, metrics: { loss: 0.5, val_loss: NaN }, best: Infinity, worst: -Infinity, note: { $float: 'text' } });
    const meta = (await dn.train.loadCheckpoint(path, model)).meta;
    expect(meta.metrics).toEqual({ loss: 0.5, val_loss: NaN });
    expect([meta.best, meta.worst, meta.note]).toEqual([Infinity, -Infinity, { $float: 'text' }]);
    await expect(dn.train.saveCheckpoint(dir, model, null, { epoch: 1 })).rejects.toThrow(`saveCheckpoint: ${dir} is a folder; give a file path in it, such as ${join(dir, 'model.safetensors')}`);
    const other = join(dir, 'big.safetensors');
    await expect(dn.train.saveCheckpoint(other, model, null, { epoch: 1, size: 10n })).rejects.toThrow(dn.ArgumentError);
    expect(existsSync(other)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['c.safetensors']);
    model.dispose();
  });
});
