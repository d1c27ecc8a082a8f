// A probe for a GPU lease: the kernels' own knobs that the benchmark does not time beside a conv
// (the row-patch kernel's pixels a thread, the F(2x2) Winograd kernel's slice depth and staging),
// each timed on the GPU's clock at the shapes whose bars they were made for, beside the way the
// rules run them. The numbers choose defaults; the bars are claimed from `dawnet bench` alone.
//
//   node dist/probes/conv-variants.js [OUT.json]     (scripts/gpu-bundle.sh builds it; gpu-run.sh's DAWNET_PROBE runs it)
//
// Each variant: two untimed runs (pipelines compiled, buffers pooled, the output compared with the
// rule's), then REPS samples, each as many runs back to back inside one dn.profile (every dispatch
// in its own timestamped pass) as fill about INNER_MS of GPU time, their GPU total over the runs;
// the median of the samples. A first version timed one run a sample: with the GPU idle between
// samples every time came out about 5x the benchmark's (run 12, 2026-11-28; its ratios held).
// This version, against `dawnet bench --group conv2d --only 'forward/vgg-conv1_1$' --scale 8` on
// lavapipe minutes apart (2026-11-28): row-patch P=4 1.50 ms against the bench's 1.57, channel
// lanes 1.24 against 1.18, but the direct conv 0.87 against 0.62, a gap not yet explained (each
// dispatch gets a timestamped pass of its own here, the bench's whole run one). Not yet run on a GPU.

import { writeFileSync } from 'node:fs';
import * as dn from '../../src/index.js';
import { setRowPatchPixels } from '../../src/kernels/conv2d-row-patch.js';
import { setWinograd2Prefetch, setWinograd2SliceDepth } from '../../src/kernels/conv2d-winograd-f2.js';
import type { ConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';

const REPS = 7;
const INNER_MS = 20;
/** DAWNET_PROBE_SCALE divides the batch and sides (a CPU adapter's smoke run: 8). */
const SCALE = Number(process.env.DAWNET_PROBE_SCALE ?? 1);

interface Conv {
  name: string;
  x: [number, number, number, number];
  cout: number;
}

interface Variant {
  label: string;
  algorithm: ConvAlgorithm | 'auto';
  set?: () => void;
}

interface Timed {
  conv: string;
  variant: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  gflops: number;
  /** Largest |y − y_rule| over the largest |y_rule|: each variant's output against the rule's. */
  relDiff: number;
  kernels: { name: string; ms: number }[];
}

/** The rule's output of the conv being probed, which each variant's is compared with. */
let reference: Float32Array | null = null;

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const filled = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);

async function time(conv: Conv, v: Variant): Promise<Timed> {
  const [n, h, w] = conv.x.slice(0, 3).map((d) => Math.max(1, Math.round(d / SCALE)));
  const cin = conv.x[3];
  const x = dn.tensor(filled(n * h * w * cin, 1), [n, h, w, cin]);
  const wt = dn.tensor(filled(9 * cin * conv.cout, 2), [3, 3, cin, conv.cout]);
  const b = dn.tensor(filled(conv.cout, 3), [conv.cout]);
  dn.setConvAlgorithm(v.algorithm);
  v.set?.();
  const run = () => dn.conv2d(x, wt, b, { padding: 'same' });
  try {
    let relDiff = 0;
    for (let i = 0; i < 2; i++) {
      const y = run();
      const got = await y.toArray();
      y.dispose();
      if (v.label === 'rule') reference = got;
      let [diff, scale] = [0, 0];
      for (let j = 0; j < got.length; j++) {
        diff = Math.max(diff, Math.abs(got[j] - reference![j]));
        scale = Math.max(scale, Math.abs(reference![j]));
      }
      relDiff = Number.isNaN(diff) ? Infinity : diff / scale;
    }
    const sample = async (runs: number) => {
      const p = await dn.profile(() => {
        for (let r = 0; r < runs; r++) run().dispose();
      });
      if (!p) throw new Error('conv-variants: this adapter gives no GPU timestamps');
      return { ms: p.totalMs / runs, kernels: p.kernels.map((k) => ({ name: k.name, ms: k.ms / runs })) };
    };
    const once = await sample(1);
    const inner = Math.max(1, Math.min(200, Math.ceil(INNER_MS / Math.max(once.ms, 1e-3))));
    const totals: number[] = [];
    let kernels: { name: string; ms: number }[] = [];
    for (let i = 0; i < REPS; i++) {
      const t = await sample(inner);
      totals.push(t.ms);
      if (t.ms === median(totals)) kernels = t.kernels;
    }
    const ms = median(totals);
    return { conv: conv.name, variant: v.label, medianMs: ms, minMs: Math.min(...totals), maxMs: Math.max(...totals), gflops: (2 * n * h * w * 9 * cin * conv.cout) / (ms * 1e6), relDiff, kernels };
  } finally {
    dn.setConvAlgorithm('auto');
    setRowPatchPixels(null);
    setWinograd2SliceDepth(null);
    setWinograd2Prefetch(null);
    for (const t of [x, wt, b]) t.dispose();
  }
}

