// Mechanical checks of what a Markdown manual names: `dn.*` chains and the calls it writes against
// the library's exports, `--flags` against the CLI's flag tables, and file paths and links against
// the repository. Each check is a function of the text and what it is checked against, and returns
// its problems as 'FILE line N: ...' strings, so a unit test can feed it a planted mistake.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

/** One inline code span (`...`) outside fenced blocks, with the line it starts on (1-based). */
export interface CodeSpan {
  text: string;
  line: number;
  /** The Markdown table row's cell it sits in (0-based), or -1 outside a table. */
  cell: number;
}

/** A line of the text with what kind of region it is in. */
export interface DocLine {
  line: number;
  text: string;
  /** Inside a ``` fence (the fence lines included). */
  fenced: boolean;
  /** Between `<!-- bench-record|bench-summary ...` and its closing marker: generated, not hand-written. */
  generated: boolean;
}

const GENERATED_OPEN = /^<!-- bench-(record|summary)\b/;
const GENERATED_CLOSE = /^<!-- \/bench-(record|summary) -->/;

export function docLines(text: string): DocLine[] {
  let fenced = false;
  let generated = false;
  return text.split('\n').map((t, i) => {
    const trimmed = t.trim();
    if (GENERATED_OPEN.test(trimmed)) generated = true;
    const isFence = trimmed.startsWith('```');
    const out = { line: i + 1, text: t, fenced: fenced || isFence, generated };
    if (isFence) fenced = !fenced;
    if (GENERATED_CLOSE.test(trimmed)) generated = false;
    return out;
  });
}

/**
 * Inline code spans of the prose and tables, as CommonMark reads them: a run of n backticks up to
 * the next run of exactly n, within one paragraph (a span may wrap lines). A table's `\|` is `|`.
 * Generated regions are left out unless asked for.
 */
export function codeSpans(text: string, { generated = false } = {}): CodeSpan[] {
  const spans: CodeSpan[] = [];
  let para: DocLine[] = [];
  const flush = () => {
    if (para.length) spans.push(...paragraphSpans(para));
    para = [];
  };
  for (const l of docLines(text)) {
    if (l.fenced || (l.generated && !generated) || l.text.trim() === '') flush();
    else para.push(l);
  }
  flush();
  return spans;
}

