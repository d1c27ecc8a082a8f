// PyTorch's torch.save files, in both formats people download:
// - zip (PyTorch >= 1.6): '<archive>/data.pkl' is a pickle whose tensors refer, by persistent id
//   ('storage', StorageType, key, location, numel), to raw little-endian storages stored as
//   '<archive>/data/<key>'; '<archive>/byteorder' says 'little' when present. Torch stores entries
//   uncompressed; a deflated entry (a zip re-packed by another tool) is inflated.
// - legacy (before 1.6; e.g. 2017-2019 model-zoo weights): five pickles in a row (magic number,
//   protocol version, sys_info, the object, the sorted storage keys), then each storage as an int64
//   element count followed by its bytes.
// The pickles go through the safe unpickler (pickle.ts); tensors are rebuilt from storage, offset,
// size and stride (non-contiguous views gathered) and converted to float32.

import { FormatError } from '../errors.js';
import { StorageType, TensorRef, unpickle } from './pickle.js';
import { toFloat32, type HostTensor } from './safetensors.js';
import { MAX_TYPED_ARRAY, readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

export type SourceTensor = HostTensor & { dtype: string };

const WIDTH: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** A storage known by key; its bytes come from the zip entry or the legacy tail. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: string,
    readonly numel: number,
    /** Element offset into the root storage (legacy storage views). */
    readonly base: number,
  ) {}
}

/** Copies of strided views allowed beyond twice what the storages hold: room for expanded buffers. */
const COPY_SLACK = 2 ** 24;
/**
 * A deflated storage may be inflated to twice the bytes its tensors read plus this (a storage a
 * little larger than its views: a slice or a tied weight); beyond, its declared size is refused
 * before inflating (a few kilobytes of deflate can declare a gigabyte).
 */
const INFLATE_SLACK = 2 ** 24;
/** A state dict's pickle holds tensor references, not data: past 1 GB its size field is damaged. */
const MAX_PICKLE = 2 ** 30;

// ---- tensors --------------------------------------------------------------------------------

/**
 * Raw little-endian storage bytes -> float32, as decodeSafetensors converts. F32 is copied with
 * set(), not slice(): on a Node Buffer (a caller's readFileSync) slice() is a view, and its
 * .buffer the whole pool or file, so the floats came from byte 0 of that instead.
 */
function storageToFloat32(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  if (dtype !== 'F32') return toFloat32(dtype, bytes, count);
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
  return out;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A value from the file, for a message: numbers and strings as written, one level of a list. */
function show(v: unknown): string {
  const one = (x: unknown) => (typeof x === 'number' || typeof x === 'bigint' ? String(x) : typeof x === 'string' ? `'${x.slice(0, 80)}'` : Array.isArray(x) ? 'list' : typeof x);
  return Array.isArray(v) ? `[${v.slice(0, 8).map(one).join(', ')}${v.length > 8 ? ', ...' : ''}]` : one(v);
}

/** A tensor's view of its storage, checked. */
interface View {
  offset: number;
  shape: number[];
  stride: number[];
  numel: number;
  contiguous: boolean;
}

/**
 * Checks a tensor's offset, size and stride, as the file wrote them, before anything is read or
 * allocated: whole numbers, a size a typed array can hold, and the highest element the view touches
 * inside its storage's elements. Otherwise a size [1e10] was a RangeError, an offset of 0.5 or past
 * the storage read NaN, and a negative stride reached before the storage's start.
 */
function checkView(ref: TensorRef, storage: StorageRef, name: string, source: string): View {
  const bad = (why: string) => new FormatError(`${source}: tensor '${name}' ${why}`);
  const { offset, shape, stride } = ref;
  if (!isCount(offset)) throw bad(`has storage offset ${show(offset)}, not a whole number`);
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`has size ${show(shape)}, not a tuple of whole numbers`);
  if (!Array.isArray(stride) || !stride.every(isCount)) throw bad(`has stride ${show(stride)}, not a tuple of whole numbers`);
  if (shape.length !== stride.length) throw bad(`has size [${shape}] and stride [${stride}] of different ranks`);
  const numel = shape.reduce((a: number, b: number) => a * b, 1);
  if (numel > MAX_TYPED_ARRAY) throw bad(`has size [${shape}]: ${numel} elements, more than a typed array holds (${MAX_TYPED_ARRAY})`);
  const last = shape.reduce((s: number, d: number, i: number) => s + (d - 1) * stride[i], offset);
  if (numel > 0 && last >= storage.numel) {
    throw bad(`(size [${shape}], stride [${stride}], offset ${offset}) reads element ${last} of a storage of ${storage.numel} elements`);
  }
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i];
  }
  return { offset, shape, stride, numel, contiguous };
}

