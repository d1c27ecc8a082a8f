// Splitting a kernel's work when a tensor is larger than one storage binding may be. Buffers go up
// to maxBufferSize (4 GiB on lavapipe) but a single binding only to maxStorageBufferBindingSize
// (128 MiB there and on many GPUs): VGG16's first activation at batch 32 and 256x256 is 512 MiB.
//
// An op that can split describes what it binds: "parts", bound one chunk at a time, whose item i is
// the floats [i·perItem, (i + 1)·perItem) (an item is a batch sample, a row or an element), and
// tensors bound whole (weights, per-channel vectors). chunkItems picks the items per dispatch:
//   - everything fits: all of them, so the op dispatches once with exactly its unsplit bindings;
//   - otherwise the most items whose bindings all fit, as a multiple of `granule` (what the kernel's
//     indexing needs, e.g. a broadcast period) and, when at least one such multiple fits, of the
//     alignment period q = lcm over parts of align / gcd(align, perItem·4): then every chunk's byte
//     offset is a multiple of minStorageBufferOffsetAlignment. Chunks are then evened out (33 items
//     with room for 32 run as 17 + 16, not 32 + 1).
// When even one alignment period is too big (a 250x250 plane is 250,000 bytes, 16-byte aligned but
// not 256-byte aligned), dispatchChunk stages the misaligned chunks: it copies them to a scratch
// buffer (buffer copies need only 4-byte alignment), binds that, copies outputs back and submits so
// the scratch is reused. That costs a copy of each chunk; images whose H·W is a multiple of 64
// (256x256, 224x224) never need it.
// An item larger than the limit cannot be split here: LimitError naming the op, tensor and limit.
// Ops plan before they allocate their outputs (described by `planned`), so a LimitError leaks nothing.

import { LimitError } from '../errors.js';
import { runtime, type BufferSlice, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, formatShape, shapeSize, Tensor, TENSOR_USAGE, type Shape } from '../graph/tensor.js';
import { linearGrid } from './wgsl.js';

/** What an op binds: a tensor, or (while planning) an output it has yet to allocate. */
export type Bound = Tensor | { size: number; describe(): string };

/** An output not allocated yet, for planning: its label and shape. */
export const planned = (label: string, shape: Shape): Bound => ({ size: shapeSize(shape), describe: () => `${label} ${formatShape(shape)}` });

/** A tensor bound chunk by chunk: `perItem` floats per item. */
export interface Part {
  tensor: Bound;
  perItem: number;
}

export const part = (tensor: Bound, perItem: number): Part => ({ tensor, perItem });

/**
 * Floats [first, first + count) of a tensor, bound as one chunk. `keep`: for an output the kernel
 * writes only some of them (strided rows), so a staged copy must start from the tensor's contents.
 */
export interface Range {
  tensor: Tensor;
  first: number;
  count: number;
  keep?: boolean;
}

export const range = (tensor: Tensor, first: number, count: number, keep = false): Range => ({ tensor, first, count, keep });

export const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
export const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

/**
 * Throws a LimitError naming `op` unless every tensor bound whole (or planned output) fits one
 * binding: kernels that do not split call it before they allocate anything.
 */
export function checkWhole(op: string, whole: readonly (Bound | null | undefined)[]): void {
  const limit = runtime(op).bindingLimit;
  for (const t of whole) {
    if (t && t.size * 4 > limit) {
      throw new LimitError(`${op}: ${t.describe()} is bound whole and its ${t.size * 4} bytes exceed the storage binding limit of ${limit} bytes`);
    }
  }
}

/**
 * Items per dispatch for `items` items of `parts` (see the header); `items` when everything fits.
 * Every chunk but the last holds a multiple of `granule` items.
 */
