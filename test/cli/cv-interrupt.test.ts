// Ctrl-C during `dawnet cv`: the fold in training saves its checkpoint, the status is 130, and the
// last line says how to go on: run the same cv command again (the fold's own line offers train's
// --resume, which continues that fold alone, not the cross-validation).
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli, tempDir } from './helpers.js';

let cli = '';
let work = '';
beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-cv-interrupt-');
}, 60_000);
afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('dawnet cv interrupted', () => {
  it('saves the fold, exits 130 and says to run cv again', async () => {
    const data = join(work, 'data');
    expect((await runCli(cli, ['synth', '--out', data, '--patients', '6', '--seed', '2', '--size', '16', '--slices', '4-6'])).code).toBe(0);
    const out = join(work, 'cv');
    let sent = false;
    const args = ['cv', 'segment', '--data', data, '--out', out, '--folds', '2', '--size', '16', '--features', '4', '--depth', '2', '--batch', '4', '--augment', 'none', '--workers', '0', '--epochs', '50', '--test-fraction', '0.2'];
    const r = await runCli(cli, args, {
      timeoutMs: 180_000,
      onStdout: (text, kill) => {
        if (!sent && text.includes('epoch 1:')) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    expect(r.code, r.stderr).toBe(130);
    expect(existsSync(join(out, 'fold-1', 'last.safetensors'))).toBe(true);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('interrupted: run the same dawnet cv command again to continue (finished folds are read back, this one resumed)');
  }, 240_000);
});
