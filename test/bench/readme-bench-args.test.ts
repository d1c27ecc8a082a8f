// scripts/readme-bench.mjs's arguments: an unknown one (a misspelt --check used to regenerate the
// README and exit 0) and --readme or --bench-readme without its file are refused before anything is
// read or written.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/readme-bench.mjs');
const dir = mkdtempSync(join(tmpdir(), 'dawnet-readme-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Parsed = { check: boolean; readme: string; benchReadme: string } | { help: true } | Error;
const load = async () => (await import(SCRIPT)) as { parseArgs: (args: string[]) => Parsed };

describe('readme-bench arguments', () => {
  it('parses --check, --readme FILE and --bench-readme FILE, and refuses anything else', async () => {
    const { parseArgs } = await load();
    expect(parseArgs([])).toEqual({ check: false, readme: join(ROOT, 'README.md'), benchReadme: join(ROOT, 'bench', 'README.md') });
    expect(parseArgs(['--readme', 'x.md', '--check'])).toEqual({ check: true, readme: join(process.cwd(), 'x.md'), benchReadme: join(ROOT, 'bench', 'README.md') });
    expect(parseArgs(['--bench-readme', 'y.md'])).toEqual({ check: false, readme: join(ROOT, 'README.md'), benchReadme: join(process.cwd(), 'y.md') });
    expect(parseArgs(['--help'])).toEqual({ help: true });
    for (const [args, why] of [[['--chek'], /unknown argument '--chek'/], [['x.md'], /unknown argument 'x.md'/], [['--readme'], /--readme needs a file/], [['--readme', '--check'], /--readme needs a file, got '--check'/], [['--readme', ''], /--readme needs a file/], [['--bench-readme'], /--bench-readme needs a file/], [['--bench-readme', '--check'], /--bench-readme needs a file, got '--check'/]] as const) {
      const r = parseArgs([...args]);
      expect(r, args.join(' ')).toBeInstanceOf(Error);
      expect((r as Error).message).toMatch(why);
    }
  });

  it('leaves the READMEs alone and exits 2 on a misspelt --check', () => {
    const copy = join(dir, 'README.md');
    const stale = '# x\n<!-- bench-record bench/results/nvidia-h200.json: generated -->\nstale\n<!-- /bench-record -->\n';
    writeFileSync(copy, stale);
    for (const args of [['--chek', '--readme', copy], ['--readme', copy, '--readme'], ['--bench-readme', copy, '--chek']]) {
      const run = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/^readme-bench: .*usage: node scripts\/readme-bench.mjs/);
      expect(readFileSync(copy, 'utf8')).toBe(stale);
    }
  });
});
