// What a benchmark case is: named inputs with seeded host data, the work one run does (flops for
// compute-bound ops, bytes for memory-bound ones), and the same op written twice: once with
// dawnet's kernels, once with TensorFlow.js. Both sides get the same host data, so their outputs
// can be compared.
//
// Shapes come from the models dawnet trains: the five U-Net levels at batch 16 (256x256x32 down to
// 16x16x512) and VGG16's conv layers at batch 32, 256x256. `scale` divides batch and spatial
// sizes so a CPU adapter (lavapipe) finishes the suite in minutes.

import type * as TF from '@tensorflow/tfjs-core';
import type { Tensor } from '../src/graph/tensor.js';

export type Tfjs = typeof TF;

/** What a case's rate counts: flops and bytes for kernels, images for end-to-end steps. */
export type Metric = 'flops' | 'bytes' | 'images';

export interface InputSpec {
  name: string;
  shape: number[];
  /**
   * 'uniform' in [-1, 1); 'positive' in [0.5, 1.5) (variances, scales); 'slices', NHWC images
   * shaped like the MRI slices a U-Net takes: a disc of uniform values in [-1, 1) in the middle
   * of each image (radius 0.4 of its side) on a background of exactly -1, half the pixels,
   * so that ops whose cost depends on the values (a histogram's counts into one bin) meet it.
   */
  data?: 'uniform' | 'positive' | 'slices';
}

/** What an op returns: a tensor, or several in an array or object (each compared, in order, with tfjs's). */
export type DnResult = Tensor | readonly unknown[] | Record<string, unknown>;

export interface BenchCase {
  /** Stable id for filters and the JSON, e.g. 'conv2d.forward/unet-l1'. */
  id: string;
  /** Op family: 'elementwise', 'conv2d', ... */
  group: string;
  /** Human shape description at the chosen scale, e.g. '2x32x32x32 k3 ->32'. */
  shape: string;
  metric: Metric;
  /** Flops or bytes of one run (the minimum the op must do, not what a kernel happens to do). */
  work: number;
  inputs: InputSpec[];
  dawnet: (x: Tensor[]) => DnResult;
  /** Absent when tfjs has no counterpart worth timing. */
  tfjs?: (tf: Tfjs, x: TF.Tensor[]) => TF.Tensor | TF.Tensor[];
  /**
   * Made once per side, untimed, before the runs: tensors the op then receives after its inputs
   * (what a backward needs from its forward, constant filters or index tables). Disposed after.
   */
  dawnetSetup?: (x: Tensor[]) => Tensor[];
  tfjsSetup?: (tf: Tfjs, x: TF.Tensor[]) => TF.Tensor[];
  /** Largest allowed max|dawnet - tfjs| / max|tfjs| of each output; default CHECK_TOLERANCE. */
  tolerance?: number;
  /**
   * The outputs by name, in the order both sides return them, where there are several: named in
   * the check, and each compared its own way where its spec says.
   */
  outputs?: OutputSpec[];
  /**
   * What the check compares dawnet's outputs with, where the timed tfjs op returns fewer than
   * dawnet's (values tfjs computes on the way without handing them back); run once, untimed.
   */
  tfjsOutputs?: (tf: Tfjs, x: TF.Tensor[]) => TF.Tensor[];
  /** Something a reader of the numbers should know (extra work one side does, ...). */
  note?: string;
  /**
   * Set when the tfjs / dawnet ratio must divide the two sides' wall medians whatever the run's
   * clock, saying why (the GPU clocks of the two sides do not time this case alike).
   */
  ratioOnWall?: string;
  /** Set when the outputs are known not to match, saying why; the comparison is skipped. */
  noCheck?: string;
  /**
   * A conv forward or backward input: dawnet is timed once more with its operand loads replaced
   * by register values (setOperandProbe, either conv family), which says what the loads cost.
   */
  probeOperands?: boolean;
  /**
   * The algorithm dawnet runs the case with, asked once the device exists (conv2d: 'winograd' or
   * 'direct', see convAlgorithm); recorded with the row, since a Winograd conv's rate counts the
   * direct convolution's flops.
   */
  algorithm?: () => string;
  /**
   * The other algorithms dawnet could run the case with, asked with `algorithm`: `around` runs a
   * step under one. The harness times each as one more interleaved side (the row's `alternatives`).
   */
  alternatives?: () => AlternativeRun[] | Promise<AlternativeRun[]>;
  /** Time dawnet's kernels one by one once more after the samples (the row's `kernels`). */
  profileKernels?: boolean;
}

/** One output of a case as the check compares it. */
export interface OutputSpec {
  name: string;
  /** This output's largest max|dawnet - tfjs| / max|tfjs|, where not the case's. */
  tolerance?: number;
  /**
   * A 0/1 mask thresholded from interpolated values: a value float32 rounding puts on the
   * threshold may fall either way, so the check counts the elements that differ and allows
   * MASK_MISMATCHES of them.
   */
  mask?: true;
  /** Why this output is not compared (tfjs returns nothing like it); the others still are. */
  unchecked?: string;
}

/** The share of a mask's elements allowed to differ (at least one element). */
export const MASK_MISMATCHES = 1e-3;