export function chunkItems(op: string, items: number, parts: readonly Part[], whole: readonly (Bound | null | undefined)[] = [], granule = 1): number {
  checkWhole(op, whole);
  const rt = runtime(op);
  const limit = rt.bindingLimit;
  if (parts.every((p) => items * p.perItem * 4 <= limit)) return items;
  let fit = Infinity;
  let widest = parts[0];
  for (const p of parts) {
    if (p.perItem <= 0) continue;
    fit = Math.min(fit, Math.floor(limit / (p.perItem * 4)));
    if (p.perItem > widest.perItem) widest = p;
  }
  if (fit < granule) {
    const what = granule > 1 ? `${granule} items (the smallest chunk its indexing allows) of` : 'one item of';
    throw new LimitError(
      `${op}: ${what} ${widest.tensor.describe()} take ${granule * widest.perItem * 4} bytes, more than the storage binding limit of ${limit} bytes, so the work cannot be split to fit`,
    );
  }
  const align = rt.offsetAlignment;
  let q = granule;
  for (const p of parts) if (p.perItem > 0) q = lcm(q, align / gcd(align, p.perItem * 4));
  const step = fit >= q ? q : granule;
  const most = Math.floor(fit / step) * step;
  const chunks = Math.ceil(items / most);
  return Math.ceil(items / chunks / step) * step;
}

/** Calls fn(first, count, index) for consecutive chunks of `chunk` items (the last may be shorter). */
export function forEachChunk(items: number, chunk: number, fn: (first: number, count: number, index: number) => void): void {
  for (let first = 0, index = 0; first < items; first += chunk, index++) fn(first, Math.min(chunk, items - first), index);
}

interface Staged {
  range: Range;
  scratch: GPUBuffer;
  output: boolean;
}

/**
 * runtime().dispatch with Ranges resolved: a whole tensor binds as `tensor.slice`, an aligned range
 * at its offset, a misaligned one through a staged copy (see the header).
 */
export function dispatchChunk(
  spec: KernelSpec,
  inputs: readonly (Tensor | Range)[],
  outputs: readonly (Tensor | Range)[],
  params: ArrayBuffer,
  workgroups: [number, number?, number?],
): void {
  const rt = runtime();
  const staged: Staged[] = [];
  const bind = (b: Tensor | Range, output: boolean): BufferSlice => {
    if (b instanceof Tensor) return b.slice;
    const offset = b.first * 4;
    const bytes = b.count * 4;
    if (offset === 0 && b.count === b.tensor.size) return b.tensor.slice;
    if (offset % rt.offsetAlignment === 0) return b.tensor.sliceRange(offset, bytes);
    const buffer = b.tensor.buffer;
    const scratch = rt.pool.acquire(bytes, TENSOR_USAGE, `${spec.name}.staged`);
    staged.push({ range: b, scratch, output });
    if (!output || b.keep) rt.copy(buffer, offset, scratch, 0, bytes);
    return { buffer: scratch, size: bytes };
  };
  try {
    const slices = { inputs: inputs.map((b) => bind(b, false)), outputs: outputs.map((b) => bind(b, true)) };
    rt.dispatch(spec, { ...slices, params }, workgroups);
    for (const s of staged) {
      if (s.output) rt.copy(s.scratch, 0, s.range.tensor.buffer, s.range.first * 4, s.range.count * 4);
    }
  } finally {
    for (const s of staged) rt.pool.release(s.scratch);
    // Released buffers are reusable only after a submit: without one, every staged chunk until the
    // next submit would take a fresh scratch buffer of up to the binding limit.
    if (staged.length) rt.submit();
  }
}

/**
 * Runs a per-sample kernel over chunks of n samples into new outputs of the given shapes (labels
 * first): `inputs` and outputs are [n, ...] tensors. Each chunk gets `params(threads)` and
 * `threads` threads: one per `width` elements of the first output unless `threadsPerSample` says
 * otherwise (the pools' kernels, pool.ts and max-pool3d.ts).
 */
export function runPerSample(
  spec: KernelSpec,
  n: number,
  inputs: Tensor[],
  outputs: [string, Shape][],
  params: (threads: number) => ArrayBuffer,
  threadsPerSample?: number,
  width = 1,
): Tensor[] {
  const perSample = (t: Bound) => (n === 0 ? 0 : t.size / n);
  const planOut = outputs.map(([label, shape]) => planned(label, shape));
  const per = chunkItems(spec.name, n, [...inputs, ...planOut].map((t) => part(t, perSample(t))));
  const outs = outputs.map(([label, shape]) => emptyTensor(shape, label));
  forEachChunk(n, per, (first, count) => {
    const chunk = (t: Tensor) => range(t, first * perSample(t), count * perSample(t));
    const threads = (count * (threadsPerSample ?? perSample(outs[0]))) / width;
    dispatchChunk(spec, inputs.map(chunk), outs.map(chunk), params(threads), linearGrid(threads));
  });
  return outs;
}
