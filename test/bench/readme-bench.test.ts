// scripts/readme-bench.mjs: the benchmark tables in bench/README.md and their summaries in the
// README are exactly what their records render to (so a number in either is a number a run
// wrote), how each kind of block is regenerated, and that --check names a stale block of either.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/readme-bench.mjs');

type Kind = 'record' | 'summary';
type Render = (record: string) => string[];
type Script = {
  blockLines: (markdown: string) => string[];
  regenerate: (doc: string, render: Render, kind?: Kind) => string;
  staleBlocks: (doc: string, render: Render, kind?: Kind) => { record: string; line: number }[];
  headings: (doc: string) => { line: number; heading: string; anchor: string }[];
  fullLink: (record: string, from: string, benchDoc: string, benchPath: string) => string;
};
const load = async (): Promise<Script> => (await import(SCRIPT)) as Script;

const run = (args: string[]) =>
  new Promise<{ code: number; out: string }>((ok) =>
    execFile(process.execPath, [SCRIPT, ...args], { cwd: ROOT }, (error, stdout, stderr) => ok({ code: error ? (error.code as number) : 0, out: stdout + stderr })),
  );

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

  it('regenerates summary blocks without blank lines inside, leaving full blocks alone, and each kind idempotently', async () => {
    const { regenerate } = await load();
    const doc = ['<!-- bench-summary a.json: generated -->', 'old', '<!-- /bench-summary -->', '<!-- bench-record a.json: x -->', 'old', '<!-- /bench-record -->'].join('\n');
    const summary = regenerate(doc, (r) => [`summary of ${r}`], 'summary');
    expect(summary.split('\n')).toEqual(['<!-- bench-summary a.json: generated -->', 'summary of a.json', '<!-- /bench-summary -->', '<!-- bench-record a.json: x -->', 'old', '<!-- /bench-record -->']);
    expect(regenerate(summary, (r) => [`summary of ${r}`], 'summary')).toBe(summary);
    const both = regenerate(summary, (r) => [`table of ${r}`], 'record');
    expect(both.split('\n').slice(3)).toEqual(['<!-- bench-record a.json: x -->', '', 'table of a.json', '', '<!-- /bench-record -->']);
    expect(regenerate(both, (r) => [`summary of ${r}`], 'summary')).toBe(both);
    expect(() => regenerate('<!-- bench-summary a.json: x -->\n<!-- /bench-record -->', (r) => [r], 'summary')).toThrow(/line 1: .* has no '<!-- \/bench-summary -->'/);
  });

  it('names the stale blocks of a kind by record and line', async () => {
    const { staleBlocks } = await load();
    const doc = ['x', '<!-- bench-summary a.json: g -->', 'summary of a.json', '<!-- /bench-summary -->', '<!-- bench-summary b.json: g -->', 'typed by hand', '<!-- /bench-summary -->'].join('\n');
    expect(staleBlocks(doc, (r) => [`summary of ${r}`], 'summary')).toEqual([{ record: 'b.json', line: 5 }]);
    expect(staleBlocks(doc, (r) => [`summary of ${r}`], 'record')).toEqual([]);
  });

  it("links a summary to the heading above its record's full block, with GitHub's anchors", async () => {
    const { headings, fullLink } = await load();
    const bench = [
      '# Title', '## Results', '### NVIDIA H200 (GPU, Dawn\'s Vulkan backend), the latest run', '<!-- bench-record h.json: g -->', '#### Bars', '<!-- /bench-record -->',
      '```', '# not a heading', '```', '### lavapipe (CPU)', '#### Bars', '<!-- bench-record l.json: g -->', '<!-- /bench-record -->',
    ].join('\n');
    expect(headings(bench).map((h) => h.anchor)).toEqual(['title', 'results', 'nvidia-h200-gpu-dawns-vulkan-backend-the-latest-run', 'bars', 'lavapipe-cpu', 'bars-1']);
    expect(fullLink('h.json', '/r/README.md', bench, '/r/bench/README.md')).toMatch(/\[NVIDIA H200 \(GPU, Dawn's Vulkan backend\), the latest run\]\(bench\/README\.md#nvidia-h200-gpu-dawns-vulkan-backend-the-latest-run\)\.$/);
    expect(fullLink('l.json', '/r/README.md', bench, '/r/bench/README.md')).toMatch(/\[Bars\]\(bench\/README\.md#bars-1\)\.$/);
    expect(() => fullLink('x.json', '/r/README.md', bench, '/r/bench/README.md')).toThrow(/summary of x\.json has no full block/);
  });

  it("bench/README.md's relative links, and the README's into it, reach a file and a heading", async () => {
    const { headings } = await load();
    for (const file of ['bench/README.md', 'README.md']) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
      const checked = file === 'README.md' ? links.filter((l) => l.startsWith('bench/')) : links;
      expect(checked.length, file).toBeGreaterThan(file === 'README.md' ? 2 : 10);
      for (const link of checked) {
        const [path, anchor] = link.split('#');
        const target = path ? resolve(ROOT, dirname(file), path) : join(ROOT, file);
        expect(existsSync(target), `${file}: ${link}`).toBe(true);
        if (anchor) expect(headings(readFileSync(target, 'utf8')).map((h) => h.anchor), `${file}: ${link}`).toContain(anchor);
      }
    }
  });

  it("the README's summaries and bench/README.md's tables are what their records render to", async () => {
    const r = await run(['--check']);
    expect(r.out).toMatch(/bench\/README\.md: benchmark block\(s\) up to date \(0 summary, [1-9]\d* full\)/);
    expect(r.out).toMatch(/(^|\n)README\.md: benchmark block\(s\) up to date \([1-9]\d* summary, 0 full\)/);
    expect(r.code, r.out).toBe(0);
  }, 60_000);
});

describe('readme-bench on copies of the two READMEs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dawnet-readme-bench-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const readme = join(dir, 'README.md');
  const bench = join(dir, 'bench', 'README.md');
  const original = { readme: readFileSync(join(ROOT, 'README.md'), 'utf8'), bench: readFileSync(join(ROOT, 'bench/README.md'), 'utf8') };
  const files = ['--readme', readme, '--bench-readme', bench];

  /** The text with the first line after the marker of the record's block (of the kind) replaced. */
  const tamper = (text: string, kind: Kind, record: string) => {
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith(`<!-- bench-${kind} ${record}: `));
    expect(at, `no bench-${kind} block of ${record}`).toBeGreaterThanOrEqual(0);
    lines[at + 2] = 'typed by hand';
    return lines.join('\n');
  };

  it.each([
    ['summary', 'bench/results/nvidia-h200.json'],
    ['record', 'bench/results/mesa-software-llvmpipe-llvm-15-0-6-256-bits.json'],
  ] as const)('--check fails on a stale %s block naming it, and a run regenerates it as it was', async (kind, record) => {
    mkdirSync(join(dir, 'bench'), { recursive: true });
    const which = kind === 'summary' ? readme : bench;
    const before = kind === 'summary' ? original.readme : original.bench;
    writeFileSync(readme, original.readme);
    writeFileSync(bench, original.bench);
    const stale = tamper(before, kind, record);
    writeFileSync(which, stale);
    const check = await run(['--check', ...files]);
    expect(check.code, check.out).toBe(1);
    expect(check.out).toContain(`: the bench-${kind} block of ${record} is out of date`);
    expect(check.out.match(/is out of date/g)).toHaveLength(1);
    expect(readFileSync(which, 'utf8')).toBe(stale);
    const regen = await run(files);
    expect(regen.code, regen.out).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe(original.readme);
    expect(readFileSync(bench, 'utf8')).toBe(original.bench);
    const again = await run(['--check', ...files]);
    expect(again.code, again.out).toBe(0);
  }, 120_000);
});
