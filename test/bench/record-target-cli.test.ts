// `dawnet bench` without --out, run for real (one tiny case on this machine's adapter) in an empty
// folder: the first run writes the adapter's default record bench/results/<adapter>.json as
// before; the next leaves it byte for byte and writes a new file beside it, saying so at the start
// and at the end; --out naming the default record replaces it, as asked.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../bench/record-file.js';
import { buildCli, clean } from '../cli/helpers.js';

const cwd = mkdtempSync(join(tmpdir(), 'dawnet-bench-default-'));
let cli = '';
beforeAll(async () => {
  cli = await buildCli();
});
afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
  if (cli) rmSync(dirname(cli), { recursive: true, force: true });
});

const CASE = ['--only', '^relu/unet-l1$', '--no-e2e', '--no-peak', '--no-tfjs', '--no-beside', '--reps', '1', '--warmup', '0', '--min-sample-ms', '0', '--clock', 'wall', '--scale', '32'];

function bench(...extra: string[]): string {
  const r = spawnSync(process.execPath, [cli, 'bench', ...CASE, ...extra], { cwd, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, clean(r.stdout + r.stderr)).toBe(0);
  return clean(r.stdout);
}
const results = () => readdirSync(join(cwd, 'bench', 'results')).sort();

describe('dawnet bench without --out', () => {
  it('writes the default record once, then new files beside it; --out replaces it', () => {
    const first = bench();
    const [name] = results();
    expect(results()).toEqual([name]);
    expect(name).toMatch(/^[\w-]+\.json$/);
    const def = `bench/results/${name}`;
    expect(first).toContain(`wrote ${def}`);
    expect(first).not.toMatch(/^record: /m);
    const published = readFileSync(join(cwd, def), 'utf8');

    const second = bench();
    expect(readFileSync(join(cwd, def), 'utf8')).toBe(published);
    const fresh = results().filter((f) => f !== name);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatch(new RegExp(`^${name.replace(/\.json$/, '')}\\.\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\dZ\\.json$`));
    const path = `bench/results/${fresh[0]}`;
    expect(readRecord(join(cwd, path)).rows.map((r) => r.id)).toEqual(['relu/unet-l1']);
    expect(second).toContain(`record:  ${path}\n`);
    expect(second).toContain(`wrote ${path}`);
    expect(second).toContain(`dawnet bench --compare ${def} ${path}`);
    expect(second).toContain(`--out ${def}`);

    const third = bench('--out', def);
    expect(third).toContain(`wrote ${def}`);
    expect(third).not.toMatch(/^record: /m);
    expect(readFileSync(join(cwd, def), 'utf8')).not.toBe(published);
    expect(readRecord(join(cwd, def)).date > readRecord(join(cwd, path)).date).toBe(true);
    expect(results()).toEqual([name, fresh[0]].sort());
  });
});
