// A probe for a GPU lease: the kernels' own knobs that the benchmark does not time beside a conv
// (the row-patch kernel's pixels a thread, the fused F(4x4) Winograd kernel's tiles and, by
// leaving one part out at a time, where its time goes; the F(2x2) Winograd kernel's slice depth
// and staging),
// each timed on the GPU's clock at the shapes whose bars they were made for, beside the way the
// rules run them. The numbers choose defaults; the bars are claimed from `dawnet bench` alone.
//
//   node dist/probes/conv-variants.js [OUT.json]     (scripts/gpu-bundle.sh builds it; gpu-run.sh's DAWNET_PROBE runs it)
//
// Each variant: one untimed run (its output compared with the rule's), then the benchmark's own
// timing (bench/timing.ts timeClocked at DEFAULT_TIMING: warm-up, runs back to back until a sample
// lasts 20 ms, 7 samples on dawnet's GPU clock, the median) of the raw forward the benchmark's conv
// cases run, so its times are the bench's; and one run with each dispatch in a pass of its own
// (dn.profile) for the split by kernel. On lavapipe at scale 8 (2026-11-28) it gave conv1_1 0.626
// ms by direct and 1.39 by row-patch against the bench's 0.582 and 1.57 minutes before, within
// that host's spread. Its first version timed lone runs on an idle GPU: about 5x the bench's
// times on the H200 (run 12), though its ratios held. Not yet run on a GPU in this form.

import { writeFileSync } from 'node:fs';
import * as dn from '../../src/index.js';
import { setRowPatchPixels } from '../../src/kernels/conv2d-row-patch.js';
import { setWinograd2Prefetch, setWinograd2SliceDepth } from '../../src/kernels/conv2d-winograd-f2.js';
import { currentFusedLayout, setFusedGroups, setFusedSliceDepth, setFusedTile } from '../../src/kernels/conv2d-winograd-fused.js';
import type { FusedTile } from '../../src/kernels/conv2d-winograd-fused-layout.js';
import type { ConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { conv2dForward } from '../../src/kernels/conv2d.js';
import { runtime } from '../../src/gpu/runtime.js';
import { dawnetGpuClock, DEFAULT_TIMING, timeClocked } from '../timing.js';

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
  /** What the knobs became on this device for this conv (a tile fitted to its limits), after set. */
  detail?: (conv: Conv, blocks: number) => string;
}

interface Timed {
  conv: string;
  variant: string;
  detail?: string;
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

const filled = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);

