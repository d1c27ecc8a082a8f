// LearningRateScheduler's options are checked: Keras's verbose by position (1), a misspelt key or
// a number for the flag used to be ignored, silently.

import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { LearningRateScheduler } from '../../src/train/schedules.js';

describe('LearningRateScheduler options', () => {
  it.each([
    ["Keras's positional verbose", 1, /options must be an object/],
    ['a misspelt key', { verbos: true }, /unknown option 'verbos'/],
    ['verbose as a number', { verbose: 1 }, /verbose must be true or false/],
  ])('refuses %s', (_name, opts, message) => {
    expect(() => new LearningRateScheduler(() => 0.1, opts as never)).toThrow(ArgumentError);
    expect(() => new LearningRateScheduler(() => 0.1, opts as never)).toThrow(message);
  });

  it('takes { verbose: true } and no options', () => {
    expect(new LearningRateScheduler(() => 0.1, { verbose: true }).opts.verbose).toBe(true);
    expect(new LearningRateScheduler(() => 0.1).opts).toEqual({});
  });
});
