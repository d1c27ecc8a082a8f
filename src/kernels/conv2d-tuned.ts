// The conv algorithms chosen by timing them on this device (tuneConvs, conv2d-tuning.ts), one
// table per device: convAlgorithm (conv2d-winograd-run.ts) takes a tuned choice before its rule.
// Also the recorder that tuneConvs runs the user's step under, to learn which convs to time:
// convAlgorithm notes every call that has a choice to make while it records.

import type { ConvGeometry } from './conv2d.js';
import type { ConvDirection } from './conv2d-gemm-common.js';
import type { ConvFamily } from './conv2d-gemm.js';
import type { ConvAlgorithm } from './conv2d-winograd-run.js';

/** A conv that has more than one algorithm: one that Winograd fits (3x3, stride 1), in any direction. */
export interface ConvCall {
  direction: ConvDirection;
  geometry: ConvGeometry;
  family: ConvFamily;
}

/**
 * One way to run a conv: an algorithm and, for the tiled family's GEMMs, a tile ('BMxBNxBK/TMxTN'),
 * or for the fused kernel its channel vec4s per workgroup at most (absent: 8) and its tile
 * (formatFusedTile's, absent: DEFAULT_FUSED_TILE; conv2d-winograd-fused-layout.ts).
 */
export interface ConvCandidate {
  algorithm: ConvAlgorithm;
  tile?: string;
  groups?: number;
  fusedTile?: string;
}

/** One conv's timing: the fastest sample of each algorithm timed, and the one chosen. */
export interface TunedConv extends ConvCall {
  algorithm: ConvAlgorithm;
  /**
   * The tiled family's GEMM tile for the chosen algorithm (Winograd: its batched GEMM's); absent
   * where the family has no choice of tile (subgroup, fused) or none was timed: gemmTile's rule.
   */
  tile?: string;
  /** The fused kernel's channel vec4s per workgroup at most, where it chose 'winograd-fused' and not 8. */
  groups?: number;
  /** The fused kernel's tile, where it chose 'winograd-fused' at another than the default. */
  fusedTile?: string;
  /** Milliseconds per algorithm, its fastest sample at its best tile (algorithms that could not run are left out). */
  ms: Partial<Record<ConvAlgorithm, number>>;
  /** Every candidate timed, with its fastest sample: what the choice was made from. */
  timed?: (ConvCandidate & { ms: number })[];
  /** 'gpu': timestamp queries; 'wall': enqueue to queue drained, where the adapter has none. */
  clock: 'gpu' | 'wall';
}

/** The geometry's fields, in the order keys and saved tunings list them. */
export const GEOMETRY_FIELDS = ['n', 'h', 'w', 'cin', 'kh', 'kw', 'cout', 'sh', 'sw', 'padTop', 'padBottom', 'padLeft', 'padRight', 'ho', 'wo'] as const;

/** Same key, same kernels: the batch size is in it, since it decides how full the tiles are. */
export function convKey(dir: ConvDirection, g: ConvGeometry, family: ConvFamily): string {
  return `${family}|${dir}|${GEOMETRY_FIELDS.map((f) => g[f]).join(',')}`;
}

const tables = new WeakMap<GPUDevice, Map<string, TunedConv>>();

function table(device: GPUDevice): Map<string, TunedConv> {
  let t = tables.get(device);
  if (!t) tables.set(device, (t = new Map()));
  return t;
}

export function tunedConv(device: GPUDevice, dir: ConvDirection, g: ConvGeometry, family: ConvFamily): TunedConv | undefined {
  return tables.get(device)?.get(convKey(dir, g, family));
}

export function setTunedConv(device: GPUDevice, t: TunedConv): void {
  table(device).set(convKey(t.direction, t.geometry, t.family), t);
}

/** Every tuned conv of the device, in the order they were tuned. */
export function tunedConvs(device: GPUDevice): TunedConv[] {
  return [...(tables.get(device)?.values() ?? [])];
}

export function clearTunedConvs(device: GPUDevice): void {
  tables.delete(device);
}

/** Runs fn with exactly `convs` as the device's table, then puts the table back as it was. */
export function withTunedConvs<T>(device: GPUDevice, convs: readonly TunedConv[], fn: () => T): T {
  const before = tables.get(device);
  tables.set(device, new Map(convs.map((t) => [convKey(t.direction, t.geometry, t.family), t])));
  try {
    return fn();
  } finally {
    if (before) tables.set(device, before);
    else tables.delete(device);
  }
}

// The recorder. Module state rather than per device: a recording spans one awaited step, and
// convs that other code runs meanwhile on another device would only be timed once more.
let recording: Map<string, ConvCall> | null = null;

/** Called by convAlgorithm for every conv with a choice to make. */
export function noteConv(dir: ConvDirection, g: ConvGeometry, family: ConvFamily): void {
  recording?.set(convKey(dir, g, family), { direction: dir, geometry: { ...g }, family });
}

/** Runs fn (awaited) and returns the distinct convs with a choice that it ran, in first-run order. */
export async function recordConvs(fn: () => unknown): Promise<ConvCall[]> {
  if (recording) throw new Error('tuneConvs: a tuning is already recording; await it before starting another');
  const seen = new Map<string, ConvCall>();
  recording = seen;
  try {
    await fn();
  } finally {
    recording = null;
  }
  return [...seen.values()];
}
