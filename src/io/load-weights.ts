// Weight import: a file people download (PyTorch .pt/.pth, Keras .h5, .safetensors) into a dawnet
// Module. Three steps, all on the host: read the file (format from its magic bytes), map every
// source tensor to a dawnet parameter name and layout, check every name and shape; only then
// upload. A failed check leaves the model untouched.
//
// Layouts (dawnet: conv [kh, kw, cin, cout], conv-transpose [kh, kw, cout, cin], linear [in, out],
// activations NHWC):
// - PyTorch conv [cout, cin, kh, kw] and conv-transpose [cin, cout, kh, kw] both become dawnet's by
//   the same axis order (2, 3, 1, 0); linear [out, in] is transposed. torchvision VGG16's fc1 takes
//   the 7x7x512 map flattened as (c, h, w); dawnet flattens NHWC as (h, w, c), so its rows move.
// - Keras kernels are dawnet's layout already (Flatten is NHWC too).
// - safetensors: PyTorch layout (Hugging Face, timm) unless the file says it is dawnet's, or the
//   model's shapes only fit as-is.
// Names: dawnet names its U-Net parameters like Buda et al.'s PyTorch module (identity), its VGG16
// 'features.block1_conv1.weight' ... 'top.fc1.weight' like Keras's layers.

import { ArgumentError, FormatError, ShapeError } from '../errors.js';
import { describeValue, expectChoice, expectKnownOptions, expectOptionalBoolean, expectOptions } from '../graph/args.js';
import { assertLive } from '../graph/tensor.js';
import { runtime } from '../gpu/runtime.js';
import { Module } from '../nn/module.js';
import { readKerasH5 } from './keras-h5.js';
import { looksLikePickle } from './pickle.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from './safetensors.js';
import { readTorch, type SourceTensor } from './torch.js';

export type WeightFormat = 'torch' | 'keras-h5' | 'safetensors';
export type ModelKind = 'vgg16' | 'unet' | 'generic';
/** Whose names and layouts a weight file holds, as detected. */
export type Layout = 'torch' | 'keras' | 'dawnet' | 'unknown';

export interface LoadOptions {
  format?: 'auto' | WeightFormat;
  /** Throw when a model parameter is missing from the file or a file tensor is unused (default true). */
  strict?: boolean;
  /** Name for messages when the source is bytes. */
  name?: string;
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  format: string;
  source: string;
}

export interface WeightFile {
  format: WeightFormat;
  layout: Layout;
  tensors: Map<string, SourceTensor>;
  source: string;
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Picks the reader by magic bytes; throws FormatError 'not a weight file' for anything else. */
export function detectFormat(bytes: Uint8Array, source = '<bytes>'): WeightFormat {
  // A string or an array indexes as bytes would and named a format, or none, for what is not a file.
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`detectFormat: bytes must be a Uint8Array, got ${describeValue(bytes)}`);
  // A zip opens with a local header (PK 3 4) or, empty, with its end record (PK 5 6).
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6))) return 'torch';
  const hdf5 = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  if (hdf5.every((b, i) => bytes[i] === b)) return 'keras-h5';
  // Safetensors before pickle: its first bytes are a header length, which can read as a pickle's
  // (640 = 80 02 00 ..: PROTO 2) or a zip's ('PK'); a '{' after a length of zeros in its high
  // bytes is no pickle's. A truncated file still counts, so its error says 'truncated'.
  if (bytes.length > 9) {
    const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLen >= 2n && headerLen <= 100_000_000n && bytes[8] === 0x7b) return 'safetensors';
  }
  if (looksLikePickle(bytes)) return 'torch';
  throw new FormatError(`${source}: not a weight file (not a PyTorch .pt/.pth zip or pickle, an HDF5 .h5 or a .safetensors file)`);
}

/** A weight file's source: a path, or its bytes (a number made an empty buffer of that size). */
function checkSource(op: string, role: string, v: unknown): void {
  if (typeof v === 'string' ? v === '' : !(v instanceof Uint8Array) && !(v instanceof ArrayBuffer)) {
    throw new ArgumentError(`${op}: ${role} must be a file path, a Uint8Array or an ArrayBuffer, got ${describeValue(v)}`);
  }
}

/** The options a reader takes (`known`), each of its type: { stict: false } loaded strictly, silently. */
function checkLoadOptions(op: string, opts: unknown, known: readonly string[]): asserts opts is LoadOptions & ConvertOptions {
  expectOptions(op, opts, '{ strict: false }');
  const o = (opts ?? {}) as Record<string, unknown>;
  expectKnownOptions(op, o, known, {});
  expectChoice(op, 'format', o.format, ['auto', 'torch', 'keras-h5', 'safetensors']);
  expectOptionalBoolean(op, 'strict', o.strict);
  expectChoice(op, 'model', o.model, ['vgg16', 'unet']);
  if (o.name !== undefined && typeof o.name !== 'string') throw new ArgumentError(`${op}: name must be a string, got ${describeValue(o.name)}`);
}