interface Checked {
  name: string;
  storage: StorageRef;
  view: View;
}

/**
 * A non-contiguous view is copied out, and views may repeat elements (stride 0) or share a
 * storage: a few bytes of pickle could ask for gigabytes (size [1e9], stride [0] over one element,
 * or one transposed view under a thousand names). Real files copy each storage once or twice at
 * most (a transposed or tied weight); beyond twice what the storages hold plus COPY_SLACK, refused.
 */
function checkCopies(tensors: Checked[], source: string): void {
  const held = new Map<string, number>();
  for (const { storage: s } of tensors) held.set(s.key, Math.max(held.get(s.key) ?? 0, s.base + s.numel));
  const total = [...held.values()].reduce((a, b) => a + b, 0);
  let copied = 0;
  for (const t of tensors) {
    if (t.view.contiguous) continue;
    copied += t.view.numel;
    if (copied > 2 * total + COPY_SLACK) {
      throw new FormatError(
        `${source}: tensor '${t.name}' (size [${t.view.shape}], stride [${t.view.stride}]) brings the elements copied out of strided views to ${copied}, ` +
          `more than twice the ${total} its storages hold plus ${COPY_SLACK} (a damaged or hostile file)`,
      );
    }
  }
}

/** Copies the strided view out of its storage in row-major order (a contiguous one is a subarray). */
function gather(storage: Float32Array, view: View, base: number): Float32Array {
  const { shape, stride, numel } = view;
  const offset = base + view.offset;
  // A view is enough: storages are private to this reader and never written.
  if (view.contiguous) return storage.subarray(offset, offset + numel);
  const out = new Float32Array(numel);
  const index = new Array<number>(shape.length).fill(0);
  let src = offset;
  for (let i = 0; i < numel; i++) {
    out[i] = storage[src];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        src += stride[d];
        break;
      }
      src -= (shape[d] - 1) * stride[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Reads the 'storage' persistent id of either format into a StorageRef. */
function storageRef(pid: unknown, source: string): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage') {
    const kind = Array.isArray(pid) ? show(pid[0]) : typeof pid;
    throw new FormatError(`${source}: unsupported persistent object ${kind} (a pickled Module? save model.state_dict() instead)`);
  }
  const [, type, key, , numel, view] = pid;
  if (!(type instanceof StorageType) || typeof key !== 'string' || !isCount(numel)) {
    throw new FormatError(`${source}: malformed storage id ${show(pid)} (a storage type, a key, a location and a whole element count)`);
  }
  if (view === undefined || view === null) return new StorageRef(key, type.dtype, numel, 0);
  // Legacy storage views: (view_key, element offset, size) into the root storage named by key.
  if (!Array.isArray(view) || !isCount(view[1]) || !isCount(view[2])) throw new FormatError(`${source}: malformed view ${show(view)} of storage '${key}'`);
  return new StorageRef(key, type.dtype, view[2], view[1]);
}

/** Unpickled object with its TensorRefs still unresolved, plus a way to check and read storages. */
interface TorchFile {
  root: unknown;
  /** Throws unless the storage is in the file with the bytes `ref` needs; reads nothing. `read`: bytes its tensors read. */
  check: (ref: StorageRef, tensor: string, read: number) => void;
  storage: (ref: StorageRef, read: number) => Float32Array;
}

