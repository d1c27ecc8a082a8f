// Boolean flags: alone or as =true/=false; any other value is refused, since '--attention=no'
// used to read as on (everything but 'false' did).

import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { trainSpec } from '../../src/cli/train.js';

const parse = (...argv: string[]) => parseArgs(trainSpec, ['segment', ...argv])!.flags;

describe('boolean flags', () => {
  it('alone, =true and =false', () => {
    expect(parse('--attention').attention).toBe(true);
    expect(parse('--attention=true').attention).toBe(true);
    expect(parse('--attention=false').attention).toBe(false);
    expect(parse().strict).toBeUndefined();
  });

  it('any other value is a UsageError naming the flag', () => {
    for (const v of ['no', '0', 'off', 'False', '']) {
      expect(() => parse(`--strict=${v}`)).toThrow(UsageError);
      expect(() => parse(`--strict=${v}`)).toThrow(`--strict is on or off: give it alone, or as --strict=true or --strict=false, not '${v}'`);
    }
  });
});
