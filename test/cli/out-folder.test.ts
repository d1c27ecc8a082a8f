// The commands that create an --out folder, given one that cannot be created: one line naming the
// folder, at once (Node 20's recursive mkdir spins forever on a folder under /proc).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli } from './helpers.js';

let cli = '';
const work = mkdtempSync(join(tmpdir(), 'dawnet-out-folder-'));
beforeAll(async () => {
  cli = await buildCli();
}, 60_000);
afterAll(() => {
  if (cli) rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

async function refused(args: string[], folder: string): Promise<string> {
  const r = await runCli(cli, args, { timeoutMs: 20_000 });
  expect(r.signal, `${args[0]} still running after 20 s`).toBe(null);
  expect(r.code, r.stdout).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(`dawnet ${args[0]}: cannot create folder ${folder}:`);
  return r.stderr;
}

describe('an --out that cannot be created', () => {
  it.runIf(process.platform === 'linux')('under /proc: synth, lr-find and demo fail at once, naming it', async () => {
    const out = '/proc/dawnet-no-such/out';
    await refused(['synth', '--out', out, '--patients', '1', '--size', '8', '--slices', '1-1'], out);
    await refused(['lr-find', 'segment', '--data', work, '--out', out], out);
    await refused(['demo', '--out', out], out);
  }, 90_000);

  it('a file above --out: synth names the folder and the file in the way', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const out = join(file, 'data');
    const stderr = await refused(['synth', '--out', out, '--patients', '1', '--size', '8', '--slices', '1-1'], out);
    expect(stderr).toContain(`${file} is in the way`);
  }, 60_000);
});
