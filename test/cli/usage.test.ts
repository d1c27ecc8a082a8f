// --help on every command lists every option; mistakes get one-line errors and a non-zero exit.
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainSpec } from '../../src/cli/train.js';
import { evalSpec } from '../../src/cli/eval.js';
import { predictSpec } from '../../src/cli/predict.js';
import { demoSpec } from '../../src/cli/demo.js';
import { sweepSpec } from '../../src/cli/sweep.js';
import { buildCli, runCliSync } from './helpers.js';

let cli = '';
beforeAll(async () => {
  cli = await buildCli();
});
afterAll(() => rmSync(dirname(cli), { recursive: true, force: true }));

describe('dawnet usage', () => {
  it('lists the commands', () => {
    const r = runCliSync(cli, ['--help']);
    expect(r.code).toBe(0);
    for (const c of ['demo', 'train', 'eval', 'predict', 'sweep', 'synth', 'convert', 'bench', 'info']) expect(r.stdout).toContain(`  ${c} `);
  });

  for (const spec of [trainSpec, evalSpec, predictSpec, demoSpec, sweepSpec]) {
    it(`${spec.name} --help lists every option`, () => {
      const r = runCliSync(cli, [spec.name, '--help']);
      expect(r.code).toBe(0);
      for (const flag of Object.keys(spec.flags)) expect(r.stdout).toContain(`--${flag}`);
      expect(r.stdout, 'no empty default').not.toContain('(default: )');
    });
  }

  it("sweep --help gives train's defaults for --batch and --lr", () => {
    const r = runCliSync(cli, ['sweep', '--help']);
    expect(r.stdout).toMatch(/--batch <a,b,\.\.\.>\s+batch sizes \(default: train's, classify 32, segment 16\)/);
    expect(r.stdout).toMatch(/--lr <a,b,\.\.\.>\s+learning rates \(default: train's, classify 0\.001, segment 0\.0001\)/);
  });

  it('a wrong flag is a one-line error with a non-zero exit', () => {
    const r = runCliSync(cli, ['train', 'segment', '--data', '/tmp', '--epoch', '3']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--epoch');
  });

  it('a bad value is a one-line error', () => {
    const r = runCliSync(cli, ['train', 'segment', '--data', '/tmp', '--augment', 'sideways']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a missing data folder is a one-line error naming it', () => {
    const r = runCliSync(cli, ['train', 'segment', '--data', '/nonexistent/kaggle_3m', '--out', '/tmp/dawnet-never']);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('/nonexistent/kaggle_3m');
  });

  it("a missing input file is a one-line error naming it (Node's own message, no stack)", () => {
    const r = runCliSync(cli, ['convert', '/nonexistent/vgg16.h5', '--out', '/tmp/dawnet-never.safetensors']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(["dawnet convert: ENOENT: no such file or directory, open '/nonexistent/vgg16.h5'"]);
  });

  it('an unknown command says which exist', () => {
    const r = runCliSync(cli, ['trian']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown command');
  });
});
