// scripts/build-web.mjs's command line. Read loosely, `--outdir` without its folder resolved '' to
// the current folder and wrote app.js, index.html, style.css and meta.json there (the repository
// root when run from it), and `--outdir=DIR` or a misspelt option were ignored without a word, the
// page going to dist/web instead. Each is refused now, naming the option and the usage.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './page-fixture.js';

const SCRIPT = join(ROOT, 'scripts/build-web.mjs');

type Parse = (argv: string[]) => { outdir: string | undefined; minify: boolean };
let parse: Parse;
let cwd = '';

beforeAll(async () => {
  parse = ((await import(SCRIPT)) as { parseBuildWebArgs: Parse }).parseBuildWebArgs;
  cwd = await mkdtemp(join(tmpdir(), 'dawnet-build-web-args-'));
});

afterAll(async () => {
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

describe('build-web command line', () => {
  it('takes --outdir DIR, --outdir=DIR and --minify', () => {
    expect(parse([])).toEqual({ outdir: undefined, minify: false });
    expect(parse(['--outdir', 'site'])).toEqual({ outdir: resolve('site'), minify: false });
    expect(parse(['--outdir=site', '--minify'])).toEqual({ outdir: resolve('site'), minify: true });
  });

  const refused = [
    { argv: ['--outdir'], names: '--outdir' },
    { argv: ['--outdir='], names: '--outdir' },
    { argv: ['--outdir', '--minify'], names: '--outdir' },
    { argv: ['--minfy'], names: '--minfy' },
    { argv: ['site'], names: 'site' },
  ] as const;
  for (const { argv, names } of refused) {
    it(`refuses ${JSON.stringify(argv)}, naming ${names}`, () => {
      expect(() => parse([...argv])).toThrow(Error);
      expect(() => parse([...argv])).toThrow(names);
    });
  }

  it('run with --outdir alone, exits 1 and writes nothing into the current folder', async () => {
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((ok) => {
      execFile(process.execPath, [SCRIPT, '--outdir'], { cwd }, (error, _stdout, stderr) => ok({ code: error ? Number(error.code) : 0, stderr }));
    });
    expect(code).toBe(1);
    expect(stderr).toContain('usage: node scripts/build-web.mjs');
    expect(await readdir(cwd)).toEqual([]);
  }, 60_000);
});
