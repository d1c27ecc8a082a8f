// Which kernel extrema.ts reduces a row with: a thread per output (a loop over the row) or a
// 256-thread workgroup per output (a tree of 8 barriers in workgroup memory). reduce-rows.ts made
// the same choice for sums; the rule is kept apart so that tests and benchmarks force each alone.
//  - GPUs: a thread per output for rows up to SHORT_ROWS, the tree for longer ones (its threads
//    read adjacent words where a thread per row strides).
//  - CPU adapters: a thread per output always, rows longer than CPU_ROWS in parts of that many
//    (states [A, parts, B], then combined) so that long rows with few outputs still fill the
//    cores. lavapipe paid 14-18 us per tree workgroup whatever its rows. Wall clock to dn.sync()
//    on lavapipe (2 cores shared with other work), medians of 7 runs interleaved after a warm-up,
//    'gpu' (the old route on every adapter) vs 'cpu', axis 1 unless said:
//      max [16131, 65]   657 ms vs 4.5 ms     max [8192, 128]    297 ms vs 6.1 ms
//      max [4096, 256]   228 ms vs 11.0 ms    max [1024, 1024]  53.3 ms vs 4.8 ms
//      argmax [1024, 1024] 42.9 vs 4.7 ms     argmax [4, 64, 64, 150] axis 3: 621 ms vs 13.1 ms
//      max [8, 100, 99, 3] 73.4 ms vs 2.4 ms  max [4096, 16, 16] axes [1, 2]: 147 ms vs 5.1 ms
//      max [4, 262144]   14.9 ms vs 4.2 ms    max [64, 16384]   16.2 ms vs 4.3 ms
//      max [16, 100000]  18.9 ms vs 5.0 ms    argmin [300, 5000] 16.7 ms vs 5.5 ms
//      max [1048576] (all) 11.7 ms vs 3.6 ms  max fwd+bwd [16131, 65] 485 ms vs 17.8 ms
//    Unchanged kernels, the same on both (noise): rows up to 64 ([16384, 64] 3.8 vs 4.1 ms,
//    [1048576, 4] 31 vs 34, [262144, 4] 6.1 vs 6.0, argmax [4, 64, 64, 21] 1.1 vs 1.2), the
//    column path ([8, 100, 100, 3] 0.76 vs 0.74; min [64, 256, 64] 4.6 vs 4.4), axis 0 of
//    [262144, 4] 5.9 vs 6.3. GPUs were not measured: their rule is the old one.
// Comparisons pick, never round, so unlike sums the parts bound no error: CPU_ROWS is reduce-rows.ts's.

import { CPU_ROWS, partsFor, SHORT_ROWS } from './reduce-rows.js';
import { adapterRule } from './adapter-rule.js';

export { CPU_ROWS, SHORT_ROWS };

export type ExtremaRule = 'cpu' | 'gpu';
const extremaRule = adapterRule();

/** Tests and benchmarks: max/min/argmax/argmin as on a CPU adapter or a GPU (the old routing); null: by the adapter. */
export function setExtremaRule(rule: ExtremaRule | null): void {
  extremaRule.set(rule);
}

/** Whether outputs over at most `rows` rows each take a thread per output. */
export function extremaThreads(rows: number): boolean {
  return rows <= (extremaRule.get() === 'cpu' ? CPU_ROWS : SHORT_ROWS);
}

/** Parts of at most CPU_ROWS rows each that rows of r are reduced in (1: whole). */
export const extremaParts = (r: number): number => partsFor(extremaRule.get(), r);
