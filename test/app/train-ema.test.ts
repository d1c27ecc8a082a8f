// dawnet train --ema: the flag's parsing and checks, and a tiny segment run in process: the decay
// kept in config.json, the average in last.safetensors (live weights) and best.safetensors (the
// averaged weights as the model's, what eval and predict load), --resume continuing it, and a
// config without the key (an older run) training without one.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTraining } from '../../src/app/train-job.js';
import { UsageError } from '../../src/cli/args.js';
import { configFromFlags, runTrain, trainSpec } from '../../src/cli/train.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('--ema', () => {
  it('is parsed into the config, 0 (off) by default', () => {
    expect(trainSpec.flags.ema.default).toBe(0);
    expect(configFromFlags('segment', { ema: 0.999 }).ema).toBe(0.999);
    expect(configFromFlags('classify', {}).ema).toBe(0);
  });

  it('a decay outside [0, 1) is a usage error', async () => {
    for (const bad of ['1', '-0.5', '1.5']) {
      const err = await runTrain(['segment', '--data', '/tmp', '--ema', bad]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/^--ema must be 0 \(off\) or a decay/);
    }
  });
});

const decode = (path: string) => decodeSafetensors(readFileSync(path), path);

describe('train with --ema', () => {
  it('keeps the decay in config.json, the average in its checkpoints, and resumes it', async () => {
    const work = mkdtempSync(join(tmpdir(), 'dawnet-train-ema-'));
    const data = join(work, 'kaggle_3m');
    await writeSyntheticDataset(data, { patients: 6, seed: 4, size: 16, slicesPerPatient: [4, 5] });
    const out = join(work, 'run');
    const flags = { data, out, epochs: 1, size: 16, features: 8, depth: 2, batch: 4, augment: 'none', workers: 0, ema: 0.9 };
    const logs: string[] = [];
    const hooks = { log: (m: string) => logs.push(m) };
    await runTraining(configFromFlags('segment', flags), hooks);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).ema).toBe(0.9);
    const last = decode(join(out, 'last.safetensors'));
    const lastEma = JSON.parse(last.metadata.ema);
    expect(lastEma).toMatchObject({ decay: 0.9, warmup: true, model: 'live' });
    expect(lastEma.updates).toBeGreaterThan(0);
    // best.safetensors: the averaged weights are the model's, so a plain load gets them.
    const best = decode(join(out, 'best.safetensors'));
    expect(JSON.parse(best.metadata.ema).model).toBe('averaged');
    const averaged = [...best.tensors.keys()].filter((n) => n.startsWith('ema/'));
    expect(averaged).toContain('ema/encoder1.enc1norm1.running_mean');
    for (const n of averaged) expect(best.tensors.get(`model/${n.slice(4)}`)!.data, n).toEqual(best.tensors.get(n)!.data);
    expect(averaged.some((n) => !last.tensors.get(`model/${n.slice(4)}`)!.data.every((v, i) => v === last.tensors.get(n)!.data[i]))).toBe(true);

    // --resume takes the stored config (ema included) and the average's state.
    await runTraining(configFromFlags('segment', { resume: out, epochs: 2 }), hooks, true);
    expect(logs.some((m) => m.includes('holds no weight average'))).toBe(false);
    const resumed = JSON.parse(decode(join(out, 'last.safetensors')).metadata.ema);
    expect(resumed.updates).toBe(2 * lastEma.updates);

    // An older run's config has no ema key: no average.
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    delete config.ema;
    writeFileSync(join(out, 'config.json'), JSON.stringify(config));
    await runTraining(configFromFlags('segment', { resume: out, epochs: 3 }), hooks, true);
    expect(decode(join(out, 'last.safetensors')).metadata.ema).toBeUndefined();
    rmSync(work, { recursive: true, force: true });
  }, 300_000);
});