/** Reads and decodes a weight file from a path or bytes; `op` names the public call in errors. */
export async function readWeightFile(input: string | Uint8Array | ArrayBuffer, opts: LoadOptions = {}, op = 'readWeightFile'): Promise<WeightFile> {
  checkSource(op, 'input', input);
  checkLoadOptions(op, opts, ['format', 'strict', 'name']);
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    const { readFileBytes } = await import('./files.js');
    bytes = await readFileBytes(input, op);
  } else bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const source = opts.name ?? (typeof input === 'string' ? input : '<bytes>');
  const format = !opts.format || opts.format === 'auto' ? detectFormat(bytes, source) : opts.format;
  if (format === 'torch') return { format, layout: 'torch', tensors: await readTorch(bytes, source), source };
  if (format === 'keras-h5') return { format, layout: 'keras', tensors: await readKerasH5(bytes, source), source };
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format === 'dawnet-checkpoint-1') {
    // A dawnet training checkpoint: the model's tensors are under 'model/', the optimiser's skipped.
    const model = new Map([...tensors].filter(([n]) => n.startsWith('model/')).map(([n, t]) => [n.slice(6), t]));
    return { format, layout: 'dawnet', tensors: model, source };
  }
  const layout = metadata.format?.startsWith('dawnet') ? 'dawnet' : metadata.format === 'pt' ? 'torch' : 'unknown';
  return { format, layout, tensors, source };
}

// ---- names ----------------------------------------------------------------------------------

const VGG_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
const VGG_BLOCK = [[1, 1], [1, 2], [2, 1], [2, 2], [3, 1], [3, 2], [3, 3], [4, 1], [4, 2], [4, 3], [5, 1], [5, 2], [5, 3]];
const VGG_TOP: Record<string, string> = { 0: 'fc1', 3: 'fc2', 6: 'predictions' };
const KERAS_VARIABLE: Record<string, string> = {
  kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var',
};

/** torchvision VGG16 names -> dawnet's ('features.0.weight' -> 'features.block1_conv1.weight'). */
export function torchvisionVggName(name: string): string | null {
  const conv = /^features\.(\d+)\.(weight|bias)$/.exec(name);
  const at = conv ? VGG_CONVS.indexOf(Number(conv[1])) : -1;
  if (conv && at >= 0) return `features.block${VGG_BLOCK[at][0]}_conv${VGG_BLOCK[at][1]}.${conv[2]}`;
  const fc = /^classifier\.(\d+)\.(weight|bias)$/.exec(name);
  if (fc && VGG_TOP[fc[1]]) return `top.${VGG_TOP[fc[1]]}.${fc[2]}`;
  return null;
}

function kerasName(key: string, kind: ModelKind, targets: Map<string, number[]> | null): string {
  const [layer, variable] = key.split('/');
  const base = `${layer}.${KERAS_VARIABLE[variable] ?? variable}`;
  const scoped = /^block\d+_conv\d+$/.test(layer) ? `features.${base}` : ['fc1', 'fc2', 'predictions'].includes(layer) ? `top.${base}` : base;
  if (!targets) return kind === 'vgg16' ? scoped : base;
  if (targets.has(base)) return base;
  if (targets.has(scoped)) return scoped;
  const bySuffix = [...targets.keys()].filter((n) => n.endsWith(`.${base}`));
  return bySuffix.length === 1 ? bySuffix[0] : base;
}

function dawnetName(name: string, layout: Layout, kind: ModelKind, targets: Map<string, number[]> | null): string {
  if (layout === 'keras') return kerasName(name, kind, targets);
  if (targets?.has(name)) return name;
  return torchvisionVggName(name) ?? name;
}

/** Which dawnet model a file's names belong to (for conversion without a model). */
export function inferModelKind(names: Iterable<string>): ModelKind {
  for (const n of names) {
    if (/^(features\.\d+\.|classifier\.\d+\.|features\.block\d+_conv\d+\.|block\d+_conv\d+\/)/.test(n)) return 'vgg16';
    if (/^(encoder1\.enc1conv1\.|bottleneck\.bottleneckconv1\.)/.test(n)) return 'unet';
  }
  return 'generic';
}

// ---- layouts --------------------------------------------------------------------------------

/**
 * [a, b, c, d] -> [c, d, b, a]. Conv: [cout, cin, kh, kw] -> [kh, kw, cin, cout]; conv-transpose:
 * [cin, cout, kh, kw] -> [kh, kw, cout, cin]. One permutation serves both, so a 4-D tensor needs no
 * guess at which kind of layer it feeds.
 */
