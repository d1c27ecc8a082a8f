// A kernel rule that depends on the adapter kind ('cpu' on CPU adapters such as lavapipe, 'gpu'
// elsewhere), with a per-device override that tests and benchmarks set to time or pin one path
// (the sums, extrema, group norm's statistics, the row kernels and the row-chunk sizing each keep
// one: reduce-rows.ts, extrema-rule.ts, groupnorm-threads.ts, softmax-rows.ts, row-chunks.ts).

import { isCpuAdapterReport } from '../gpu/adapter-kind.js';
import { runtime } from '../gpu/runtime.js';

export interface AdapterRule<R extends string> {
  /** The override on this device, or by the adapter's kind. */
  get(): R | 'cpu' | 'gpu';
  /** Forces `rule` on this device; null goes back to the adapter's kind. */
  set(rule: R | 'cpu' | 'gpu' | null): void;
}

export function adapterRule<R extends string = never>(): AdapterRule<R> {
  const override = new WeakMap<GPUDevice, R | 'cpu' | 'gpu'>();
  return {
    get() {
      const rt = runtime();
      return override.get(rt.device) ?? (isCpuAdapterReport(rt.ctx.report) ? 'cpu' : 'gpu');
    },
    set(rule) {
      const device = runtime().device;
      if (rule === null) override.delete(device);
      else override.set(device, rule);
    },
  };
}
