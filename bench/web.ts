// `dawnet bench` in a browser page (scripts/bench-browser.mjs drives it in headless Chromium):
// dawnet on the page's WebGPU, TensorFlow.js's WebGPU backend bundled beside it on the same
// adapter (each gets its own device from navigator.gpu), the same cases and record as the Node
// CLI (bench/run.ts). The page prints the tables to its console and returns the record; the
// driver writes it. tfjs's gradients come from tfjs-core's ES modules, bundled here.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as dn from '../src/index.js';
import { UsageError } from '../src/cli/args.js';
import { runGpuChecks } from './gpu-checks.js';
import { parseBenchArgs, shellCommand, USAGE } from './options.js';
import { tfjsPeer, type TfjsPeer } from './peer-tfjs.js';
import type { BenchRecord } from './report.js';
import { defaultScale, listCases, loadPeer, recordSlug, runBenchRecord, useConvSettings } from './run.js';
import type { Tfjs } from './case.js';

/**
 * What the page answers: a record with `slug`, the name the Node CLI would give its file
 * (recordSlug), or what ran instead (help, a case list, the GPU checks).
 */
export type PageBenchResult = { record: BenchRecord; slug: string } | { done: string } | { failedChecks: number };

async function benchInPage(args: string[]): Promise<PageBenchResult> {
  const opts = parseBenchArgs(args);
  if (!opts) {
    console.log(USAGE);
    return { done: 'usage' };
  }
  if (typeof opts.markdown === 'string') throw new UsageError('--markdown FILE renders a record in Node: dawnet bench --markdown FILE');
  if (opts.compare) throw new UsageError('--compare A B compares records in Node: dawnet bench --compare A B');
  const report = await dn.init();
  const resetConvSettings = useConvSettings(opts);
  const scale = opts.scale ?? defaultScale(report);
  let peer: TfjsPeer | null = null;
  try {
    console.log(`adapter: ${dn.info().name} (${navigator.userAgent})`);
    if (opts.checks) {
      const failed = await runGpuChecks();
      return { failedChecks: failed };
    }
    if (opts.list) {
      await listCases(opts, scale);
      return { done: 'list' };
    }
    console.log(`scale:   ${scale} (batch and spatial sizes divided by it)`);
    if (opts.tfjs) peer = await loadPeer(() => tfjsPeer(tf as unknown as Tfjs, () => {}, async () => "tfjs-core's gradient registrations, bundled with the page"));
    const command = shellCommand(['npm', 'run', 'bench:browser', '--', ...args]);
    // ownsRuntime: timestamps are whole, as the driver starts Chromium with
    // --enable-webgpu-developer-features (else Chrome rounds them to 100 us).
    const record = await runBenchRecord({ opts, command, report, scale, peer, ownsRuntime: true, out: null, save: () => {} });
    return { record, slug: recordSlug(report) };
  } finally {
    resetConvSettings();
    peer?.unload();
    dn.shutdown();
  }
}

declare global {
  interface Window {
    __dawnetBench?: (args: string[]) => Promise<PageBenchResult>;
  }
}

window.__dawnetBench = benchInPage;
