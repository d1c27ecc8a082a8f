// The shared option parser: '--', '--no-X', empty numbers and list items, an option where a value
// should be. Each case was read another way before (0 epochs, a dropped item, '--epochs' as OUT).
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type CommandSpec } from '../../src/cli/args.js';

const spec: CommandSpec = {
  name: 'try',
  summary: 'test',
  positionals: [{ name: 'FILE...', help: 'files', required: false, variadic: true }],
  flags: {
    out: { type: 'string', help: 'out' },
    epochs: { type: 'number', help: 'n', default: 5 },
    lr: { type: 'number', help: 'lr' },
    lrs: { type: 'list', help: 'lrs' },
    strict: { type: 'boolean', help: 'strict', default: true },
  },
};
const parse = (...argv: string[]) => parseArgs(spec, argv)!;

describe('parseArgs', () => {
  it('takes --name=value and --name value alike, negative numbers as values', () => {
    expect(parse('--epochs=3', '--out', 'o').flags).toMatchObject({ epochs: 3, out: 'o' });
    expect(parse('--lr', '-0.5').flags.lr).toBe(-0.5);
    expect(parse('--lr=-1e-3').flags.lr).toBe(-1e-3);
  });

  it("ends the options at '--': what follows is an argument, '--help' included", () => {
    expect(parse('a', '--epochs', '2', '--', '--help', '-x', '--out').positionals).toEqual(['a', '--help', '-x', '--out']);
    expect(parse('--', '--epochs').flags.epochs).toBe(5);
  });

  it('--no-X turns a boolean option off; it takes no value and exists only for booleans', () => {
    expect(parse('--no-strict').flags.strict).toBe(false);
    expect(() => parse('--no-strict=true')).toThrow(UsageError);
    expect(() => parse('--no-out')).toThrow(/unknown option --no-out/);
  });

  it('refuses an empty or blank number instead of reading 0', () => {
    for (const v of ['--epochs=', '--epochs= ']) expect(() => parse(v)).toThrow(/--epochs expects a number/);
    expect(() => parse('--epochs', '')).toThrow(UsageError);
  });

  it('refuses a list with an empty item, naming the option', () => {
    expect(parse('--lrs', '1e-4, 3e-4').flags.lrs).toEqual(['1e-4', '3e-4']);
    for (const v of ['1e-4,,3e-4', '1e-4,', '']) expect(() => parse(`--lrs=${v}`)).toThrow(/--lrs expects a comma-separated list/);
  });

  it('does not take the next option as a value', () => {
    expect(() => parse('--out', '--epochs', '3')).toThrow(/--out needs a value/);
    expect(parse('--out=--odd').flags.out).toBe('--odd');
  });
});
