// `dawnet bench`'s command line (bench/options.ts): an option that takes a value refuses a missing
// one, an empty one or another option in its place (a bare --out used to fall back to the record
// the README is made from); whole-number options refuse fractions; --group knows its groups;
// --only must be a regular expression; --markdown takes any path; the recorded command reads back
// in a shell as it was given.

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, shellCommand } from '../../bench/options.js';
import { GROUPS } from '../../bench/registry.js';
import { UsageError } from '../../src/cli/args.js';

const VALUED: [string, string][] = [
  ['--scale', '4'], ['--only', 'relu'], ['--group', 'conv2d'], ['--warmup', '1'], ['--reps', '3'], ['--min-sample-ms', '5'],
  ['--clock', 'wall'], ['--out', 'x.json'], ['--fused-groups', '4'], ['--budget', '10'], ['--conv-tile', '64x64x8/4x4'],
  ['--conv-algorithm', 'direct'], ['--tuning', 'r.json'],
];

describe('bench options', () => {
  it('takes each valued option with its value', () => {
    for (const [flag, v] of VALUED) expect(() => parseBenchArgs([flag, v]), flag).not.toThrow();
    expect(parseBenchArgs(['--out', 'a.json'])!.out).toBe('a.json');
    expect(parseBenchArgs(['--compare', 'a.json', 'b.json'])!.compare).toEqual(['a.json', 'b.json']);
  });

  it('refuses a valued option with no value, an empty one, or another option in its place', () => {
    for (const [flag] of [...VALUED, ['--compare']]) {
      for (const args of [[flag], [flag, ''], [flag, '--markdown'], ['--no-peak', flag, '--reps', '3']]) {
        expect(() => parseBenchArgs(args), args.join(' ')).toThrow(UsageError);
        expect(() => parseBenchArgs(args), args.join(' ')).toThrow(new RegExp(`^${flag} needs`));
      }
    }
    expect(() => parseBenchArgs(['--compare', 'a.json', '--out'])).toThrow(/--compare needs two record files/);
    // The audit's cases: a bare --out last, and --tuning swallowing --reps.
    expect(() => parseBenchArgs(['--scale', '32', '--group', 'elementwise', '--markdown', '--out'])).toThrow(/--out needs a file$/);
    expect(() => parseBenchArgs(['--tuning', '--reps', '3'])).toThrow(/--tuning needs a record file, got the option '--reps'/);
  });

  it('refuses fractions and other non-whole numbers where a count is asked for', () => {
    for (const flag of ['--scale', '--reps', '--warmup', '--budget']) {
      for (const v of ['2.5', '1e1', '0x10', ' 3', '-2', 'abc']) expect(() => parseBenchArgs([flag, v]), `${flag} ${v}`).toThrow(/needs a whole number/);
    }
    expect(parseBenchArgs(['--reps', '3', '--warmup', '0', '--scale', '16'])!.timing).toMatchObject({ reps: 3, warmup: 0 });
    expect(parseBenchArgs(['--min-sample-ms', '2.5'])!.timing.minSampleMs).toBe(2.5);
    expect(() => parseBenchArgs(['--min-sample-ms', '-1'])).toThrow(/needs a number >= 0/);
  });

  it('refuses unknown groups, naming the known ones', () => {
    expect(parseBenchArgs(['--group', 'e2e,conv2d-naive,elementwise'])!.filter.groups).toEqual(['e2e', 'conv2d-naive', 'elementwise']);
    expect(() => parseBenchArgs(['--group', 'elemntwise'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['--group', 'elemntwise'])).toThrow(/unknown group 'elemntwise' \(groups: e2e, elementwise, reduce, conv2d, conv2d-naive, /);
    expect(() => parseBenchArgs(['--group', ','])).toThrow(/no group in ','/);
    expect(GROUPS).toEqual(expect.arrayContaining(['e2e', 'conv2d', 'conv2d-naive', 'library', 'augment']));
  });

  it('refuses an --only that is not a regular expression with a usage error', () => {
    expect(() => parseBenchArgs(['--only', '('])).toThrow(UsageError);
    expect(() => parseBenchArgs(['--only', '('])).toThrow(/--only: '\(' is not a regular expression/);
    expect(parseBenchArgs(['--only', 'backwardWeight/(unet|vgg)'])!.filter.only!.test('conv2d.backwardWeight/vgg-conv1_1')).toBe(true);
  });

  it('takes any path after --markdown as the record, and nothing as after the run', () => {
    expect(parseBenchArgs(['--markdown', 'report.md'])!.markdown).toBe('report.md');
    expect(parseBenchArgs(['--markdown', 'r.json'])!.markdown).toBe('r.json');
    expect(parseBenchArgs(['--markdown'])!.markdown).toBe(true);
    expect(parseBenchArgs(['--markdown', '--reps', '3'])!.markdown).toBe(true);
    expect(() => parseBenchArgs(['--markdown', ''])).toThrow(UsageError);
  });

  it('records the command so that a shell reads back the words given', () => {
    const words = ['dawnet', 'bench', '--only', 'backwardWeight/(unet|vgg)', '--only', 'unet-l3|unet.train/b1$', '--group', 'e2e,conv2d', '--out', "it's here.json", '--scale', '8', '--conv-tile', '64x64x8/4x4', '--markdown', ''];
    const line = shellCommand(words);
    expect(line).toBe("dawnet bench --only 'backwardWeight/(unet|vgg)' --only 'unet-l3|unet.train/b1$' --group e2e,conv2d --out 'it'\\''s here.json' --scale 8 --conv-tile 64x64x8/4x4 --markdown ''");
    const back = execFileSync('bash', ['-c', `f() { printf '%s\\n' "$@"; }; f ${line}`]).toString();
    expect(back).toBe(`${words.join('\n')}\n`);
  });
});
