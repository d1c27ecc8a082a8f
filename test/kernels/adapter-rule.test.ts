// adapterRule: a kernel rule by the adapter's kind ('cpu' on CPU adapters, 'gpu' elsewhere), which
// tests and benchmarks override per device; null goes back to the kind.

import { describe, expect, it } from 'vitest';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { runtime } from '../../src/gpu/runtime.js';
import { adapterRule } from '../../src/kernels/adapter-rule.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('adapterRule', () => {
  it("is the adapter's kind until set, the override until cleared, and one rule's override leaves another's alone", () => {
    const kind = isCpuAdapterReport(runtime().ctx.report) ? 'cpu' : 'gpu';
    const a = adapterRule<'tree'>();
    const b = adapterRule();
    expect(a.get()).toBe(kind);
    a.set('tree');
    expect(a.get()).toBe('tree');
    expect(b.get()).toBe(kind);
    a.set(kind === 'cpu' ? 'gpu' : 'cpu');
    expect(a.get()).toBe(kind === 'cpu' ? 'gpu' : 'cpu');
    a.set(null);
    expect(a.get()).toBe(kind);
  });
});
