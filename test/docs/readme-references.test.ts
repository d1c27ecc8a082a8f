// README.md and bench/README.md checked against the code they describe, as text: every `dn.*`
// they name is an export (a class where it is constructed), every bare call in their prose is a
// function or method of dawnet, every op in the op table an export of src/index.ts, every --flag a
// flag of a dawnet command (of that command, where the text says which), every repository path
// and relative link a file that exists. No GPU: the exports are imported, never run.
//
// The allow-lists below hold the few names the text writes that are not dawnet's, each with why.
// The second half of the file plants a mistake of each kind in a copy of the text and expects the
// check to name it, so that no check here passes by reading nothing.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import type { CommandSpec } from '../../src/cli/args.js';
import { USAGE as BENCH_USAGE } from '../../bench/options.js';
import { CONV_ALGORITHMS } from '../../src/kernels/conv2d-winograd-run.js';
import { ROOT } from './readme-blocks.js';
import {
  callableNames,
  checkBareCalls,
  checkCommandFlags,
  checkDnReferences,
  checkFlags,
  checkOpTable,
  checkFlagChoices,
  checkPaths,
  codeSpans,
  quotedChoices,
  type PathRoot,
} from './doc-checks.js';

const README_PATH = join(ROOT, 'README.md');
const BENCH_README_PATH = join(ROOT, 'bench', 'README.md');
const README = readFileSync(README_PATH, 'utf8');
const BENCH_README = readFileSync(BENCH_README_PATH, 'utf8');
const DN = dn as unknown as Record<string, unknown>;

/** Bare calls in the prose that are not dawnet's: what the text compares with or builds on. */
const CALL_ALLOW = new Set([
  'import', // `import('dawnet')`, `await import('dawnet')`: JavaScript's dynamic import
  'require', // `require('dawnet')`: Node's CommonJS loader, for the ES-module note
  'fetch', // `await (await fetch(url)).arrayBuffer()`: the platform's fetch, for bytes in a page
  'net', // `net(x)`: what a module is not (PyTorch's callable modules), next to `net.forward(x)`
  'log_softmax', // torch 1.13's `log_softmax([15, 0])`, the inaccuracy dawnet's series avoids
  'kaiming_uniform', // PyTorch's default initialiser `kaiming_uniform(a=√5)`, which dawnet's is not
  'zero_grad', // PyTorch's `zero_grad()`, the name of dawnet's `zeroGrad()`
  'batches', // `{ batches(epoch) }`: the dataset protocol fit reads, an interface with no class to export
  'batchesFrom', // the same protocol's optional `batchesFrom(epoch, from)`
  'onEpoch', // `onEpoch(epoch, logs)`: fit's option, a callback the user writes
]);

/** Names the op table writes that are not exports of src/index.ts. */
const OP_ALLOW = new Set<string>([]);

/** Other programs' flags the texts mention, each with the program. */
const FLAG_ALLOW = new Set([
  'name', // "`--name value` or `--name=value`": the form of any option, a placeholder
  'no-name', // "`--no-name` turns a switch off": likewise a placeholder
  'pack-destination', // `npm pack --pack-destination /tmp`: npm's, in "In another project"
  'rounds', // `node scripts/bench-ab.mjs BASE [--rounds N]`: that script's, in bench/README.md
  'enable-dawn-features', // Chromium's, for DAWNET_BROWSER_FLAGS, in bench/README.md's SwiftShader section
]);

/** The flag tables of the dawnet commands, from each src/cli/*.ts's CommandSpec (what `--help` prints). */
async function commandFlags(): Promise<Map<string, Set<string>>> {
  return (await commandTables()).flags;
}

/** Each command's flags, and each flag's choices (the union over the commands that have it). */
async function commandTables(): Promise<{ flags: Map<string, Set<string>>; choices: Map<string, Set<string>> }> {
  const out = new Map<string, Set<string>>();
  const choices = new Map<string, Set<string>>();
  for (const f of readdirSync(join(ROOT, 'src', 'cli')).filter((f) => f.endsWith('.ts') && f !== 'main.ts')) {
    const mod = (await import(/* @vite-ignore */ join(ROOT, 'src', 'cli', f))) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const spec = v as CommandSpec;
      if (spec && typeof spec === 'object' && typeof spec.name === 'string' && spec.flags && typeof spec.flags === 'object') {
        const flags = new Set(['help']);
        for (const [name, f] of Object.entries(spec.flags)) {
          flags.add(name);
          if (f.choices) choices.set(name, new Set([...(choices.get(name) ?? []), ...f.choices]));
          if (f.type === 'boolean') flags.add(`no-${name}`); // parseArgs's negation of a switch
        }
        out.set(spec.name, flags);
      }
    }
  }
  // `dawnet bench` parses its own options (bench/options.ts); its usage text lists them.
  out.set('bench', new Set(['help', ...[...BENCH_USAGE.matchAll(/^ {2}--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!)]));
  // bench's --conv-algorithm (bench/options.ts) takes 'auto' and every algorithm.
  choices.set('conv-algorithm', new Set(['auto', ...CONV_ALGORITHMS]));
  return { flags: out, choices };
}

