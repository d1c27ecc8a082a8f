// Keras HDF5 weights (model.save_weights('x.h5'), or the 'model_weights' group of model.save('x.h5')),
// read with h5wasm (the HDF5 C library compiled to WebAssembly).
// Layout, as Keras 2's hdf5_format writes it: the group has an attribute 'layer_names' (or, past
// HDF5's 64 KB header limit, 'layer_names0', 'layer_names1', ...); each layer's group has
// 'weight_names' naming its datasets relative to the group: 'block1_conv1/kernel:0' in Keras 2,
// 'block1_conv1_W_1:0' in Keras 1 era files (the original VGG16 ImageNet weights).
// Keys come out as 'layer/variable' ('block1_conv1/kernel'); values keep Keras's layout.

import { FormatError } from '../errors.js';
import { workerSource } from '../util/worker-source.js';
import { nodeModule } from './files.js';
import type { SourceTensor } from './torch.js';
import { MAX_TYPED_ARRAY } from './zip.js';

type H5 = typeof import('h5wasm');
type H5Group = InstanceType<H5['Group']>;

interface H5Runtime {
  h5: H5;
  fs: { writeFile(path: string, data: Uint8Array): void; unlink(path: string): void };
  /** While on, HDF5 errors throw (with HDF5's message) instead of printing to stderr. */
  throwErrors(on: boolean): void;
}

let loading: Promise<H5Runtime> | null = null;

async function h5wasm(): Promise<H5Runtime> {
  // h5wasm ships a Node build (synchronous file access) and a browser build; both expose FS.
  loading ??= (async () => {
    const isNode = typeof process !== 'undefined' && !!process.versions?.node;
    // The Node build's specifier is a variable so that browser bundlers do not try to pull it in.
    const nodeBuild = 'h5wasm/node';
    const mod = (isNode ? await import(nodeBuild) : await import('h5wasm')) as { default?: H5 } & H5;
    const h5 = (mod.default ?? mod) as H5;
    const module = await h5.ready;
    return {
      h5,
      fs: module.FS as unknown as H5Runtime['fs'],
      throwErrors: (on) => void (on ? module.activate_throwing_error_handler() : module.deactivate_throwing_error_handler()),
    };
  })();
  return loading;
}

/** Reads an attribute Keras wrote as a list of byte strings, joining chunked parts. */
function stringList(group: H5Group, name: string): string[] | null {
  const attrs = group.attrs;
  const read = (key: string): string[] => {
    const v = attrs[key].value;
    if (typeof v === 'string') return [v];
    // An empty list is written as an empty float array.
    return Array.isArray(v) ? v.map(String) : [];
  };
  if (name in attrs) return read(name);
  if (!(`${name}0` in attrs)) return null;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...read(`${name}${i}`));
  return out;
}

const KERAS1_VARIABLES: Record<string, string> = { W: 'kernel', b: 'bias', gamma: 'gamma', beta: 'beta', running_mean: 'moving_mean' };

/** 'block1_conv1/kernel:0' -> 'block1_conv1/kernel'; 'block1_conv1_W_1:0' in layer block1_conv1 -> the same. */
export function kerasWeightKey(layer: string, weightName: string): string {
  const name = weightName.replace(/:\d+$/, '');
  if (name.includes('/')) return name.split('/').slice(-2).join('/');
  const rest = name.startsWith(`${layer}_`) ? name.slice(layer.length + 1) : name;
  const variable = rest.replace(/_\d+$/, '');
  return `${layer}/${KERAS1_VARIABLES[variable] ?? variable}`;
}

function toFloat32(value: unknown, key: string, source: string): Float32Array {
  if (value instanceof Float32Array) return value.slice();
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return Float32Array.from(value, (v) => Number(v));
  if (ArrayBuffer.isView(value)) return Float32Array.from(value as unknown as ArrayLike<number>);
  if (typeof value === 'number') return Float32Array.of(value);
  throw new FormatError(`${source}: dataset '${key}' is not numeric`);
}

