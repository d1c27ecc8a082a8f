// Ctrl-C's message: the first stops at the end of the batch, or of its --accumulate group (train
// steps on whole groups, so that the resumed run takes the same steps), and says so.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { catchInterrupt } from '../../src/cli/interrupt.js';

afterEach(() => vi.restoreAllMocks());

describe('catchInterrupt', () => {
  it('the first Ctrl-C sets the stop flag and names the batch or --accumulate group it finishes', () => {
    const before = process.listeners('SIGINT');
    const { signal, release } = catchInterrupt('; then this');
    const handler = process.listeners('SIGINT').find((l) => !before.includes(l))!;
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: string) => void printed.push(m));
    try {
      // Called directly rather than by a signal: the test runner has SIGINT handlers of its own.
      handler('SIGINT');
      expect(signal.stop).toBe(true);
      expect(printed).toEqual(['\ninterrupt: finishing the current batch (or --accumulate group) and saving a checkpoint (Ctrl-C again to quit at once); then this']);
    } finally {
      release();
    }
    expect(process.listeners('SIGINT')).toEqual(before);
  });
});