/** The commands src/cli/main.ts dispatches, read from its COMMANDS table. */
function dispatchedCommands(): string[] {
  const main = readFileSync(join(ROOT, 'src', 'cli', 'main.ts'), 'utf8');
  const table = /const COMMANDS[^{]*\{([\s\S]*?)\n\};/.exec(main)![1]!;
  return [...table.matchAll(/^\s*'?([a-z][\w-]*)'?:\s*\{/gm)].map((m) => m[1]!);
}

const README_ROOTS: PathRoot[] = [{ prefix: /^(src|test|bench|scripts|web)\//, dir: ROOT }];
// bench/README.md writes paths under bench/ from its own folder (`results/...`, `memory.ts`), others from the root.
const BENCH_ROOTS: PathRoot[] = [
  { prefix: /^(src|test|bench|scripts|web)\//, dir: ROOT },
  { prefix: /^(results\/|[\w-]+\.ts$)/, dir: join(ROOT, 'bench') },
];

describe('README.md names what exists', () => {
  it('every dn.* is an export of src/index.ts, a class where constructed', () => {
    expect(checkDnReferences(README, DN)).toEqual([]);
    expect(checkDnReferences(BENCH_README, DN, 'bench/README.md')).toEqual([]);
  });

  it('every bare call in the prose is a dawnet function or method', () => {
    expect(checkBareCalls(README, callableNames(DN), CALL_ALLOW)).toEqual([]);
  });

  it('every op in the op table is an export of src/index.ts', () => {
    expect(checkOpTable(README, DN, OP_ALLOW)).toEqual([]);
  });

  it('every --flag is a flag of a dawnet command, of the command named where one is', async () => {
    const flags = await commandFlags();
    expect(dispatchedCommands().filter((c) => !flags.has(c)), 'commands of main.ts whose flag table was not found').toEqual([]);
    const all = new Set([...flags.values()].flatMap((s) => [...s]));
    expect(checkFlags(README, all, FLAG_ALLOW)).toEqual([]);
    expect(checkFlags(BENCH_README, all, FLAG_ALLOW, 'bench/README.md')).toEqual([]);
    expect(checkCommandFlags(README, flags)).toEqual([]);
    expect(checkCommandFlags(BENCH_README, flags, 'bench/README.md')).toEqual([]);
  });

  it('every choice written after a flag is one of its choices', async () => {
    const { choices } = await commandTables();
    expect(choices.get('optimizer')?.size, 'train --optimizer has choices').toBeGreaterThan(1);
    expect(checkFlagChoices(README, choices)).toEqual([]);
    expect(checkFlagChoices(BENCH_README, choices, 'bench/README.md')).toEqual([]);
  });

  it("setConvAlgorithm's list names every algorithm and nothing else", () => {
    const lists = quotedChoices(README, 'setConvAlgorithm');
    expect(lists.length, 'the op table writes setConvAlgorithm with its choices').toBe(1);
    expect(lists[0]!.values, `README.md line ${lists[0]!.line}`).toEqual(['auto', ...CONV_ALGORITHMS]);
  });

  it('every repository path and relative link exists', () => {
    expect(checkPaths(README, README_PATH, README_ROOTS)).toEqual([]);
    expect(checkPaths(BENCH_README, BENCH_README_PATH, BENCH_ROOTS, 'bench/README.md')).toEqual([]);
  });
});

describe('the checks find what they look for', () => {
  it('read the texts at all: spans, dn.* chains, flags and paths in the numbers the READMEs hold', () => {
    expect(codeSpans(README).length).toBeGreaterThan(500);
    expect(README.match(/\bdn\.\w/g)!.length).toBeGreaterThan(80);
    expect(README.match(/(?<![\w-])--[a-z]/g)!.length).toBeGreaterThan(80);
    expect(codeSpans(BENCH_README).length).toBeGreaterThan(100);
  });

  it('name a dn.* that is no export, a constructed function, a non-class layer and a bad list entry', () => {
    const bad = ['x', 'call `dn.notAnExport(x)` here', 'const o = new dn.optim.clipGradNorm(p, 1);', '- `dn.nn`: `Conv2d, Conv4d, ReLU`', 'and `dn.train.fitt(model)`'].join('\n');
    expect(checkDnReferences(bad, DN)).toEqual([
      'README.md line 2: dn.notAnExport: dn.notAnExport is not an export of src/index.ts',
      'README.md line 3: new dn.optim.clipGradNorm: not a class',
      "README.md line 4: `dn.nn`'s list names Conv4d: dn.nn.Conv4d is not an export of src/index.ts",
      'README.md line 5: dn.train.fitt: dn.train.fitt is not an export of src/index.ts',
    ]);
    expect(checkDnReferences('`dn.nn.relu` and `dn.optim.adam`', DN)).toHaveLength(2);
  });

  it('name a bare call that is not dawnet\'s, but not a method, a WGSL attribute or a call in a code block', () => {
    const bad = 'one `maxPool4d(x, {size})` and `t.whatever()`\n\n`@binding(0)`, `net.forward(x)`, `toArray()`\n```js\nlocalFn(1)\n```\nand `fit(model,\nsoftmaxCrossEntropyy(z, y))`';
    expect(checkBareCalls(bad, callableNames(DN), CALL_ALLOW)).toEqual([
      'README.md line 1: `maxPool4d(x, {size})` calls maxPool4d(, which is no export or method of dawnet',
      'README.md line 7: `fit(model, softmaxCrossEntropyy(z, y))` calls softmaxCrossEntropyy(, which is no export or method of dawnet',
    ]);
  });

  it('name an op of the table that is no export, in a call or a list of names', () => {
    const table = README.split('\n').filter((l) => l.startsWith('|')).join('\n');
    const bad = table.replace('`maxPool2d(x, {', '`maxPool2dd(x, {').replace('`relu sigmoid tanh', '`relu sigmoidd tanh');
    const line = (needle: string) => table.split('\n').findIndex((l) => l.includes(needle)) + 1;
    expect(checkOpTable(bad, DN, OP_ALLOW)).toEqual([
      `README.md line ${line('`maxPool2d(x, {')}: the op table names maxPool2dd, which is not an export of src/index.ts`,
      `README.md line ${line('`relu sigmoid tanh')}: the op table names sigmoidd, which is not an export of src/index.ts`,
    ].sort((a, b) => parseInt(a.split('line ')[1]!) - parseInt(b.split('line ')[1]!)));
    expect(checkOpTable('no table here', DN, OP_ALLOW)).toHaveLength(1);
  });

  it('name a flag of no command, and a flag given to the wrong command', async () => {
    const flags = await commandFlags();
    const all = new Set([...flags.values()].flatMap((s) => [...s]));
    expect(checkFlags('run with `--epochz 3`\n```sh\ndawnet train --data x --learning-rate 1\n```\n<!-- bench-record x -->\n--generated-flag\n<!-- /bench-record -->', all, FLAG_ALLOW)).toEqual([
      'README.md line 1: --epochz is no flag of any dawnet command',
      'README.md line 3: --learning-rate is no flag of any dawnet command',
    ]);
    expect(checkCommandFlags('`dawnet eval runs/x --epochs 3`\n\n| `predict RUN --folds 2` | x `--folds` |\n\n`dawnet train segment --epochs 3 --no-attention`', flags)).toEqual([
      'README.md line 1: `dawnet eval runs/x --epochs 3`: --epochs is no flag of dawnet eval',
      'README.md line 3: `predict RUN --folds 2`: --folds is no flag of dawnet predict',
    ]);
  });

  it('name a choice a flag does not take, and a stale list of algorithms', async () => {
    const { choices } = await commandTables();
    expect(checkFlagChoices('`train ... --optimizer adamw\\|lion` and `--conv-algorithm direct|fft`', choices)).toEqual([
      'README.md line 1: --optimizer lion: not one of its choices (adam, adamw, sgd, rmsprop, adagrad)',
      `README.md line 1: --conv-algorithm fft: not one of its choices (auto, ${CONV_ALGORITHMS.join(', ')})`,
    ]);
    const stale = README.replace("\\|'winograd-f2')`", ")`");
    expect(stale).not.toBe(README);
    expect(quotedChoices(stale, 'setConvAlgorithm')[0]!.values).not.toEqual(['auto', ...CONV_ALGORITHMS]);
  });

  it('name a missing path, a link that leads nowhere and a link to a missing heading', () => {
    const bad = 'see `src/kernels/conv9d.ts` and `scripts/nothing.sh OUT 1`, not `bench/results/<adapter>.json`\n[x](bench/NOPE.md) [y](bench/README.md#no-such-heading) [z](bench/README.md#running-the-benchmark) [w](https://example.com/a)';
    expect(checkPaths(bad, README_PATH, README_ROOTS)).toEqual([
      `README.md line 1: \`src/kernels/conv9d.ts\`: src/kernels/conv9d.ts does not exist (looked for ${join(ROOT, 'src/kernels/conv9d.ts')})`,
      `README.md line 1: \`scripts/nothing.sh OUT 1\`: scripts/nothing.sh does not exist (looked for ${join(ROOT, 'scripts/nothing.sh')})`,
      `README.md line 2: the link to bench/NOPE.md leads nowhere (${join(ROOT, 'bench/NOPE.md')})`,
      'README.md line 2: the link to bench/README.md#no-such-heading: bench/README.md has no heading with the anchor #no-such-heading',
    ]);
  });
});
