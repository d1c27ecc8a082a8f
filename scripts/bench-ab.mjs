// `node scripts/bench-ab.mjs BASE [--rounds N] -- [bench options]`: whether the working tree is
// faster than the commit BASE, by `dawnet bench` runs of both builds in ABBA order (BASE, tree,
// tree, BASE, ...; N rounds of one run each, 2 by default), then per case the median over each
// side's runs and the tree's speedup with its run-by-run range (bench/ab-summary.ts). Two builds
// can't share a process, and on a shared CPU host two runs of the same code, always in the same
// order, differed by up to 1.2x at a U-Net step (2026-11-28): the alternation and the range are
// what make such a comparison worth reading. BASE is built in a temporary git worktree (its
// node_modules linked to this one's); the records go to a temporary folder, kept with --keep.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importTs } from './ts-module.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parse(argv) {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const bench = dash < 0 ? [] : argv.slice(dash + 1);
  let rounds = 2;
  let keep = false;
  let base = null;
  for (let i = 0; i < own.length; i++) {
    if (own[i] === '--rounds') rounds = Number(own[++i]);
    else if (own[i] === '--keep') keep = true;
    else if (base === null && !own[i].startsWith('--')) base = own[i];
    else throw new Error(`unknown argument '${own[i]}'`);
  }
  if (!base || !Number.isInteger(rounds) || rounds < 1) throw new Error('usage: node scripts/bench-ab.mjs BASE [--rounds N] [--keep] -- [bench options]');
  if (bench.includes('--out')) throw new Error('bench-ab: --out is chosen by the script (one record per run)');
  return { base, rounds, keep, bench };
}

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });

async function main() {
  const { base, rounds, keep, bench } = parse(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'dawnet-ab-'));
  const tree = join(work, 'base');
  try {
    run('git', ['worktree', 'add', '--detach', tree, base], ROOT);
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    run('node', ['scripts/build.mjs'], tree);
    run('node', ['scripts/build.mjs'], ROOT);
    const sides = { A: { dir: tree, records: [] }, B: { dir: ROOT, records: [] } };
    for (let i = 0; i < rounds; i++) {
      for (const side of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        const out = join(work, `${side}-${i + 1}.json`);
        console.log(`round ${i + 1}: ${side === 'A' ? base : 'the working tree'}`);
        run('node', [join(sides[side].dir, 'dist/cli.js'), 'bench', ...bench, '--out', out], ROOT);
        sides[side].records.push(JSON.parse(readFileSync(out, 'utf8')));
      }
    }
    const { abSummary, abLines } = await importTs('bench/ab-summary.ts');
    for (const line of abLines(abSummary(sides.A.records, sides.B.records), [base, 'tree'])) console.log(line);
    if (keep) console.log(`records kept in ${work}`);
  } finally {
    try {
      run('git', ['worktree', 'remove', '--force', tree], ROOT);
    } catch {
      // Never added (a bad BASE): nothing to remove.
    }
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
