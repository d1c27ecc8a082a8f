// Checkpoints: model weights and buffers (as `model/<name>`), optimiser state (`optim/<name>`),
// a weight average's shadows (`ema/<name>`, train/ema.ts) and metadata (architecture, epoch,
// metrics, seed, optimiser and EMA scalars) in one .safetensors file, written to a temporary name
// and renamed, so a crash mid-save leaves the previous file intact. Loading checks every name and
// shape before touching the model: a mismatch changes nothing.
//
// `model/` holds what the model held when saved. fit saves for its callbacks (ModelCheckpoint's
// best.safetensors) with the averaged weights swapped in, so that eval and predict, which load
// `model/` alone, use the weights that were validated; the metadata's ema.model says 'averaged'
// then, and such a file resumes training from the averaged weights. A run's last.safetensors is
// saved with the live weights ('live'), so --resume continues both exactly.

import { ArgumentError, DawnetError, FormatError, ShapeError } from '../errors.js';
import { describeValue, expectTensor } from '../graph/args.js';
import { runtime } from '../gpu/runtime.js';
import { emptyTensor, tensor, type Tensor } from '../graph/tensor.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from '../io/safetensors.js';
import { makeParentFolder, readFileBytes, writeFileAtomic } from '../io/files.js';
import { Module } from '../nn/module.js';
import { Optimizer, type OptimizerScalars } from '../optim/optimizer.js';
import { parseEmaScalars, WeightEma, type EmaScalars } from './ema.js';

export interface CheckpointMeta {
  /** Free-form description of the model (builder name and options) to rebuild it. */
  architecture?: unknown;
  epoch?: number;
  metrics?: Record<string, number>;
  seed?: number;
  [key: string]: unknown;
}

/**
 * The free-form metadata as JSON, which has no NaN or infinities: a non-finite number is written as
 * {"$float": "NaN"} ("Infinity", "-Infinity") and read back as the number (a NaN val_loss in an
 * epoch's metrics came back as null). Files written before keep their nulls. A value JSON cannot
 * hold (a BigInt, a cycle) is refused before anything is written.
 */
const NON_FINITE = '$float';
function encodeMeta(meta: CheckpointMeta): string {
  try {
    return JSON.stringify(meta, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { [NON_FINITE]: String(v) } : v));
  } catch (e) {
    throw new ArgumentError(`saveCheckpoint: meta must be plain JSON data (numbers, strings, booleans, arrays, objects): ${(e as Error).message}`);
  }
}
function reviveNonFinite(_key: string, v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const keys = Object.keys(v);
  const f = (v as Record<string, unknown>)[NON_FINITE];
  return keys.length === 1 && (f === 'NaN' || f === 'Infinity' || f === '-Infinity') ? Number(f) : v;
}

async function toHost(t: Tensor): Promise<HostTensor> {
  return { shape: [...t.shape], data: await t.toArray() };
}

/** Prefixes of the tensors a checkpoint holds for the model, optimiser and average; `extra` takes others. */
const OWN_PREFIXES = ['model/', 'optim/', 'ema/'];

/**
 * `extra`: more tensors to keep with the run's state (a callback's snapshot), under names with a
 * prefix of their own ('earlyStopping/...'); loading returns them as LoadedCheckpoint.extra.
 */
export async function encodeCheckpoint(
  model: Module,
  optimizer: Optimizer | null,
  meta: CheckpointMeta,
  ema: WeightEma | null = null,
  extra: Map<string, Tensor> | null = null,
): Promise<Uint8Array<ArrayBuffer>> {
  checkParts('encodeCheckpoint', model, optimizer, ema);
  checkMetaAndExtra('encodeCheckpoint', meta, extra);
  for (const name of extra?.keys() ?? []) {
    if (!name.includes('/') || OWN_PREFIXES.some((p) => name.startsWith(p))) {
      throw new ArgumentError(`encodeCheckpoint: extra tensor '${name}' needs a prefix of its own ('snapshot/${name}'), not model/, optim/ or ema/`);
    }
  }
  const tensors = new Map<string, HostTensor>();
  for (const [name, t] of model.stateDict()) tensors.set(`model/${name}`, await toHost(t));
  for (const [name, t] of extra ?? []) tensors.set(name, await toHost(t));
  const metadata: Record<string, string> = {
    format: 'dawnet-checkpoint-1',
    meta: encodeMeta(meta),
    modules: JSON.stringify(model.namedScalarState()),
  };
  if (optimizer) {
    const { tensors: state, scalars } = optimizer.stateDict();
    for (const [name, t] of state) tensors.set(`optim/${name}`, await toHost(t));
    metadata.optimizer = JSON.stringify({ type: optimizer.kind, ...scalars });
  }
  if (ema) {
    for (const [name, t] of ema.shadows()) tensors.set(`ema/${name}`, await toHost(t));
    const scalars: EmaScalars = { decay: ema.decay, warmup: ema.warmup, updates: ema.updates };
    metadata.ema = JSON.stringify({ ...scalars, model: ema.swapped ? 'averaged' : 'live' });
  }
  return encodeSafetensors(tensors, metadata);
}