function torchKernelToDawnet(t: HostTensor): HostTensor {
  const [A, B, C, D] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let a = 0; a < A; a++)
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++)
        for (let d = 0; d < D; d++) out[((c * D + d) * B + b) * A + a] = t.data[((a * B + b) * C + c) * D + d];
  return { shape: [C, D, B, A], data: out };
}

/** [out, in] -> [in, out]; with `channels`, also reorders input rows from (c, h, w) to (h, w, c). */
function torchLinearToDawnet(t: HostTensor, channels: number | null, where: string): HostTensor {
  const [rows, cols] = t.shape;
  const hw = channels ? cols / channels : 1;
  if (channels && (!Number.isInteger(hw) || !Number.isInteger(Math.sqrt(hw)))) {
    throw new ShapeError(`${where}: fc1 has ${cols} inputs, not a square map of ${channels} channels`);
  }
  const c = channels ?? cols;
  const out = new Float32Array(t.data.length);
  for (let o = 0; o < rows; o++) {
    for (let i = 0; i < cols; i++) {
      // Input index i is (ci, p) in the source's flatten order, (p, ci) in dawnet's.
      const dst = channels ? (i % hw) * c + Math.floor(i / hw) : i;
      out[dst * rows + o] = t.data[o * cols + i];
    }
  }
  return { shape: [cols, rows], data: out };
}

function toDawnetLayout(t: HostTensor, name: string, lastConvChannels: number | null, where: string): HostTensor {
  if (t.shape.length === 4) return torchKernelToDawnet(t);
  if (t.shape.length === 2) return torchLinearToDawnet(t, name === 'top.fc1.weight' ? lastConvChannels : null, where);
  return { shape: [...t.shape], data: t.data };
}

export interface MappedWeights {
  tensors: Map<string, HostTensor>;
  /** Source names that no target takes. */
  unexpected: string[];
}

/**
 * Renames and re-lays out every tensor of a file for dawnet. With `targets` (the model's names and
 * shapes), names resolve against them and every shape is checked (ShapeError naming the file, the
 * layer and both shapes).
 */
export function mapWeights(file: WeightFile, kind: ModelKind, targets: Map<string, number[]> | null = null): MappedWeights {
  let layout = file.layout;
  if (layout === 'unknown') layout = targets && fitsAsIs(file, targets) ? 'dawnet' : 'torch';
  const tensors = new Map<string, HostTensor>();
  const from = new Map<string, string>();
  const unexpected: string[] = [];
  const lastConvChannels = layout === 'torch' ? vggLastConvChannels(file) : null;
  for (const [srcName, t] of file.tensors) {
    const name = dawnetName(srcName, layout, kind, targets);
    if (srcName.endsWith('num_batches_tracked') && !targets?.has(name)) continue;
    if (targets && !targets.has(name)) {
      unexpected.push(srcName);
      continue;
    }
    const where = `${file.source}: layer '${name}'${name === srcName ? '' : ` (from '${srcName}')`}`;
    if (from.has(name)) throw new FormatError(`${where} is also given by '${from.get(name)}'`);
    const converted = layout === 'torch' ? toDawnetLayout(t, name, lastConvChannels, where) : { shape: [...t.shape], data: t.data };
    const want = targets?.get(name);
    if (want && shapeText(want) !== shapeText(converted.shape)) {
      const note = layout === 'torch' ? ` after conversion from PyTorch's ${shapeText(t.shape)}` : '';
      throw new ShapeError(`${where}: the file has shape ${shapeText(converted.shape)}${note} but the model expects ${shapeText(want)}`);
    }
    tensors.set(name, converted);
    from.set(name, srcName);
  }
  return { tensors, unexpected };
}

/**
 * Output channels of VGG's last conv (torchvision 'features.28', dawnet 'features.block5_conv3'),
 * which fix fc1's (c, h, w) input order. By name, not file order: safetensors sorts its names.
 */
function vggLastConvChannels(file: WeightFile): number | null {
  let best = -1;
  let channels: number | null = null;
  for (const [srcName, t] of file.tensors) {
    const m = /^features\.block(\d+)_conv(\d+)\.weight$/.exec(torchvisionVggName(srcName) ?? srcName);
    const rank = m ? Number(m[1]) * 100 + Number(m[2]) : -1;
    if (m && t.shape.length === 4 && rank > best) {
      best = rank;
      channels = t.shape[0];
    }
  }
  return channels;
}

