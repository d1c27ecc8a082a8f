// The code examples of README.md, read at test time so that an edited example is tested as edited,
// and a way to run one as a user's script would run: top-level await, strict mode, the names its
// context provides (a model, a batch, ...) in scope, and the locals named afterwards handed back.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const README = join(ROOT, 'README.md');

export interface ReadmeBlock {
  /** The fence's language: 'js' or 'html'. */
  lang: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
  /** The block's text, dedented by the fence's indentation (blocks inside list items are indented). */
  code: string;
  firstLine: string;
}

/** Opening fences of the languages a user would run: ```js (and its spellings) and ```html pages. */
export const RUNNABLE_FENCE = /^(\s*)```(js|javascript|mjs|html)\s*$/;

export function readmeBlocks(text = readFileSync(README, 'utf8')): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = RUNNABLE_FENCE.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && lines[j]!.trim() !== '```'; j++) body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
    if (j === lines.length) throw new Error(`README.md line ${i + 1}: the \`\`\`${open[2]} block is never closed`);
    const code = body.join('\n');
    blocks.push({ lang: open[2] === 'html' ? 'html' : 'js', line: i + 1, code, firstLine: code.split('\n').find((l) => l.trim() !== '') ?? '' });
    i = j;
  }
  return blocks;
}

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<unknown>;

/**
 * Runs a js block as the body of a strict async function: `context`'s entries are its free
 * variables, and the locals listed in `expose` come back (the block's own `const`s, read after
 * its last line). `import('dawnet')` is the one import the examples use; it goes to `importDawnet`.
 */
export async function runBlock(
  block: ReadmeBlock,
  context: Record<string, unknown>,
  expose: readonly string[],
  importDawnet: (specifier: string) => Promise<unknown>,
): Promise<Record<string, unknown>> {
  const names = Object.keys(context);
  const body = `'use strict';\n${block.code.replace(/\bimport\((?=\s*['"])/g, '__import(')}\n;return { ${expose.join(', ')} };`;
  let fn: (...values: unknown[]) => Promise<unknown>;
  try {
    fn = new AsyncFunction(...names, '__import', body);
  } catch (e) {
    throw new Error(`README.md line ${block.line}: the example does not parse (${(e as Error).message})`);
  }
  try {
    return (await fn(...names.map((n) => context[n]), importDawnet)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error;
    err.message = `README.md line ${block.line} (${block.firstLine.trim()}): ${err.message}`;
    throw err;
  }
}

/** The module script of an html block: what its `<script type="module">` holds. */
export function moduleScript(block: ReadmeBlock): string {
  const m = /<script type="module">\n?([\s\S]*?)<\/script>/.exec(block.code);
  if (!m) throw new Error(`README.md line ${block.line}: an html example without a <script type="module">`);
  return m[1]!.replace(/^ {2}/gm, '');
}

/** The `dn.a` and `dn.a.b` chains a script reads, as [a] or [a, b]. */
export function dnReferences(code: string): string[][] {
  const found = new Set<string>();
  for (const m of code.matchAll(/\bdn\.([A-Za-z_$][\w$]*)(?:\.([A-Za-z_$][\w$]*))?/g)) found.add(m[2] ? `${m[1]}.${m[2]}` : m[1]!);
  return [...found].sort().map((s) => s.split('.'));
}
