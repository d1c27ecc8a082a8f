// `train classify --weights FILE`: the imported weights land in the VGG16 base and stay frozen.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { vgg16 } from '../../src/models/vgg16.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from '../../src/io/safetensors.js';
import { useGpu } from '../helpers/gpu.js';
import { buildCli, runCli, tempDir } from './helpers.js';

useGpu();

let cli = '';
let work = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-weights-');
}, 60_000);
afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('train classify --weights', () => {
  it('imports the base weights, reports them, and leaves them unchanged by training', async () => {
    // "Pretrained" weights: a seeded VGG16 at 1/8 width, written as a converted dawnet file.
    dn.setInitSeed(1234);
    const donor = vgg16({ widthScale: 0.125 });
    const tensors = new Map<string, HostTensor>();
    for (const p of donor.namedParameters()) tensors.set(p.name, { shape: [...p.tensor.shape], data: await p.tensor.toArray() });
    donor.dispose();
    const weights = join(work, 'vgg16-tiny.safetensors');
    writeFileSync(weights, encodeSafetensors(tensors, { format: 'dawnet-weights-1', model: 'vgg16', converted_from: 'test' }));

    const data = join(work, 'data');
    expect((await runCli(cli, ['synth', '--out', data, '--patients', '6', '--seed', '5', '--size', '32', '--slices', '6-8'])).code).toBe(0);
    const run = join(work, 'run');
    const r = await runCli(cli, ['train', 'classify', '--data', data, '--out', run, '--weights', weights, '--width-scale', '0.125', '--size', '32', '--epochs', '2', '--batch', '8'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`weights: loaded ${tensors.size} tensors`));
    const saved = decodeSafetensors(new Uint8Array(readFileSync(join(run, 'last.safetensors'))), 'last').tensors;
    for (const [name, t] of tensors) {
      const got = saved.get(`model/base.${name}`);
      expect(got, name).toBeDefined();
      expect(Buffer.from(got!.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} unchanged`).toBe(true);
    }
  }, 300_000);
});