/** A safetensors file without a layout note is dawnet's when its shapes only fit unconverted. */
function fitsAsIs(file: WeightFile, targets: Map<string, number[]>): boolean {
  let asIs = 0;
  let converted = 0;
  let named = 0;
  for (const [name, t] of file.tensors) {
    const want = targets.get(name);
    if (!want) continue;
    named++;
    if (shapeText(want) === shapeText(t.shape)) asIs++;
    const [a, b, c, d] = t.shape;
    const swapped = t.shape.length === 4 ? [c, d, b, a] : t.shape.length === 2 ? [b, a] : t.shape;
    if (shapeText(want) === shapeText(swapped)) converted++;
  }
  return named > 0 && asIs === named && converted < named;
}

// ---- entry points ---------------------------------------------------------------------------

function listNames(names: string[]): string {
  return names.length > 12 ? `${names.slice(0, 12).join(', ')} and ${names.length - 12} more` : names.join(', ');
}

/**
 * Loads a PyTorch, Keras HDF5 or safetensors file into `model`. Every tensor is mapped and checked
 * before anything is uploaded; strict (the default) also requires an exact match of names.
 */
export async function loadWeights(model: Module, source: string | Uint8Array | ArrayBuffer, opts: LoadOptions = {}): Promise<LoadReport> {
  if (!(model instanceof Module)) throw new ArgumentError(`loadWeights: model must be a Module, got ${describeValue(model)}`);
  checkSource('loadWeights', 'source', source);
  const file = await readWeightFile(source, opts, 'loadWeights');
  const state = model.stateDict();
  const targets = new Map([...state].map(([n, t]) => [n, [...t.shape]]));
  const kind = targets.has('features.block1_conv1.weight') ? 'vgg16' : targets.has('encoder1.enc1conv1.weight') ? 'unet' : 'generic';
  const { tensors, unexpected } = mapWeights(file, kind, targets);
  const missing = [...targets.keys()].filter((n) => !tensors.has(n));
  if ((opts.strict ?? true) && (missing.length || unexpected.length)) {
    throw new FormatError(
      `${file.source}: weights do not match the model (${file.format}): missing [${listNames(missing)}], ` +
        `unexpected [${listNames(unexpected)}]; pass strict: false to load the rest`,
    );
  }
  assertLive('loadWeights', ...[...tensors.keys()].map((n) => state.get(n)!));
  for (const [name, t] of tensors) if (t.data.length) runtime().write(state.get(name)!.buffer, t.data);
  return { loaded: [...tensors.keys()], missing, unexpected, format: file.format, source: file.source };
}

export interface ConvertOptions {
  model?: 'vgg16' | 'unet';
  format?: 'auto' | WeightFormat;
}

export interface ConvertReport {
  written: string[];
  format: WeightFormat;
  model: ModelKind;
}

/** Rewrites a weight file as a dawnet-named, dawnet-layout .safetensors (`dawnet convert`). */
export async function convertWeights(inPath: string, outPath: string, opts: ConvertOptions = {}): Promise<ConvertReport> {
  for (const [role, path] of [['inPath', inPath], ['outPath', outPath]] as const) {
    if (typeof path !== 'string' || path === '') throw new ArgumentError(`convertWeights: ${role} must be a file path, got ${describeValue(path)}`);
  }
  checkLoadOptions('convertWeights', opts, ['model', 'format']);
  const { hasNodeFs, makeParentFolder, sameFile, writeFileAtomic } = await import('./files.js');
  if (!hasNodeFs()) {
    throw new ArgumentError('convertWeights: reads and writes files, which needs Node; in a browser load the bytes into the model with dn.io.loadWeights(model, bytes) and encode them with dn.io.encodeWeights(model)');
  }
  // Written over its own input, the original weights would be gone for good.
  if (await sameFile(inPath, outPath)) throw new ArgumentError(`convertWeights: the output ${outPath} is the input file ${inPath}; write the converted weights to another file`);
  const file = await readWeightFile(inPath, { format: opts.format }, 'convertWeights');
  const inferred = inferModelKind(file.tensors.keys());
  // A --model the names contradict would be written under it, its names left as they were.
  if (opts.model && inferred !== 'generic' && inferred !== opts.model) {
    throw new FormatError(`${inPath}: its tensor names are ${inferred}'s (${[...file.tensors.keys()][0]}, ...), not ${opts.model}'s; convert it with --model ${inferred}, or leave --model out`);
  }
  const kind = opts.model ?? inferred;
  const { tensors } = mapWeights(file, kind);
  const base = inPath.split(/[\\/]/).pop() ?? inPath;
  const bytes = encodeSafetensors(tensors, { format: 'dawnet-weights-1', model: kind, converted_from: base });
  // As saveCheckpoint: the folder is made if missing ('--out weights/vgg16.safetensors').
  await makeParentFolder(outPath);
  await writeFileAtomic(outPath, bytes, 'convertWeights');
  return { written: [...tensors.keys()], format: file.format, model: kind };
}
