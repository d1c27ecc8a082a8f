// `dawnet bench` in Node: dawnet on Dawn, TensorFlow.js's WebGPU backend as the peer on the same
// Dawn GPU object in the same process; bench/run.ts runs the cases (the device's measured peaks,
// the end-to-end cases, then every kernel case), and the record goes to --out or under
// bench/results/, never over an adapter's default record there (recordTarget); --markdown prints
// the full section bench/README.md keeps. Times are GPU timestamps where both sides have them,
// else wall clock (--clock). `npm run bench:browser` runs the same in Chromium.

import { join } from 'node:path';
import { buildCommit } from '../src/util/build-info.js';
import * as dn from '../src/index.js';
import { hasRuntime, runtime } from '../src/gpu/runtime.js';
import { runGpuChecks } from './gpu-checks.js';
import { compareRecords, comparisonLines } from './compare.js';
import { tuningLines } from './tuning-summary.js';
import { markdownReport } from './markdown.js';
import { parseBenchArgs, shellCommand, USAGE } from './options.js';
import { loadTfjs, type TfjsPeer } from './peer-tfjs.js';
import { checkRecordPath, keptRecordNote, readRecord, recordTarget, type RecordTarget } from './record-file.js';
import { defaultScale, listCases, loadPeer, recordSlug, runBenchRecord, useConvSettings } from './run.js';

/**
 * Dawn rounds timestamps to 2^16 ns (65.5 us) by default, against timing attacks in browsers; a
 * benchmark wants them whole. It applies to every device made from this GPU object: tfjs's too.
 */
const DAWN_TIMESTAMPS = 'disable-dawn-features=timestamp_quantization';

async function tryLoadTfjs(): Promise<TfjsPeer | null> {
  const gpu = runtime().ctx.nodeGpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    console.log('bench: no GPU object to give tfjs; timing dawnet only');
    return null;
  }
  return loadPeer(() => loadTfjs(gpu));
}

export async function runBench(args: string[]): Promise<void> {
  const opts = parseBenchArgs(args);
  if (!opts) {
    console.log(USAGE);
    return;
  }
  if (typeof opts.markdown === 'string') {
    console.log(markdownReport(readRecord(opts.markdown)));
    return;
  }
  if (opts.tuning) {
    console.log(tuningLines(readRecord(opts.tuning), opts.tuning));
    return;
  }
  if (opts.compare) {
    const [base, next] = opts.compare;
    console.log(comparisonLines(compareRecords(readRecord(base), readRecord(next)), base, next));
    return;
  }
  const ownsRuntime = !hasRuntime();
  const report = await dn.init({ dawnOptions: [DAWN_TIMESTAMPS] });
  const resetConvSettings = useConvSettings(opts);
  const name = dn.info().name;
  const scale = opts.scale ?? defaultScale(report);
  let peer: TfjsPeer | null = null;
  let target: RecordTarget | null = null;
  try {
    if (opts.checks) {
      console.log(`adapter: ${name}`);
      const failed = await runGpuChecks();
      if (failed) throw new Error(`${failed} GPU check(s) differ from the CPU reference`);
      return;
    }
    if (opts.list) return await listCases(opts, scale);
    console.log(`adapter: ${name}`);
    if (buildCommit) console.log(`code:    dawnet at ${buildCommit}`);
    console.log(`scale:   ${scale} (batch and spatial sizes divided by it)`);
    // The default path is taken only when --out is absent: parseBenchArgs refuses --out without a file.
    const out = (target = recordTarget(opts.out, join('bench', 'results', `${recordSlug(report)}.json`)));
    checkRecordPath(out.path);
    if (out.kept) console.log(keptRecordNote(out, 'start'));
    if (opts.tfjs) peer = await tryLoadTfjs();
    const command = shellCommand(['dawnet', 'bench', ...args]);
    await runBenchRecord({
      opts, command, report, scale, peer, ownsRuntime,
      // Read at the end: the first save may have moved on to a free name.
      get out() {
        return out.path;
      },
      save: (record) => out.save(record),
    });
  } finally {
    // Also when the run failed part-way: its saves are in the new file, not the default record.
    if (target?.kept && target.saved) console.log(`\n${keptRecordNote(target, 'end')}`);
    resetConvSettings();
    peer?.unload();
    if (ownsRuntime) dn.shutdown();
  }
}