/** h5wasm's numpy-style type strings, by safetensors dtype name. */
const H5_DTYPES: Record<string, string> = { '<f': 'F32', '<d': 'F64', '<e': 'F16', '>f': 'F32', '>d': 'F64' };

let fileCounter = 0;

export interface ReadKerasH5Options {
  /**
   * Node: how long the read in its worker may take before the file is refused as damaged;
   * default 60 s plus 1 s per 10 MB (VGG16's 58 MB file reads in a few seconds).
   */
  timeoutMs?: number;
}

/**
 * Reads a Keras HDF5 weights or model file into 'layer/variable' -> float32 tensor. In Node the
 * read runs in a worker thread with a time limit: a damaged file can stall h5wasm inside its
 * WebAssembly (a one-byte flip in a string attribute's heap did, forever), where nothing on this
 * thread could interrupt it. In the browser it reads here.
 */
export async function readKerasH5(bytes: Uint8Array, source: string, opts: ReadKerasH5Options = {}): Promise<Map<string, SourceTensor>> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) return readKerasH5Here(bytes, source);
  const timeoutMs = opts.timeoutMs ?? 60_000 + bytes.length / 10_000;
  const { Worker } = await nodeModule<typeof import('node:worker_threads')>('node:worker_threads');
  const script = await workerSource(import.meta.url, 'keras-h5-worker', (url) => new FormatError(`${source}: the HDF5 reader's worker script ${url.href} is missing from the build`));
  const path = await scratchPath();
  const worker = typeof script === 'string' ? new Worker(script, { eval: true }) : new Worker(script);
  type Reply = { entries?: [string, SourceTensor][]; error?: string; format?: boolean };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      timer = setTimeout(() => reject(new FormatError(`${source}: reading the HDF5 file did not finish in ${Math.round(timeoutMs / 1000)} s; h5wasm stalls on some damaged files, so this one is likely damaged`)), timeoutMs);
      worker.once('message', resolve);
      worker.once('error', reject);
      // A worker gone without a word (killed by its runtime) would otherwise leave this to the timer.
      worker.once('exit', (code) => reject(new FormatError(`${source}: the HDF5 reader's worker stopped (exit code ${code}) before it answered`)));
      worker.postMessage({ bytes, source, path });
    });
    if (reply.error !== undefined) throw reply.format ? new FormatError(reply.error) : new Error(reply.error);
    return new Map(reply.entries);
  } finally {
    clearTimeout(timer);
    await worker.terminate();
    // A worker stopped mid-read never reached its own clean-up of the scratch file.
    await (await nodeModule<typeof import('node:fs/promises')>('node:fs/promises')).rm(path, { force: true });
  }
}

/**
 * Where h5wasm is given the bytes to open. Its browser build keeps files in memory, but its Node
 * build reads and writes the real file system: there the file goes in the temporary folder, under
 * a name of this process and thread alone (a fixed '/dawnet-keras-1.h5' needed write access to
 * '/', and two processes reading at once took each other's file).
 */
async function scratchPath(): Promise<string> {
  const n = ++fileCounter;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) return `/dawnet-keras-${n}.h5`;
  const [{ tmpdir }, { join }, { threadId }] = await Promise.all([
    nodeModule<typeof import('node:os')>('node:os'),
    nodeModule<typeof import('node:path')>('node:path'),
    nodeModule<typeof import('node:worker_threads')>('node:worker_threads'),
  ]);
  return join(tmpdir(), `dawnet-keras-${process.pid}-${threadId}-${n}-${Date.now()}.h5`);
}