/**
 * A checkpoint's model, optimiser and weight average, of their kinds: a string for the optimiser
 * or a model-like object failed deep inside ("optimizer.stateDict is not a function").
 */
function checkParts(op: string, model: unknown, optimizer: unknown, ema: unknown): void {
  if (!(model instanceof Module)) throw new ArgumentError(`${op}: model must be a Module, got ${describeValue(model)}`);
  if (optimizer != null && !(optimizer instanceof Optimizer)) throw new ArgumentError(`${op}: optimizer must be a dn.optim optimiser or null, got ${describeValue(optimizer)}`);
  if (ema != null && !(ema instanceof WeightEma)) throw new ArgumentError(`${op}: ema must be a dn.train.WeightEma or null, got ${describeValue(ema)}`);
}

/** meta an object (JSON.stringify(undefined) wrote no meta at all); extra a Map of live tensors. */
function checkMetaAndExtra(op: string, meta: unknown, extra: unknown): void {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new ArgumentError(`${op}: meta must be an object such as { epoch: 3 }, got ${describeValue(meta)}`);
  if (extra == null) return;
  if (!(extra instanceof Map)) throw new ArgumentError(`${op}: extra must be a Map of name to Tensor or null, got ${describeValue(extra)}`);
  for (const [name, t] of extra) expectTensor(op, `extra '${String(name)}'`, t);
}

/** A checkpoint call's path and model, checked before any file is touched. */
function checkCheckpointArgs(op: string, path: unknown, model: unknown): void {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`${op}: path must be a file path, got ${describeValue(path)}`);
  if (!(model instanceof Module)) throw new ArgumentError(`${op}: model must be a Module, got ${describeValue(model)}`);
}

export async function saveCheckpoint(
  path: string,
  model: Module,
  optimizer: Optimizer | null,
  meta: CheckpointMeta,
  ema: WeightEma | null = null,
  extra: Map<string, Tensor> | null = null,
): Promise<void> {
  checkCheckpointArgs('saveCheckpoint', path, model);
  checkParts('saveCheckpoint', model, optimizer, ema);
  checkMetaAndExtra('saveCheckpoint', meta, extra);
  const bytes = await encodeCheckpoint(model, optimizer, meta, ema, extra);
  // Its folder too, as Keras's model.save and ModelCheckpoint make theirs (after the encoding, so
  // a failed readback leaves no empty folder behind).
  await makeParentFolder(path);
  // A full disk's error is named by writeFileAtomic (Node's names no file: write(2) takes a descriptor).
  await writeFileAtomic(path, bytes, 'saveCheckpoint');
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  optimizerRestored: boolean;
  /**
   * Whether the EMA given took the checkpoint's shadows and update count. false when the file has
   * none (saved without an EMA): the average then restarts from the loaded weights.
   */
  emaRestored: boolean;
  /** The file's tensors outside model/, optim/ and ema/ (encodeCheckpoint's `extra`), on the host. */
  extra: Map<string, HostTensor>;
}

/**
 * Copies a checkpoint's weights into `model` (and state into `optimizer` and `ema` when given).
 * Every name and shape is checked first; errors list the missing and unexpected names or name the
 * tensor and both shapes.
 *
 * Of the optimiser's settings only the learning rate and step counts come from the file; betas,
 * eps, weight decay, momentum and the like stay those of the optimiser given (as Keras's resume;
 * PyTorch's load_state_dict restores them). Where they differ from the ones recorded, one
 * console.warn names the file and each setting with both values. State of another kind or (RMSprop)
 * another convention is refused; files saved before these were recorded load as they are.
 */
