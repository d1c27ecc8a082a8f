// forcedWay (src/kernels/forced-way.ts): a choice forced for one call, restored after it, after a
// nested one, and when the call throws.

import { describe, expect, it } from 'vitest';
import { forcedWay } from '../../src/kernels/forced-way.js';

describe('forcedWay', () => {
  it('forces a way for the call only, nested calls restoring the outer one, throws too', () => {
    const way = forcedWay<'a' | 'b'>();
    expect(way.current).toBe(null);
    const seen = way.with('a', () => [way.current, way.with('b', () => way.current), way.current]);
    expect(seen).toEqual(['a', 'b', 'a']);
    expect(way.current).toBe(null);
    expect(() => way.with('b', () => { throw new Error('inside'); })).toThrow('inside');
    expect(way.current).toBe(null);
  });
});
