// The commands no other test file covers (info, smoke, convert, serve, synth, lr-find) check their
// options as train does, --help lists them, and a mistyped command or option gets a suggestion.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nearest, UsageError } from '../../src/cli/args.js';
import { convertSpec, parseConvertArgs } from '../../src/cli/convert.js';
import { infoSpec } from '../../src/cli/info.js';
import { lrFindSpec } from '../../src/cli/lr-find.js';
import { serveSpec } from '../../src/cli/serve.js';
import { smokeSpec } from '../../src/cli/smoke.js';
import { synthSpec } from '../../src/cli/synth.js';
import { buildCli, runCliSync } from './helpers.js';

let cli = '';
beforeAll(async () => {
  cli = await buildCli();
});
afterAll(() => rmSync(dirname(cli), { recursive: true, force: true }));

describe('commands', () => {
  for (const spec of [infoSpec, smokeSpec, convertSpec, serveSpec, synthSpec, lrFindSpec]) {
    it(`${spec.name} --help lists every option`, () => {
      const r = runCliSync(cli, [spec.name, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: dawnet ${spec.name}`);
      for (const flag of Object.keys(spec.flags)) expect(r.stdout).toContain(`--${flag}`);
    });
  }

  for (const name of ['info', 'smoke']) {
    it(`${name} refuses an unknown option before touching the GPU`, () => {
      const r = runCliSync(cli, [name, '--jsn']);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('adapter');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('--jsn');
    });
  }

  it('convert: usage mistakes are UsageErrors naming the option', () => {
    expect(() => parseConvertArgs(['in.pt', '--out', 'o.safetensors', '--bogus'])).toThrow(/unknown option --bogus/);
    expect(() => parseConvertArgs(['in.pt'])).toThrow(UsageError);
    expect(() => parseConvertArgs(['in.pt', '--out', 'o', '--model', 'resnet'])).toThrow(UsageError);
    expect(() => parseConvertArgs(['a.pt', 'b.pt', '--out', 'o'])).toThrow(UsageError);
    const r = runCliSync(cli, ['convert', 'in.pt', '--out']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['dawnet convert: --out needs a value']);
  });

  it('a mistyped command or option gets the nearest as a suggestion, exit status 1', () => {
    const r = runCliSync(cli, ['trian']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("did you mean 'train'?");
    expect(runCliSync(cli, ['lr-fnd']).stderr).toContain("did you mean 'lr-find'?");
    expect(runCliSync(cli, ['synth', '--patient', '3']).stderr).toContain('did you mean --patients?');
    expect(nearest('zzzzzz', ['train', 'eval'])).toBeUndefined();
  });

  it('lr-find refuses an --out it cannot write before acquiring the GPU or reading the data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dawnet-lr-find-out-'));
    try {
      const file = join(dir, 'a-file');
      writeFileSync(file, 'kept');
      const r = runCliSync(cli, ['lr-find', 'segment', '--data', join(dir, 'no-data'), '--out', file]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('adapter');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toContain('EEXIST');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dawnet --help states the exit statuses', () => {
    expect(runCliSync(cli, ['--help']).stdout).toContain('Exit status: 0 done, 1 an error (a usage mistake included), 130 interrupted by Ctrl-C.');
  });
});