function openZip(bytes: Uint8Array, source: string): TorchFile {
  const entries = readZipDirectory(bytes, source);
  const pkl = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length)[0];
  if (!pkl) throw new FormatError(`${source}: a zip without data.pkl is not a torch.save file`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(readZipEntry(bytes, order, source, { bytes: 64, why: "'little' or 'big'" })).trim() !== 'little') {
    throw new FormatError(`${source}: big-endian torch files are not supported`);
  }
  const data = readZipEntry(bytes, entries.get(pkl)!, source, { bytes: MAX_PICKLE, why: 'a pickle of tensor references' });
  const root = unpickle(data, { source, persistentLoad: (pid) => storageRef(pid, source) }).value;
  const entry = (ref: StorageRef): ZipEntry => {
    const e = entries.get(`${prefix}data/${ref.key}`);
    if (!e) throw new FormatError(`${source}: storage '${ref.key}' is missing from the archive`);
    return e;
  };
  // Stored bytes are views of the file; a deflated entry is inflated into its declared size, capped here.
  const limit = (e: ZipEntry, read: number) =>
    e.method === 0 ? { bytes: bytes.length, why: 'the file' } : { bytes: 2 * read + INFLATE_SLACK, why: `twice the ${read} bytes its tensors read, plus ${INFLATE_SLACK}` };
  const cache = new Map<string, Float32Array>();
  return {
    root,
    check: (ref, tensor, read) => {
      const e = entry(ref);
      if (e.size < (ref.base + ref.numel) * WIDTH[ref.dtype]) {
        throw new FormatError(`${source}: storage '${ref.key}' of tensor '${tensor}' holds ${e.size} bytes, shorter than its ${ref.numel} ${ref.dtype} elements`);
      }
      const { bytes: max, why } = limit(e, read);
      if (e.size > max) throw new FormatError(`${source}: zip entry '${e.name}' (storage of tensor '${tensor}') declares ${e.size} bytes, more than ${why}: a damaged size field or a zip bomb`);
    },
    storage: (ref, read) => {
      const id = `${ref.key}:${ref.dtype}`;
      if (!cache.has(id)) {
        const e = entry(ref);
        const b = readZipEntry(bytes, e, source, limit(e, read));
        cache.set(id, storageToFloat32(ref.dtype, b, Math.floor(b.length / WIDTH[ref.dtype])));
      }
      return cache.get(id)!;
    },
  };
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function openLegacy(bytes: Uint8Array, source: string): TorchFile {
  const magic = unpickle(bytes, { source });
  if (magic.value !== LEGACY_MAGIC) throw new FormatError(`${source}: a pickle, but not a torch.save file (no torch magic number)`);
  const version = unpickle(bytes, { source }, magic.end);
  const sysInfo = unpickle(bytes, { source }, version.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new FormatError(`${source}: big-endian torch files are not supported`);
  }
  const refs = new Map<string, StorageRef>();
  const main = unpickle(bytes, {
    source,
    persistentLoad: (pid) => {
      const ref = storageRef(pid, source);
      if (!refs.has(ref.key)) refs.set(ref.key, ref);
      return ref;
    },
  }, sysInfo.end);
  const keys = unpickle(bytes, { source }, main.end);
  if (!Array.isArray(keys.value)) throw new FormatError(`${source}: legacy torch file without its storage key list`);
  // Where each storage's elements lie; converted only when a tensor is read, after every check.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const spans = new Map<string, { at: number; count: number; dtype: string }>();
  let p = keys.end;
  for (const key of keys.value as unknown[]) {
    const ref = typeof key === 'string' ? refs.get(key) : undefined;
    if (!ref) throw new FormatError(`${source}: the storage list names ${show(key)}, which no tensor uses`);
    if (p + 8 > bytes.length) throw new FormatError(`${source}: truncated legacy torch file (storage '${key}')`);
    const count = Number(view.getBigInt64(p, true));
    const end = p + 8 + count * WIDTH[ref.dtype];
    if (count < 0 || end > bytes.length) throw new FormatError(`${source}: truncated: storage '${key}' ends past the file`);
    spans.set(key as string, { at: p + 8, count, dtype: ref.dtype });
    p = end;
  }
  const storages = new Map<string, Float32Array>();
  return {
    root: main.value,
    check: (ref, tensor) => {
      const span = spans.get(ref.key);
      if (!span) throw new FormatError(`${source}: storage '${ref.key}' is missing from the file`);
      if (span.dtype !== ref.dtype) throw new FormatError(`${source}: tensor '${tensor}' reads storage '${ref.key}' of ${span.dtype} as ${ref.dtype}`);
      if (ref.base + ref.numel > span.count) {
        throw new FormatError(`${source}: storage '${ref.key}' of tensor '${tensor}' holds ${span.count} elements, fewer than its view's ${ref.base} + ${ref.numel}`);
      }
    },
    storage: (ref) => {
      const span = spans.get(ref.key)!;
      if (!storages.has(ref.key)) storages.set(ref.key, storageToFloat32(span.dtype, bytes.subarray(span.at, span.at + span.count * WIDTH[span.dtype]), span.count));
      return storages.get(ref.key)!;
    },
  };
}

// ---- state dict -----------------------------------------------------------------------------

/** Keys under which training scripts nest the model's state dict, most specific first. */
const STATE_KEYS = ['state_dict', 'model_state_dict', 'model_state', 'model', 'net', 'network', 'module', 'weights', 'params'];