function paragraphSpans(para: DocLine[]): CodeSpan[] {
  const joined = para.map((l) => l.text).join('\n');
  const starts: number[] = [];
  let at = 0;
  for (const l of para) {
    starts.push(at);
    at += l.text.length + 1;
  }
  const lineAt = (offset: number) => {
    let i = 0;
    while (i + 1 < starts.length && starts[i + 1]! <= offset) i++;
    return i;
  };
  const out: CodeSpan[] = [];
  for (const m of joined.matchAll(/(?<!`)(`+)(?!`)([\s\S]*?[^`])\1(?!`)/g)) {
    const i = lineAt(m.index);
    const rowText = para[i]!.text;
    const isRow = rowText.trimStart().startsWith('|');
    // The cell: count the unescaped pipes before the span on its line (a row is one line).
    const before = rowText.slice(0, m.index - starts[i]!).replace(/\\\|/g, '');
    const cell = isRow ? (before.match(/\|/g)?.length ?? 1) - 1 : -1;
    out.push({ text: m[2]!.replace(/\\\|/g, '|').replace(/\s*\n\s*/g, ' ').trim(), line: para[i]!.line, cell });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// dn.* chains, new dn.*(...), namespace lists and the calls a manual writes.

export type Exports = Record<string, unknown>;

const isClass = (v: unknown): boolean => typeof v === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(v));

/** Follows a chain of property names from `root`; undefined where a link is missing. */
function resolve(root: Exports, chain: string[]): { value: unknown; missing?: string } {
  let v: unknown = root;
  for (const [i, name] of chain.entries()) {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || !(name in (v as object))) return { value: undefined, missing: ['dn', ...chain.slice(0, i + 1)].join('.') };
    v = (v as Record<string, unknown>)[name];
  }
  return { value: v };
}

/**
 * Every `dn.a.b...` chain anywhere in the text (prose, tables, code) resolves in `dn`; one after
 * `new` is a class, and so is a capitalised member of `dn.nn` and `dn.optim`; the list in the code
 * span right after `` `dn.nn`: `` names members of that namespace, each a class.
 */
export function checkDnReferences(text: string, dn: Exports, file = 'README.md'): string[] {
  const problems: string[] = [];
  for (const l of docLines(text)) {
    for (const m of l.text.matchAll(/(\bnew\s+)?\bdn((?:\.[A-Za-z_$][\w$]*)+)/g)) {
      const chain = m[2]!.slice(1).split('.');
      const ref = `dn.${chain.join('.')}`;
      const { value, missing } = resolve(dn, chain);
      if (missing) problems.push(`${file} line ${l.line}: ${ref}: ${missing} is not an export of src/index.ts`);
      else if (m[1] && !isClass(value)) problems.push(`${file} line ${l.line}: new ${ref}: not a class`);
      else if (!m[1] && (chain[0] === 'nn' || chain[0] === 'optim') && chain.length === 2 && /^[A-Z]/.test(chain[1]!) && !isClass(value)) {
        problems.push(`${file} line ${l.line}: ${ref}: not a class`);
      }
    }
    // `dn.nn`: `Conv2d, ConvTranspose2d, ...`: the list names the namespace's classes.
    for (const m of l.text.matchAll(/`dn\.(\w+)`:\s*`([^`]+)`/g)) {
      for (const name of m[2]!.split(',').map((s) => s.trim())) {
        const { value, missing } = resolve(dn, [m[1]!, name]);
        if (missing) problems.push(`${file} line ${l.line}: \`dn.${m[1]}\`'s list names ${name}: ${missing} is not an export of src/index.ts`);
        else if (!isClass(value)) problems.push(`${file} line ${l.line}: \`dn.${m[1]}\`'s list names ${name}: not a class`);
      }
    }
  }
  return problems;
}

/**
 * The names a manual may write as a bare call (`maxPool2d(x, {...})`, `fit(...)`, `forward(x)`):
 * every export of `dn` and of its namespaces, and the methods and static members of every
 * exported class (a Tensor's `toArray()`, a Module's `forward(x)`, `Adam.keras(...)`).
 */
export function callableNames(dn: Exports): Set<string> {
  const names = new Set<string>();
  const addClass = (c: unknown) => {
    if (!isClass(c)) return;
    for (let p = (c as { prototype: object }).prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) for (const k of Object.getOwnPropertyNames(p)) names.add(k);
    for (let s = c as object; s && s !== Function.prototype; s = Object.getPrototypeOf(s)) for (const k of Object.getOwnPropertyNames(s)) names.add(k);
  };
  for (const [k, v] of Object.entries(dn)) {
    names.add(k);
    addClass(v);
    if (v && typeof v === 'object') {
      for (const [k2, v2] of Object.entries(v)) {
        names.add(k2);
        addClass(v2);
      }
    }
  }
  return names;
}

/**
 * Bare calls in the prose's and tables' code spans, `name(` with no receiver (`x.`), each a
 * callable name of dawnet or in `allow` (names the text compares against: PyTorch's, Keras's,
 * the platform's). Code blocks are not read here: their locals are the examples' own.
 */
export function checkBareCalls(text: string, known: Set<string>, allow: ReadonlySet<string>, file = 'README.md'): string[] {
  const problems: string[] = [];
  for (const s of codeSpans(text)) {
    // Not after a receiver (`x.toArray()`) nor an `@` (WGSL's attributes, `@binding(0)`).
    for (const m of s.text.matchAll(/(?<![\w$.@])([A-Za-z_$][\w$]*)\(/g)) {
      const name = m[1]!;
      if (!known.has(name) && !allow.has(name)) problems.push(`${file} line ${s.line}: \`${s.text.length > 60 ? `${s.text.slice(0, 57)}...` : s.text}\` calls ${name}(, which is no export or method of dawnet`);
    }
  }
  return problems;
}

/**
 * The op table's (`| family | functions |`) bare op names: the calls in its second column and the
 * space-separated lists of names (`relu sigmoid tanh ...`), each an export of src/index.ts itself
 * (not of a namespace: `dn.maxPool2d`), unless in `allow`.
 */
export function checkOpTable(text: string, dn: Exports, allow: ReadonlySet<string>, file = 'README.md'): string[] {
  const lines = text.split('\n');
  const head = lines.findIndex((l) => /^\|\s*family\s*\|\s*functions\s*\|/.test(l));
  if (head < 0) return [`${file}: no op table (a row '| family | functions |')`];
  let end = head + 1;
  while (end < lines.length && lines[end]!.startsWith('|')) end++;
  const table = lines.slice(head, end).join('\n');
  const problems: string[] = [];
  const names: { name: string; line: number }[] = [];
  for (const s of codeSpans(table)) {
    if (s.cell !== 1) continue;
    const line = head + s.line;
    const call = /^([a-z][A-Za-z0-9]*)\(/.exec(s.text);
    if (call) names.push({ name: call[1]!, line });
    else if (/^[a-z][A-Za-z0-9]*( [a-z][A-Za-z0-9]*)+$/.test(s.text)) for (const n of s.text.split(' ')) names.push({ name: n, line });
  }
  if (names.length < 50) problems.push(`${file} line ${head + 1}: the op table names only ${names.length} ops: has its format changed under the extractor?`);
  for (const { name, line } of names) if (!(name in dn) && !allow.has(name)) problems.push(`${file} line ${line}: the op table names ${name}, which is not an export of src/index.ts`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// --flags.

/** `--flag` and `--flag=value` written anywhere but generated regions: each flag and its line. */
export function flagMentions(text: string): { flag: string; line: number }[] {
  const out: { flag: string; line: number }[] = [];
  for (const l of docLines(text)) {
    if (l.generated) continue;
    for (const m of l.text.matchAll(/(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g)) out.push({ flag: m[1]!, line: l.line });
  }
  return out;
}

/** Every flag written is one of `known` (dawnet's) or `allow` (other programs'). */
export function checkFlags(text: string, known: ReadonlySet<string>, allow: ReadonlySet<string>, file = 'README.md'): string[] {
  return flagMentions(text)
    .filter(({ flag }) => !known.has(flag) && !allow.has(flag))
    .map(({ flag, line }) => `${file} line ${line}: --${flag} is no flag of any dawnet command`);
}

/**
 * The flags of one command where the text says which: a code span `dawnet CMD ...` (also after
 * `npx` or `npm run dawnet --`) and the first cell of a row of the CLI table (`| \`train ...\` |`).
 */
export function checkCommandFlags(text: string, flagsOf: ReadonlyMap<string, ReadonlySet<string>>, file = 'README.md'): string[] {
  const problems: string[] = [];
  for (const s of codeSpans(text)) {
    let command: string | undefined;
    const written = /^(?:npx |npm run dawnet -- )?dawnet ([a-z][\w-]*)/.exec(s.text);
    if (written) command = written[1];
    else if (s.cell === 0) command = /^([a-z][\w-]*)\b/.exec(s.text)?.[1];
    if (!command || !flagsOf.has(command)) continue;
    const own = flagsOf.get(command)!;
    for (const m of s.text.matchAll(/(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g)) {
      if (!own.has(m[1]!)) problems.push(`${file} line ${s.line}: \`${s.text}\`: --${m[1]} is no flag of dawnet ${command}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Paths and links.

/** Where a path written in the text is looked up: a prefix and the folder it is relative to. */
export interface PathRoot {
  prefix: RegExp;
  dir: string;
}

/**
 * Code spans that are a repository path (one of `roots`' prefixes, no placeholder such as
 * `<adapter>`, `*`, `{epoch}` or `...`) exist; so do the targets of relative links
 * (`[text](path#anchor)`, from the file's folder), and a link's anchor names a heading there.
 */
export function checkPaths(text: string, filePath: string, roots: readonly PathRoot[], file = 'README.md'): string[] {
  const problems: string[] = [];
  for (const s of codeSpans(text, { generated: true })) {
    // A span may be a command (`scripts/gpu-run-packed.sh OUTDIR LIMIT`, `node scripts/x.mjs`): each word.
    for (const word of s.text.split(/\s+/)) {
      const p = word.replace(/[.,:;]$/, '');
      if (/[<>*{}|]|\.\.\./.test(p)) continue;
      const root = roots.find((r) => r.prefix.test(p));
      if (root && !existsSync(join(root.dir, p))) problems.push(`${file} line ${s.line}: \`${s.text}\`: ${p} does not exist (looked for ${normalize(join(root.dir, p))})`);
    }
  }
  for (const l of docLines(text)) {
    if (l.fenced) continue;
    for (const m of l.text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const full = path ? join(dirname(filePath), path) : filePath;
      if (!existsSync(full)) {
        problems.push(`${file} line ${l.line}: the link to ${target} leads nowhere (${normalize(full)})`);
        continue;
      }
      if (anchor && full.endsWith('.md') && !headingAnchors(readFileSync(full, 'utf8')).has(anchor)) {
        problems.push(`${file} line ${l.line}: the link to ${target}: ${path || file} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return problems;
}

/** GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-', repeats numbered. */
export function headingAnchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const l of docLines(text)) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(l.text);
    if (!h || l.fenced) continue;
    const base = h[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lists of choices.

/**
 * A flag written with its choices, `--optimizer adamw|sgd|rmsprop|adagrad` (in a code span, or a
 * table's `\|`), names only values the flag takes: each is one of `choicesOf(flag)`'s. A flag that
 * takes any value (no choices) is not checked. The list need not be complete: the prose may name a few.
 */
export function checkFlagChoices(text: string, choicesOf: ReadonlyMap<string, ReadonlySet<string>>, file = 'README.md'): string[] {
  const problems: string[] = [];
  for (const s of codeSpans(text)) {
    for (const m of s.text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)[ =]([\w.+-]+(?:\|[\w.+-]+)+)/g)) {
      const choices = choicesOf.get(m[1]!);
      if (!choices) continue;
      for (const v of m[2]!.split('|')) if (!choices.has(v)) problems.push(`${file} line ${s.line}: --${m[1]} ${v}: not one of its choices (${[...choices].join(', ')})`);
    }
  }
  return problems;
}

/** The quoted names of every `NAME('a'|'b'|...)` span of two or more: the list the text gives for a call's argument. */
export function quotedChoices(text: string, name: string): { line: number; values: string[] }[] {
  return codeSpans(text)
    .map((s) => ({ s, m: new RegExp(`^${name}\\(((?:'[\\w-]+'\\|?)+)\\)$`).exec(s.text) }))
    .filter((x) => x.m)
    .map(({ s, m }) => ({ line: s.line, values: [...m![1]!.matchAll(/'([\w-]+)'/g)].map((v) => v[1]!) }))
    .filter((l) => l.values.length > 1);
}