export function applyCheckpoint(bytes: Uint8Array | ArrayBuffer, source: string, model: Module, optimizer: Optimizer | null = null, ema: WeightEma | null = null): LoadedCheckpoint {
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) throw new ArgumentError(`applyCheckpoint: bytes must be a Uint8Array or an ArrayBuffer, got ${describeValue(bytes)}`);
  if (typeof source !== 'string') throw new ArgumentError(`applyCheckpoint: source must name where the bytes came from (a file name), got ${describeValue(source)}`);
  checkParts('applyCheckpoint', model, optimizer, ema);
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== 'dawnet-checkpoint-1') {
    throw new FormatError(`${source}: not a dawnet checkpoint (no dawnet metadata); to import weights use dn.io.loadWeights`);
  }
  const state = model.stateDict();
  const missing = [...state.keys()].filter((n) => !tensors.has(`model/${n}`));
  const unexpected = [...tensors.keys()].filter((n) => n.startsWith('model/') && !state.has(n.slice(6)));
  if (missing.length || unexpected.length) {
    throw new ShapeError(
      `${source}: checkpoint does not match the model: missing [${missing.join(', ')}], unexpected [${unexpected.map((n) => n.slice(6)).join(', ')}]`,
    );
  }
  for (const [name, t] of state) {
    const saved = tensors.get(`model/${name}`)!;
    if (saved.shape.join() !== t.shape.join()) {
      throw new ShapeError(`${source}: parameter '${name}' has shape [${saved.shape}] in the checkpoint but [${t.shape}] in the model`);
    }
  }
  // Every piece of metadata is read and checked before anything is changed: a damaged one is an
  // error naming the file, not a SyntaxError after the weights were written.
  const meta = metadataJson(metadata, 'meta', source) ?? {};
  const modules = metadataJson(metadata, 'modules', source);
  const scalars = optimizer ? optimizerScalars(metadataJson(metadata, 'optimizer', source), source) : null;
  const emaState = ema ? checkEmaState(tensors, metadata, source, model, ema) : null;
  // The optimiser's state is checked and taken before the weights are written, so a checkpoint it
  // refuses changes neither the model nor the optimiser.
  let optimizerRestored = false;
  if (optimizer && scalars) {
    if (scalars.type !== undefined && scalars.type !== optimizer.kind) {
      throw new FormatError(
        `${source}: the checkpoint holds ${scalars.type}'s state but the optimiser given is ${optimizer.kind}; resume with the kind it was saved with (${scalars.type}), or load the weights alone (no optimiser)`,
      );
    }
    const optState = new Map<string, Tensor>();
    for (const [name, h] of tensors) {
      if (name.startsWith('optim/')) optState.set(name.slice(6), tensor(h.data, h.shape, { name }));
    }
    let changes: string[];
    try {
      changes = optimizer.hyperparameterChanges(scalars.hyperparameters as OptimizerScalars['hyperparameters']);
      optimizer.loadStateDict(optState, scalars as OptimizerScalars);
    } catch (e) {
      for (const t of optState.values()) t.dispose();
      // The optimiser's own message names the tensor; the file is this function's to name.
      if (e instanceof DawnetError && !e.message.startsWith(`${source}: `)) e.message = `${source}: ${e.message}`;
      throw e;
    }
    optimizerRestored = true;
    if (changes.length) {
      console.warn(
        `${source}: resuming ${optimizer.kind} with other settings than it was saved with (${changes.join('; ')}). ` +
          'Only the learning rate and step counts come from the checkpoint; the rest are the optimiser\'s given, so the run does not continue as saved: build the optimiser as it was to resume it exactly',
      );
    }
  }
  for (const [name, t] of state) runtime().write(t.buffer, tensors.get(`model/${name}`)!.data);
  if (modules) model.loadNamedScalarState(modules as Record<string, Record<string, number>>);
  // Without saved shadows the average would keep the weights it was made from, not the loaded ones.
  if (emaState) ema!.loadState(emaState.shadows, emaState.scalars.updates);
  else ema?.reset();
  const extra = new Map([...tensors].filter(([n]) => !OWN_PREFIXES.some((p) => n.startsWith(p))));
  return { meta: meta as CheckpointMeta, optimizerRestored, emaRestored: emaState !== null, extra };
}