/** `seen`: a pickle can make a dict that holds itself ('state_dict' -> the same dict), which recursed without end. */
function findStateDict(root: unknown, source: string, seen = new Set<unknown>()): Map<string, TensorRef> {
  if (!(root instanceof Map)) {
    throw new FormatError(`${source}: the torch file holds ${Array.isArray(root) ? 'a list' : typeof root}, not a state dict`);
  }
  seen.add(root);
  const holdsTensors = (m: unknown): m is Map<unknown, unknown> => m instanceof Map && !seen.has(m) && [...m.values()].some((v) => v instanceof TensorRef);
  for (const key of STATE_KEYS) {
    const inner = root.get(key);
    if (holdsTensors(inner)) return findStateDict(inner, source, seen);
  }
  // A checkpoint that keeps its weights under a key of its own ('model_ema', 'checkpoint' -> 'model'):
  // the one dict of tensors there is taken; two or more are for the user to choose.
  if (![...root.values()].some((v) => v instanceof TensorRef)) {
    const nested = (m: unknown) => holdsTensors(m) || (m instanceof Map && !seen.has(m) && STATE_KEYS.some((k) => holdsTensors(m.get(k))));
    const found = [...root].filter(([k, v]) => typeof k === 'string' && nested(v));
    if (found.length === 1) return findStateDict(found[0][1], source, seen);
    if (found.length > 1) {
      throw new FormatError(`${source}: several dicts of tensors (${found.map(([k]) => show(k)).join(', ')}) and none under a known key (${STATE_KEYS.join(', ')}); save the one state dict you mean with torch.save`);
    }
  }
  const tensors = new Map<string, TensorRef>();
  /** The key each name was stored under. */
  const keyOf = new Map<string, string>();
  for (const [k, v] of root) {
    if (!(v instanceof TensorRef)) continue;
    if (typeof k !== 'string') throw new FormatError(`${source}: a tensor is stored under the key ${show(k)}, not a name`);
    // DataParallel's 'module.' prefix comes off; a name that then meets another would lose one of
    // the two tensors silently, so the file is refused as ambiguous.
    const name = k.replace(/^module\./, '');
    const first = keyOf.get(name);
    if (first !== undefined) throw new FormatError(`${source}: the state dict holds both '${first}' and '${k}', one tensor '${name}' without DataParallel's 'module.' prefix; keep one of them`);
    keyOf.set(name, k);
    tensors.set(name, v);
  }
  if (!tensors.size) {
    throw new FormatError(`${source}: no state dict found (top-level keys: ${[...root.keys()].slice(0, 12).map(show).join(', ')})`);
  }
  return tensors;
}

/** True for a legacy (pre-1.6) torch file: a protocol-2 pickle of the LONG1 torch magic number. */
export function isLegacyTorch(bytes: Uint8Array): boolean {
  return bytes.length > 4 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a;
}

/**
 * Reads a torch.save file (zip or legacy) and returns its state dict as float32 host tensors,
 * taken from a checkpoint's 'state_dict' (or 'model', ...) when nested, 'module.' prefixes removed.
 * Every tensor's view, storage and copy is checked before the first storage is read or inflated.
 */
export async function readTorch(bytes: Uint8Array, source: string): Promise<Map<string, SourceTensor>> {
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  const file = isZip ? openZip(bytes, source) : openLegacy(bytes, source);
  const tensors: Checked[] = [...findStateDict(file.root, source)].map(([name, ref]) => {
    if (!(ref.storage instanceof StorageRef)) throw new FormatError(`${source}: tensor '${name}' is not backed by a saved storage`);
    return { name, storage: ref.storage, view: checkView(ref, ref.storage, name, source) };
  });
  // Bytes read of each storage: up to the highest element any of its tensors touches.
  const read = new Map<string, number>();
  for (const { storage: s, view: v } of tensors) {
    const end = v.numel ? s.base + v.shape.reduce((e, d, i) => e + (d - 1) * v.stride[i], v.offset) + 1 : 0;
    read.set(s.key, Math.max(read.get(s.key) ?? 0, end * WIDTH[s.dtype]));
  }
  for (const t of tensors) file.check(t.storage, t.name, read.get(t.storage.key)!);
  checkCopies(tensors, source);
  const out = new Map<string, SourceTensor>();
  for (const { name, storage, view } of tensors) {
    out.set(name, { shape: [...view.shape], data: gather(file.storage(storage, read.get(storage.key)!), view, storage.base), dtype: storage.dtype });
  }
  return out;
}
