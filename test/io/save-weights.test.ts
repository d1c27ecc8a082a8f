// saveWeights / encodeWeights against loadWeights: a model's weights written and read back into a
// freshly initialised one give the same outputs, every name loaded, nothing missing; the write is
// atomic (a file that exists is replaced whole).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const dir = mkdtempSync(join(tmpdir(), 'dawnet-save-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('saveWeights', () => {
  for (const [name, build, input] of [
    ['U-Net with batch norm (buffers too)', () => dn.models.unet({ features: 4, depth: 2 }), [1, 16, 16, 3]],
    ['VGG16 at width 1/16', () => dn.models.vgg16({ widthScale: 1 / 16 }), [1, 32, 32, 3]],
  ] as [string, () => dn.Module, number[]][]) {
    it(`${name}: written, read back into a fresh model, the same outputs`, async () => {
      dn.setInitSeed(1);
      const a = build();
      const x = dn.tensor(Float32Array.from({ length: input.reduce((p, d) => p * d, 1) }, (_, i) => Math.sin(i)), input);
      const path = join(dir, `${name.split(' ')[0]}.safetensors`);
      writeFileSync(path, 'an older file');
      await dn.io.saveWeights(a, path, { note: 'test' });
      const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
      expect(metadata).toMatchObject({ format: 'dawnet-weights-1', note: 'test' });
      expect([...tensors.keys()].sort()).toEqual([...a.stateDict().keys()].sort());
      // Another seed: a load that silently did nothing would show in the outputs.
      dn.setInitSeed(2);
      const b = build();
      const report = await dn.io.loadWeights(b, path);
      expect(report.missing).toEqual([]);
      expect(report.unexpected).toEqual([]);
      expect(report.loaded.length).toBe(a.stateDict().size);
      const [ya, yb] = dn.noGrad(() => [a.eval().forward(x), b.eval().forward(x)]);
      expect(Array.from(await yb.toArray())).toEqual(Array.from(await ya.toArray()));
      for (const t of [x, ya, yb]) t.dispose();
      a.dispose();
      b.dispose();
    });
  }

  it('a bad path or model is an ArgumentError naming the function', async () => {
    const m = new dn.nn.Linear(2, 2);
    await expect(dn.io.saveWeights(m, '')).rejects.toThrow(/^saveWeights: path/);
    await expect(dn.io.encodeWeights({} as never)).rejects.toThrow(/^encodeWeights: model/);
    m.dispose();
  });
});
