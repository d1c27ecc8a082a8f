// `dawnet demo` checks its flags as train does, before it claims the run folder or writes the
// synthetic data: --epochs 0 trained nothing and reported the untrained model with status 0,
// --seed -1 ran as seed 4294967295, and --patients 0 failed only after making the folder, which
// stayed behind. --patients beside --data, where it would be ignored, is refused.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCliSync, tempDir } from './helpers.js';
import { parseArgs } from '../../src/cli/args.js';
import { checkDemoFlags, demoSpec } from '../../src/cli/demo.js';
import { givenFlags } from '../../src/cli/train.js';

let cli = '';
let work = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-demo-flags-');
}, 60_000);
afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('dawnet demo refuses bad flags before writing anything', () => {
  it('and takes its defaults and good flags (the control: each refusal below is for its flag)', () => {
    for (const args of [[], ['--epochs', '3', '--seed', '7', '--patients', '4'], ['--data', 'anywhere']]) {
      const parsed = parseArgs(demoSpec, ['--out', join(work, 'unused'), ...args])!;
      expect(() => checkDemoFlags(parsed.flags, givenFlags(args)), args.join(' ')).not.toThrow();
    }
  });

  const cases = [
    { flags: ['--epochs', '0'], error: '--epochs must be a positive whole number, got 0' },
    { flags: ['--seed', '-1'], error: '--seed must be a whole number from 0 to 4294967295, got -1' },
    { flags: ['--patients', '0'], error: '--patients must be a positive whole number, got 0' },
    { flags: ['--patients', '2.5'], error: '--patients must be a positive whole number, got 2.5' },
    { flags: ['--data', 'anywhere', '--patients', '3'], error: '--patients sizes the synthetic data set' },
  ] as const;
  for (const [i, c] of cases.entries()) {
    it(`${c.flags.join(' ')}`, () => {
      const out = join(work, `run-${i}`);
      const r = runCliSync(cli, ['demo', '--out', out, ...c.flags]);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`dawnet demo: ${c.error}`);
      expect(existsSync(out)).toBe(false);
    });
  }
});
