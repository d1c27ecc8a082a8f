// dawnet smoke on an adapter that computes wrongly: a KernelError naming the kernel and the
// difference (the CLI prints a DawnetError's message, where a plain Error printed a stack trace).
// The CPU reference is shifted here to stand in for a wrong GPU result.
import { describe, expect, it, vi } from 'vitest';
import { KernelError } from '../../src/errors.js';
import { runSmoke } from '../../src/cli/smoke.js';

vi.mock('../../src/reference/elementwise.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/reference/elementwise.js')>();
  return {
    ...real,
    unaryForwardRef: (...args: Parameters<typeof real.unaryForwardRef>) => {
      const out = real.unaryForwardRef(...args);
      out.data[7] += 0.25;
      return out;
    },
  };
});

describe('dawnet smoke', () => {
  it('a GPU result off the CPU reference is a KernelError naming the kernel and the difference', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const error = await runSmoke([]).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(KernelError);
      const m = /^kernel sigmoid\.forward: the GPU's result differs from the CPU reference by ([\d.e-]+) \(tolerance 1e-5\)/.exec((error as Error).message);
      expect(m, (error as Error).message).not.toBeNull();
      expect(Number(m![1])).toBeCloseTo(0.25, 5);
    } finally {
      log.mockRestore();
    }
  });
});
