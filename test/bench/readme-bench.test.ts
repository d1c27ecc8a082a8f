// scripts/readme-bench.mjs: the README's benchmark tables are exactly what their records render
// to (so a number in the README is a number a run wrote), and how a block is regenerated.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/readme-bench.mjs');

type Script = {
  blockLines: (markdown: string) => string[];
  regenerate: (readme: string, render: (record: string) => string[]) => string;
};
const load = async (): Promise<Script> => (await import(SCRIPT)) as Script;

describe('README benchmark blocks', () => {
  it('drops the section title and demotes the headings of a rendered record', async () => {
    const { blockLines } = await load();
    expect(blockLines('## Benchmarks\n\nMeasured on x\n\n### conv2d\n\n| a |\n\n')).toEqual(['Measured on x', '', '#### conv2d', '', '| a |']);
    expect(() => blockLines('# Something else')).toThrow(/## Benchmarks/);
  });

  it('replaces what is between the markers and keeps the text around them', async () => {
    const { regenerate } = await load();
    const readme = ['intro', '<!-- bench-record a.json: generated -->', 'stale', '<!-- /bench-record -->', 'note', '<!-- bench-record b.json: x -->', '<!-- /bench-record -->', 'end'].join('\n');
    const seen: string[] = [];
    const render = (record: string) => (seen.push(record), [`table of ${record}`]);
    const once = regenerate(readme, render);
    expect(once.split('\n')).toEqual([
      'intro', '<!-- bench-record a.json: generated -->', '', 'table of a.json', '', '<!-- /bench-record -->', 'note',
      '<!-- bench-record b.json: x -->', '', 'table of b.json', '', '<!-- /bench-record -->', 'end',
    ]);
    expect(seen).toEqual(['a.json', 'b.json']);
    expect(regenerate(once, render)).toBe(once);
    expect(() => regenerate('<!-- bench-record a.json: x -->\nno end', render)).toThrow(/line 1: .* has no '<!-- \/bench-record -->'/);
  });

  it("the README's tables are what their records render to", async () => {
    const run = await new Promise<{ code: number; out: string }>((ok) =>
      execFile(process.execPath, [SCRIPT, '--check'], { cwd: ROOT }, (error, stdout, stderr) => ok({ code: error ? 1 : 0, out: stdout + stderr })),
    );
    expect(run.out).toMatch(/benchmark block\(s\) up to date/);
    expect(run.code, run.out).toBe(0);
  }, 60_000);
});
