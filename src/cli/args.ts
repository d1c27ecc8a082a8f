// A small declarative flag parser: each command declares its flags once, and the same table gives
// parsing, defaults, validation and --help. Unknown flags and bad values are one-line errors.

import { DawnetError } from '../errors.js';

export class UsageError extends DawnetError {}

/**
 * --seed, as the seeded generators take it: a uint32 (deriveSeed's `>>> 0`), so 1.5 would run as
 * seed 1, -1 as 4294967295 and 2^32 as 0; anything else is refused by name.
 */
export function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be a whole number from 0 to 4294967295, got ${seed}`);
}

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean' | 'list';
  help: string;
  default?: string | number | boolean | string[];
  /** Allowed values for strings. */
  choices?: readonly string[];
  short?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments, e.g. ['RUN', 'IMAGE...']. */
  positionals?: { name: string; help: string; required?: boolean; variadic?: boolean }[];
  flags: Record<string, FlagSpec>;
  examples?: string[];
}

export type ParsedArgs = { positionals: string[]; flags: Record<string, string | number | boolean | string[] | undefined> };

export function helpText(spec: CommandSpec): string {
  const pos = (spec.positionals ?? []).map((p) => (p.required === false ? `[${p.name}]` : p.name)).join(' ');
  const lines = [`usage: dawnet ${spec.name}${pos ? ` ${pos}` : ''} [options]`, '', spec.summary, ''];
  if (spec.positionals?.length) {
    lines.push('arguments:');
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(24)} ${p.help}`);
    lines.push('');
  }
  lines.push('options:');
  for (const [name, f] of Object.entries(spec.flags)) {
    const label = `--${name}${f.type === 'boolean' ? '' : ` <${f.type === 'list' ? 'a,b,...' : f.type}>`}`;
    const extra = [f.choices ? `one of: ${f.choices.join(', ')}` : '', f.default !== undefined ? `default: ${Array.isArray(f.default) ? f.default.join(',') : f.default}` : '']
      .filter(Boolean)
      .join('; ');
    lines.push(`  ${label.padEnd(24)} ${f.help}${extra ? ` (${extra})` : ''}`);
  }
  lines.push(`  ${'--help'.padEnd(24)} show this help`);
  if (spec.examples?.length) lines.push('', 'examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs | null {
  // After '--' everything is an argument, a file named '--help' or '-x' included.
  const end = argv.indexOf('--');
  const options = end < 0 ? argv : argv.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    console.log(helpText(spec));
    return null;
  }
  const flags: ParsedArgs['flags'] = {};
  for (const [name, f] of Object.entries(spec.flags)) flags[name] = f.default;
  const positionals: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const arg = options[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const negated = !spec.flags[rawName] && rawName.startsWith('no-') && spec.flags[rawName.slice(3)]?.type === 'boolean';
    if (negated) {
      if (inline !== undefined) throw new UsageError(`--${rawName} takes no value, got '${inline}'`);
      flags[rawName.slice(3)] = false;
      continue;
    }
    const f = spec.flags[rawName];
    if (!f) {
      const guess = nearest(rawName, Object.keys(spec.flags));
      throw new UsageError(`unknown option --${rawName}${guess ? ` (did you mean --${guess}?)` : ''} (see 'dawnet ${spec.name} --help')`);
    }
    if (f.type === 'boolean') {
      // --flag=false turns it off; any other spelling ('no', '0') would read as on, so it is refused.
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new UsageError(`--${rawName} is on or off: give it alone, or as --${rawName}=true or --${rawName}=false, not '${inline}'`);
      flags[rawName] = inline === undefined ? true : inline === 'true';
      continue;
    }
    // The next word is the value unless it is another option ('--out --epochs 3' forgot OUT);
    // a value that starts with '--' can still be given as --name=VALUE. Negative numbers pass.
    const next = options[i + 1];
    const value = inline ?? (next === undefined || next.startsWith('--') ? undefined : options[++i]);
    if (value === undefined) throw new UsageError(`--${rawName} needs a value`);
    flags[rawName] = flagValue(rawName, f, value);
  }
  if (end >= 0) positionals.push(...argv.slice(end + 1));
  const specs = spec.positionals ?? [];
  const required = specs.filter((p) => p.required !== false).length;
  if (positionals.length < required) {
    throw new UsageError(`missing ${specs.slice(positionals.length).filter((p) => p.required !== false).map((p) => p.name).join(' ')} (see 'dawnet ${spec.name} --help')`);
  }
  if (!specs.some((p) => p.variadic) && positionals.length > specs.length) {
    throw new UsageError(`unexpected argument '${positionals[specs.length]}' (see 'dawnet ${spec.name} --help')`);
  }
  return { positionals, flags };
}

/** One option's value, checked against its type: a UsageError naming the option otherwise. */
function flagValue(name: string, f: FlagSpec, value: string): string | number | string[] {
  if (f.type === 'number') {
    // Number('') and Number(' ') are 0: '--epochs=' would train for none.
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${value}'`);
    return n;
  }
  if (f.type === 'list') {
    const items = value.split(',').map((s) => s.trim());
    // An empty item is a typo ('1e-4,,3e-4', a trailing comma) or an empty variable, not nothing.
    if (items.some((s) => s === '')) throw new UsageError(`--${name} expects a comma-separated list without empty items, got '${value}'`);
    return items;
  }
  if (f.choices && !f.choices.includes(value)) throw new UsageError(`--${name} must be one of ${f.choices.join(', ')}, got '${value}'`);
  return value;
}

/** The candidate nearest to `word` (edit distance at most 2, or a prefix of it), for "did you mean". */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 1 : editDistance(word.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Levenshtein distance with transpositions counted as one edit ('trian' is one from 'train'). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