const rowPatch = (p: number): Variant => ({ label: `row-patch P=${p}`, algorithm: 'row-patch', set: () => setRowPatchPixels(p) });
const f2 = (ck: number, prefetch: boolean): Variant => ({
  label: `winograd-f2 CK=${ck}${prefetch ? ' prefetch' : ''}`,
  algorithm: 'winograd-f2',
  set: () => {
    setWinograd2SliceDepth(ck);
    setWinograd2Prefetch(prefetch);
  },
});
const f2s = (depths: number[]): Variant[] => depths.flatMap((ck) => [f2(ck, false), f2(ck, true)]);

const PLAN: [Conv, Variant[]][] = [
  [{ name: 'vgg-conv1_1', x: [32, 256, 256, 3], cout: 64 }, [{ label: 'rule', algorithm: 'auto' }, { label: 'direct', algorithm: 'direct' }, ...[2, 3, 4, 6, 8].map(rowPatch), { label: 'channel-lanes', algorithm: 'channel-lanes' }]],
  [{ name: 'unet-conv0', x: [16, 256, 256, 3], cout: 32 }, [{ label: 'rule', algorithm: 'auto' }, { label: 'direct', algorithm: 'direct' }, ...[2, 4, 8].map(rowPatch), { label: 'channel-lanes', algorithm: 'channel-lanes' }]],
  [{ name: 'unet-l1', x: [16, 256, 256, 32], cout: 32 }, [{ label: 'rule', algorithm: 'auto' }, ...f2s([8, 4])]],
  [{ name: 'unet-l2', x: [16, 128, 128, 64], cout: 64 }, [{ label: 'rule', algorithm: 'auto' }, ...f2s([8])]],
];

const report = await dn.init();
console.log(`conv-variants on ${report.vendor} ${report.device} ${report.description}, scale ${SCALE}`);
const results: Timed[] = [];
for (const [conv, variants] of PLAN) {
  for (const v of variants) {
    try {
      const r = await time(conv, v);
      results.push(r);
      console.log(`${conv.name.padEnd(12)} ${v.label.padEnd(36)} ${r.medianMs.toFixed(3)} ms [${r.minMs.toFixed(3)}-${r.maxMs.toFixed(3)}] ${r.gflops.toFixed(0)} GFLOP/s  diff ${r.relDiff.toExponential(1)}  ${r.kernels.map((k) => `${k.name} ${k.ms.toFixed(3)}`).join(', ')}`);
    } catch (e) {
      console.log(`${conv.name.padEnd(12)} ${v.label.padEnd(36)} failed: ${(e as Error).message}`);
    }
  }
}
if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify({ date: new Date().toISOString(), adapter: report, reps: REPS, results }, null, 2));
dn.shutdown();