async function time(conv: Conv, v: Variant): Promise<Timed> {
  const [n, h, w] = conv.x.slice(0, 3).map((d) => Math.max(1, Math.round(d / SCALE)));
  const cin = conv.x[3];
  const x = dn.tensor(filled(n * h * w * cin, 1), [n, h, w, cin]);
  const wt = dn.tensor(filled(9 * cin * conv.cout, 2), [3, 3, cin, conv.cout]);
  dn.setConvAlgorithm(v.algorithm);
  v.set?.();
  const detail = v.detail?.(conv, n * Math.ceil(h / 4) * Math.ceil(w / 4));
  // The raw forward with no bias, as the benchmark's conv cases run it (bench/cases/conv2d.ts).
  const run = () => conv2dForward(x, wt, null, { stride: 1, padding: 'same' });
  try {
    // One untimed run (pipelines compiled, buffers pooled), its output compared with the rule's.
    const y = run();
    const got = await y.toArray();
    y.dispose();
    if (v.label === 'rule') reference = got;
    let [diff, scale] = [0, 0];
    for (let j = 0; j < got.length; j++) {
      diff = Math.max(diff, Math.abs(got[j] - reference![j]));
      scale = Math.max(scale, Math.abs(reference![j]));
    }
    const relDiff = Number.isNaN(diff) ? Infinity : diff / scale;
    const gpu = dawnetGpuClock();
    if (!gpu) throw new Error('conv-variants: this adapter gives no GPU timestamps');
    const { timing } = await timeClocked({ step: () => run().dispose(), sync: () => runtime().sync() }, DEFAULT_TIMING, gpu);
    // Where the time goes: one more run with each dispatch in a timestamped pass of its own.
    const p = await dn.profile(() => run().dispose());
    const kernels = (p?.kernels ?? []).map((k) => ({ name: k.name, ms: k.ms }));
    const ms = timing.medianMs;
    return { conv: conv.name, variant: v.label, detail, medianMs: ms, minMs: timing.minMs, maxMs: timing.maxMs, gflops: (2 * n * h * w * 9 * cin * conv.cout) / (ms * 1e6), relDiff, kernels };
  } finally {
    dn.setConvAlgorithm('auto');
    setRowPatchPixels(null);
    setWinograd2SliceDepth(null);
    setWinograd2Prefetch(null);
    setFusedTile(null);
    setFusedGroups(null);
    setFusedSliceDepth(null);
    for (const t of [x, wt]) t.dispose();
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

/** The fused F(4x4) kernel at a tile (blocks, thread tile blocks x channels), U staged or cached, split staging, channel vec4s a workgroup, slice depth. */
const fused = ([blocks, threadBlocks, threadChannels]: [FusedTile['blocks'], FusedTile['threadBlocks'], FusedTile['threadChannels']], o: { sharedU?: boolean; split?: boolean; groups?: 4 | 8; ck?: number; ablate?: FusedTile['ablate'] } = {}): Variant => ({
  label: `winograd-fused ${blocks}b ${threadBlocks}x${threadChannels}${o.sharedU ? ' U shared' : ''}${o.split ? ' split' : ''}${o.groups ? ` G=${o.groups}` : ''}${o.ck ? ` CK=${o.ck}` : ''}${o.ablate ? ` without ${o.ablate}` : ''}`,
  algorithm: 'winograd-fused',
  set: () => {
    setFusedTile({ blocks, threadBlocks, threadChannels, sharedU: o.sharedU ?? false, splitStaging: o.split ?? false, ablate: o.ablate });
    setFusedGroups(o.groups ?? null);
    setFusedSliceDepth(o.ck ?? null);
  },
  detail: (conv, blocks) => {
    const L = currentFusedLayout(conv.cout / 4, o.groups ?? 8, blocks);
    return `${L.bt} blocks, ${L.tb}x${L.nb4 * 4} a thread, ${L.threads} threads, CK=${L.ck}, ${L.passes} passes`;
  },
});
/**
 * The fused kernel's tiles worth a GPU's clock: the default, U staged, bigger thread tiles, fewer
 * threads a workgroup, deeper slices, each staging.
 */
const FUSED: Variant[] = [
  fused([16, 4, 8]),
  fused([16, 4, 8], { split: true }),
  fused([16, 4, 8], { sharedU: true }),
  fused([32, 8, 8]),
  fused([32, 8, 8], { split: true }),
  fused([32, 8, 8], { sharedU: true, split: true }),
  fused([16, 4, 16]),
  fused([16, 4, 16], { split: true }),
  fused([16, 8, 16]),
  fused([16, 8, 16], { split: true }),
  fused([16, 8, 16], { sharedU: true }),
  fused([8, 4, 8], { split: true }),
  fused([8, 4, 8], { ck: 16 }),
  fused([16, 4, 8], { groups: 4, split: true }),
  fused([32, 8, 8], { groups: 4, sharedU: true }),
];

/**
 * Where the default tile's time goes, each staging: the same kernel without its input reads, its
 * multiply-adds or its output transform (wrong outputs, so their diff is large by design).
 */
const ABLATIONS: Variant[] = [false, true].flatMap((split) => (['input-reads', 'gemm', 'output'] as const).map((ablate) => fused([16, 4, 8], { split, ablate })));

/**
 * The convs and their variants, the fused kernel's first: what the next lease is for (the U-Net l1
 * bar), its record written after each variant, so that a probe cut by its step's limit still
 * leaves what it timed. Run 13 timed the row-patch and channel-lanes variants already.
 */
const PLAN: [Conv, Variant[]][] = [
  [{ name: 'unet-l1', x: [16, 256, 256, 32], cout: 32 }, [{ label: 'rule', algorithm: 'auto' }, ...FUSED, ...ABLATIONS, ...f2s([4])]],
  [{ name: 'unet-l2', x: [16, 128, 128, 64], cout: 64 }, [{ label: 'rule', algorithm: 'auto' }, ...FUSED, ...f2s([4])]],
  [{ name: 'vgg-conv1_2', x: [32, 256, 256, 64], cout: 64 }, [{ label: 'rule', algorithm: 'auto' }, fused([16, 4, 8]), fused([16, 4, 8], { split: true }), fused([32, 8, 8], { split: true }), fused([16, 8, 16], { sharedU: true })]],
  [{ name: 'vgg-conv1_1', x: [32, 256, 256, 3], cout: 64 }, [{ label: 'rule', algorithm: 'auto' }, { label: 'direct', algorithm: 'direct' }, ...[2, 3, 4, 6, 8].map(rowPatch), { label: 'channel-lanes', algorithm: 'channel-lanes' }]],
  [{ name: 'unet-conv0', x: [16, 256, 256, 3], cout: 32 }, [{ label: 'rule', algorithm: 'auto' }, { label: 'direct', algorithm: 'direct' }, ...[2, 4, 8].map(rowPatch), { label: 'channel-lanes', algorithm: 'channel-lanes' }]],
];

const report = await dn.init();
console.log(`conv-variants on ${report.vendor} ${report.device} ${report.description}, scale ${SCALE}`);
const results: Timed[] = [];
for (const [conv, variants] of PLAN) {
  for (const v of variants) {
    try {
      const r = await time(conv, v);
      results.push(r);
      console.log(`${conv.name.padEnd(12)} ${v.label.padEnd(36)}${r.detail ? ` (${r.detail})` : ''} ${r.medianMs.toFixed(3)} ms [${r.minMs.toFixed(3)}-${r.maxMs.toFixed(3)}] ${r.gflops.toFixed(0)} GFLOP/s  diff ${r.relDiff.toExponential(1)}  ${r.kernels.map((k) => `${k.name} ${k.ms.toFixed(3)}`).join(', ')}`);
    } catch (e) {
      console.log(`${conv.name.padEnd(12)} ${v.label.padEnd(36)} failed: ${(e as Error).message}`);
    }
    if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify({ date: new Date().toISOString(), adapter: report, reps: DEFAULT_TIMING.reps, results }, null, 2));
  }
}
dn.shutdown();
