// ModelCheckpoint's file path in a folder that does not exist yet: fit makes the folder, as
// Keras's ModelCheckpoint does, where it failed with Node's bare ENOENT after the first epoch.

import { mkdtemp, rm, stat } from 'node:fs/promises';
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