/** A metadata entry that holds a JSON object; undefined where the file has none. */
function metadataJson(metadata: Record<string, string>, key: string, source: string): Record<string, unknown> | undefined {
  if (metadata[key] === undefined) return undefined;
  let value: unknown;
  try {
    value = key === 'meta' ? JSON.parse(metadata[key], reviveNonFinite) : JSON.parse(metadata[key]);
  } catch {
    throw new FormatError(`${source}: the checkpoint's '${key}' metadata is not JSON (damaged file?)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError(`${source}: the checkpoint's '${key}' metadata is ${JSON.stringify(value)}, not an object`);
  }
  return value as Record<string, unknown>;
}

/** The optimiser's kind, learning rate, step count, convention and settings, checked; any other scalars pass through. */
function optimizerScalars(s: Record<string, unknown> | undefined, source: string): ({ type?: string; lr: number; step: number } & Record<string, unknown>) | null {
  if (!s) return null;
  const { type, lr, step, convention, hyperparameters: h } = s;
  if ((type !== undefined && typeof type !== 'string') || typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0 || !Number.isSafeInteger(step) || (step as number) < 0) {
    throw new FormatError(`${source}: the checkpoint's optimiser metadata lacks a valid type, learning rate and step count (${JSON.stringify({ type, lr, step })})`);
  }
  if (convention !== undefined && typeof convention !== 'string') {
    throw new FormatError(`${source}: the checkpoint's optimiser convention is ${JSON.stringify(convention)}, not a name (damaged file?)`);
  }
  const setting = (v: unknown) => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  if (h !== undefined && (typeof h !== 'object' || h === null || Array.isArray(h) || !Object.values(h).every(setting))) {
    throw new FormatError(`${source}: the checkpoint's optimiser hyperparameters are ${JSON.stringify(h)}, not settings by name (damaged file?)`);
  }
  return s as { type?: string; lr: number; step: number } & Record<string, unknown>;
}

/** The checkpoint's EMA state for `ema`, checked; null when the file has none. */
function checkEmaState(
  tensors: Map<string, HostTensor>,
  metadata: Record<string, string>,
  source: string,
  model: Module,
  ema: WeightEma,
): { shadows: Map<string, HostTensor>; scalars: EmaScalars } | null {
  if (ema.model !== model) throw new ArgumentError('loadCheckpoint: the EMA given averages another model than the one loaded');
  if (ema.swapped) throw new ArgumentError('loadCheckpoint: the EMA has its averaged weights swapped in; swapOut() before loading');
  const shadows = new Map<string, HostTensor>();
  for (const [name, h] of tensors) if (name.startsWith('ema/')) shadows.set(name.slice(4), h);
  const entry = metadataJson(metadata, 'ema', source);
  if (!entry) {
    if (shadows.size) throw new FormatError(`${source}: the checkpoint has ema/ tensors but no EMA metadata (decay, update count)`);
    return null;
  }
  const scalars = parseEmaScalars(source, entry);
  ema.expectState(source, shadows);
  return { shadows, scalars };
}

export async function loadCheckpoint(path: string, model: Module, optimizer: Optimizer | null = null, ema: WeightEma | null = null): Promise<LoadedCheckpoint> {
  checkCheckpointArgs('loadCheckpoint', path, model);
  checkParts('loadCheckpoint', model, optimizer, ema);
  let bytes: Uint8Array;
  try {
    bytes = await readFileBytes(path, 'loadCheckpoint');
  } catch (e) {
    // No file system here (a browser): the call is at fault, not the file.
    if (e instanceof ArgumentError) throw e;
    throw new FormatError(`${path}: cannot read checkpoint (${(e as Error).message})`);
  }
  return applyCheckpoint(bytes, path, model, optimizer, ema);
}

/** GPU copies of the model's state, for EarlyStopping's restore-best-weights. */
export function snapshotState(model: Module): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of model.stateDict()) out.set(name, cloneTensor(t));
  return out;
}

export function restoreState(model: Module, snapshot: Map<string, Tensor>): void {
  for (const [name, t] of model.stateDict()) {
    const src = snapshot.get(name);
    if (src) runtime().copy(src.buffer, 0, t.buffer, 0, t.size * 4);
  }
}

export function cloneTensor(t: Tensor): Tensor {
  const out = emptyTensor(t.shape, `${t.name ?? 'tensor'}.clone`);
  out.name = t.name;
  if (t.size) runtime().copy(t.buffer, 0, out.buffer, 0, t.size * 4);
  return out;
}