/** readKerasH5 on this thread (the browser's path, and the worker's). */
export async function readKerasH5Here(bytes: Uint8Array, source: string, scratch?: string): Promise<Map<string, SourceTensor>> {
  const { h5, fs, throwErrors } = await h5wasm();
  const path = scratch ?? (await scratchPath());
  fs.writeFile(path, bytes);
  let file: InstanceType<H5['File']> | null = null;
  throwErrors(true);
  try {
    file = new h5.File(path, 'r');
    return readLayers(h5, file, bytes.length, source);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(`${source}: not a readable HDF5 file (truncated or damaged): ${hdf5Cause(e)}`);
  } finally {
    try {
      file?.close();
    } catch {
      /* a file that failed to open has nothing to close */
    }
    throwErrors(false);
    fs.unlink(path);
  }
}

/**
 * HDF5's error stack runs from the API call down to the cause: the last frame says what is wrong
 * ('truncated file: eof = 9212, ..., stored_eof = 18424'), the first only 'unable to open file'.
 * Frames read '#006: /build/path/H5Fsuper.c line 577 in H5F__super_read(): why'; the why is kept.
 */
function hdf5Cause(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const frames = [...text.matchAll(/^\s*#\d+: .* in \S+\(\): (.+)$/gm)];
  if (frames.length) return frames[frames.length - 1][1].trim();
  return text.split('\n').find((l) => /\S/.test(l) && !l.startsWith('HDF5-DIAG'))?.trim() ?? 'unknown HDF5 error';
}

/**
 * A dataset's declared size, checked before h5wasm allocates it: an unfiltered dataset's bytes lie
 * in the file (all of them together too), a compressed one's at most 1032 times the file (deflate's
 * densest). A chunked dataset resized without writing reads as fill values: 8 KB of file declared
 * a 256 MB weight, which h5wasm allocated, then copied.
 */
function checkDatasetSize(ds: InstanceType<H5['Dataset']>, key: string, fileBytes: number, unfiltered: { bytes: number }, source: string): void {
  const { total_size: count, size } = ds.metadata;
  const bytes = Number(count) * size;
  const filtered = ds.filters.length > 0;
  if (!filtered) unfiltered.bytes += bytes;
  const max = filtered ? 1032 * fileBytes : fileBytes;
  if (Number(count) > MAX_TYPED_ARRAY || bytes > max || unfiltered.bytes > fileBytes) {
    throw new FormatError(
      `${source}: dataset '${key}' declares shape [${ds.shape}] (${bytes} bytes), more than ` +
        (filtered ? `its compressed data can expand to (1032 times the ${fileBytes}-byte file)` : `the ${fileBytes}-byte file holds (with the weights before it)`),
    );
  }
}

function readLayers(h5: H5, file: InstanceType<H5['File']>, fileBytes: number, source: string): Map<string, SourceTensor> {
  const nested = file.get('model_weights');
  const group = (nested instanceof h5.Group ? nested : file) as H5Group;
  const layers = stringList(group, 'layer_names');
  if (!layers) throw new FormatError(`${source}: HDF5 file without 'layer_names': not a Keras weights file (Keras 3 '.weights.h5' is not supported)`);
  const out = new Map<string, SourceTensor>();
  const unfiltered = { bytes: 0 };
  for (const layer of layers) {
    const lg = group.get(layer);
    if (!(lg instanceof h5.Group)) throw new FormatError(`${source}: layer '${layer}' is listed in layer_names but has no group`);
    for (const weightName of stringList(lg, 'weight_names') ?? []) {
      const ds = lg.get(weightName);
      if (!(ds instanceof h5.Dataset)) throw new FormatError(`${source}: layer '${layer}' lists weight '${weightName}' but has no such dataset`);
      const key = kerasWeightKey(layer, weightName);
      if (out.has(key)) throw new FormatError(`${source}: two weights map to '${key}' (layer '${layer}', '${weightName}')`);
      checkDatasetSize(ds, key, fileBytes, unfiltered, source);
      const dtype = H5_DTYPES[String(ds.dtype)] ?? String(ds.dtype);
      out.set(key, { shape: [...(ds.shape ?? [])], data: toFloat32(ds.value, key, source), dtype });
    }
  }
  return out;
}