/** Another way to run a case's dawnet side: a name, and how to run a step under it. */
export interface AlternativeRun {
  algorithm: string;
  around: <T>(step: () => T) => T;
}

/** f32 sums in different orders over a few thousand terms stay well inside this. */
export const CHECK_TOLERANCE = 1e-4;

/** A case family: its cases at a scale, or null when its dawnet kernel module is missing. */
export interface CaseFamily {
  group: string;
  cases: (scale: number) => Promise<BenchCase[] | null>;
}

/**
 * Builds a family from a kernel loader and a case list. The loader is a dynamic import, so the
 * suite still runs while a kernel module is missing or broken: a loader that rejects (or gives
 * null) yields no cases, with a line saying why.
 */
export function family<K>(group: string, load: () => Promise<K | null>, build: (kernels: K, scale: number) => BenchCase[]): CaseFamily {
  return {
    group,
    cases: async (scale) => {
      const kernels = await load().catch((e: unknown) => missing(group, e));
      return kernels ? build(kernels, scale) : null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Shapes

export interface ConvLayer {
  name: string;
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
}

/** Divides a size by the scale, never below 1. */
export function scaled(size: number, scale: number): number {
  return Math.max(1, Math.round(size / scale));
}

const UNET_LEVELS: [number, number][] = [
  [256, 32],
  [128, 64],
  [64, 128],
  [32, 256],
  [16, 512],
];

/** The U-Net's 3x3 same-padding convs, cin = cout = the level's channels, batch 16. */
export function unetLevels(scale: number): ConvLayer[] {
  return UNET_LEVELS.map(([hw, c], i) => {
    const s = scaled(hw, scale);
    return { name: `unet-l${i + 1}`, n: scaled(16, scale), h: s, w: s, cin: c, cout: c, k: 3 };
  });
}

const VGG16_CONVS: [string, number, number, number][] = [
  ['conv1_1', 256, 3, 64],
  ['conv1_2', 256, 64, 64],
  ['conv2_1', 128, 64, 128],
  ['conv2_2', 128, 128, 128],
  ['conv3_1', 64, 128, 256],
  ['conv3_2', 64, 256, 256],
  ['conv4_1', 32, 256, 512],
  ['conv4_2', 32, 512, 512],
  ['conv5_1', 16, 512, 512],
];

/** VGG16's distinct conv shapes (conv3_3, conv4_3, conv5_2/3 repeat earlier ones), batch 32. */
export function vggLayers(scale: number): ConvLayer[] {
  return VGG16_CONVS.map(([name, hw, cin, cout]) => {
    const s = scaled(hw, scale);
    return { name: `vgg-${name}`, n: scaled(32, scale), h: s, w: s, cin, cout, k: 3 };
  });
}

/**
 * A case's algorithm and alternatives for an op with a few named ways (a forcedWay's, as topk's or
 * the histogram's): the way its rule takes, and each other way run under `withWay`, timed beside.
 */
export function ways<W extends string>(all: readonly W[], rule: () => W, withWay: <T>(way: W, fn: () => T) => T): Pick<BenchCase, 'algorithm' | 'alternatives'> {
  return {
    algorithm: rule,
    alternatives: () => all.filter((w) => w !== rule()).map((w) => ({ algorithm: w, around: (step) => withWay(w, step) })),
  };
}

export function dims(shape: readonly number[]): string {
  return shape.join('x');
}

// ---------------------------------------------------------------------------------------------
// Seeded host data: the same seed gives both frameworks, and every run, the same inputs.

export function hostData(spec: InputSpec, seed: number): Float32Array {
  const n = spec.shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  // xorshift32: fast enough for tens of millions of values, and plenty random for a benchmark.
  let s = Math.imul(seed + 1, 2654435761) >>> 0 || 1;
  const [lo, span] = spec.data === 'positive' ? [0.5, 1] : [-1, 2];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + (span * s) / 4294967296;
  }
  if (spec.data === 'slices') paintBackground(out, spec.shape);
  return out;
}

/** Sets every pixel of NHWC images outside a centred disc of radius 0.4 of the side to -1. */
function paintBackground(values: Float32Array, shape: readonly number[]): void {
  if (shape.length !== 4) throw new Error(`hostData: 'slices' data is NHWC images, got shape [${shape.join(', ')}]`);
  const [n, h, w, c] = shape;
  const radius = 0.4 * Math.min(h, w);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (Math.hypot(y + 0.5 - h / 2, x + 0.5 - w / 2) <= radius) continue;
        values.fill(-1, ((b * h + y) * w + x) * c, ((b * h + y) * w + x + 1) * c);
      }
    }
  }
}

/** Multiply-adds of a conv over its output, counted as 2 flops each (all three directions). */
export function convFlops(l: ConvLayer): number {
  return 2 * l.n * l.h * l.w * l.k * l.k * l.cin * l.cout;
}

/** Bytes of `elements` float32 values. */
export function f32Bytes(...elements: number[]): number {
  return 4 * elements.reduce((p, e) => p + e, 0);
}

export function count(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** A family's dawnet kernel module failed to load (missing while it is being written, or broken). */
function missing(group: string, e: unknown): null {
  const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
  console.log(`bench: skipping ${group} cases: its kernel module did not load (${why})`);
  return null;
}
