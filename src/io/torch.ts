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

export type SourceTensor = HostTensor & { dtype: string };

const WIDTH: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** A storage known by key; its bytes come from the zip entry or the legacy tail. */
interface StorageRef {
  key: string;
  dtype: string;
  numel: number;
  /** Element offset into the root storage (legacy storage views). */
  base: number;
}

// ---- zip ------------------------------------------------------------------------------------

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The zip's central directory (zip64 included); a truncated file is a FormatError. A damaged byte can point any offset outside the file, and DataView
 * then throws a bare RangeError from deep inside; that becomes a FormatError naming the file.
 */
function readZipDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  try {
    return parseZipDirectory(bytes, source);
  } catch (e) {
    if (e instanceof RangeError) throw new FormatError(`${source}: damaged zip directory (an offset points outside the ${bytes.length}-byte file)`);
    throw e;
  }
}

function parseZipDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new FormatError(`${source}: truncated or damaged zip (no end-of-central-directory record)`);
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || cdOffset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64 = Number(view.getBigUint64(eocd - 12, true));
    if (z64 + 56 > bytes.length || view.getUint32(z64, true) !== 0x06064b50) throw new FormatError(`${source}: damaged zip64 directory`);
    count = Number(view.getBigUint64(z64 + 32, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) {
      throw new FormatError(`${source}: damaged zip central directory (entry ${i})`);
    }
    if (view.getUint16(p + 8, true) & 1) throw new FormatError(`${source}: encrypted zip entries are not supported`);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const e: ZipEntry = {
      name: new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      method: view.getUint16(p + 10, true),
      crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
    };
    // Zip64 extra field: the 64-bit values of the fields saturated at 0xffffffff, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        const next = () => Number(view.getBigUint64((q += 8) - 8, true));
        if (e.size === 0xffffffff) e.size = next();
        if (e.compressedSize === 0xffffffff) e.compressedSize = next();
        if (e.localOffset === 0xffffffff) e.localOffset = next();
      }
      x += 4 + len;
    }
    entries.set(e.name, e);
    p += 46 + nameLen + extraLen + view.getUint16(p + 32, true);
  }
  return entries;
}

async function inflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data.slice()]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function readZipEntry(bytes: Uint8Array, e: ZipEntry, source: string): Promise<Uint8Array> {
  // Offsets from a damaged directory may lie outside the file: checked before any read.
  if (!(e.localOffset >= 0 && e.localOffset + 30 <= bytes.length)) throw new FormatError(`${source}: damaged zip entry '${e.name}' (local header at ${e.localOffset}, file ${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const p = e.localOffset;
  if (p + 30 > bytes.length || view.getUint32(p, true) !== 0x04034b50) throw new FormatError(`${source}: damaged zip entry '${e.name}'`);
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  if (start + e.compressedSize > bytes.length) throw new FormatError(`${source}: truncated: zip entry '${e.name}' ends past the file`);
  const stored = bytes.subarray(start, start + e.compressedSize);
  let data: Uint8Array;
  if (e.method === 0) data = stored;
  else if (e.method === 8) {
    try {
      data = await inflateRaw(stored);
    } catch {
      throw new FormatError(`${source}: zip entry '${e.name}' has damaged deflate data`);
    }
  } else throw new FormatError(`${source}: zip entry '${e.name}' uses compression method ${e.method} (only stored and deflate)`);
  if (data.length !== e.size || crc32(data) !== e.crc) throw new FormatError(`${source}: zip entry '${e.name}' fails its CRC check (damaged file)`);
  return data;
}

// ---- tensors --------------------------------------------------------------------------------

/** Raw little-endian storage bytes -> float32, as decodeSafetensors converts. */
function storageToFloat32(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.slice(0, count * 4).buffer);
  return toFloat32(dtype, bytes, count);
}

/** Copies the strided view out of its storage in row-major order. */
function gather(storage: Float32Array, ref: TensorRef, base: number, name: string, source: string): Float32Array {
  const { shape, stride } = ref;
  const numel = shape.reduce((a, b) => a * b, 1);
  const offset = base + ref.offset;
  const last = numel === 0 ? offset - 1 : shape.reduce((s, d, i) => s + (d - 1) * stride[i], offset);
  if (offset < 0 || last >= storage.length) {
    throw new FormatError(
      `${source}: tensor '${name}' (size [${shape}], stride [${stride}], offset ${ref.offset}) reads past its storage of ${storage.length} elements`,
    );
  }
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i];
  }
  // A view is enough: storages are private to this reader and never written.
  if (contiguous) return storage.subarray(offset, offset + numel);
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
    const kind = Array.isArray(pid) ? String(pid[0]) : typeof pid;
    throw new FormatError(`${source}: unsupported persistent object '${kind}' (a pickled Module? save model.state_dict() instead)`);
  }
  const [, type, key, , numel, view] = pid;
  if (!(type instanceof StorageType) || typeof numel !== 'number') throw new FormatError(`${source}: malformed storage id for key ${String(key)}`);
  // Legacy storage views: (view_key, element offset, size) into the root storage named by key.
  if (Array.isArray(view)) return { key: String(key), dtype: type.dtype, numel: view[2] as number, base: view[1] as number };
  return { key: String(key), dtype: type.dtype, numel, base: 0 };
}

/** Unpickled object with its TensorRefs still unresolved, plus a way to resolve them. */
interface TorchFile {
  root: unknown;
  storage: (ref: StorageRef) => Promise<Float32Array>;
}

async function openZip(bytes: Uint8Array, source: string): Promise<TorchFile> {
  const entries = readZipDirectory(bytes, source);
  const pkl = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length)[0];
  if (!pkl) throw new FormatError(`${source}: a zip without data.pkl is not a torch.save file`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(await readZipEntry(bytes, order, source)).trim() !== 'little') {
    throw new FormatError(`${source}: big-endian torch files are not supported`);
  }
  const root = unpickle(await readZipEntry(bytes, entries.get(pkl)!, source), { source, persistentLoad: (pid) => storageRef(pid, source) }).value;
  const cache = new Map<string, Promise<Float32Array>>();
  const storage = (ref: StorageRef): Promise<Float32Array> => {
    const id = `${ref.key}:${ref.dtype}`;
    if (!cache.has(id)) {
      const entry = entries.get(`${prefix}data/${ref.key}`);
      if (!entry) throw new FormatError(`${source}: storage '${ref.key}' is missing from the archive`);
      cache.set(id, readZipEntry(bytes, entry, source).then((b) => {
        if (b.length < (ref.base + ref.numel) * WIDTH[ref.dtype]) {
          throw new FormatError(`${source}: storage '${ref.key}' is shorter than its ${ref.numel} elements`);
        }
        return storageToFloat32(ref.dtype, b, Math.floor(b.length / WIDTH[ref.dtype]));
      }));
    }
    return cache.get(id)!;
  };
  return { root, storage };
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, Float32Array>();
  let p = keys.end;
  for (const key of keys.value as string[]) {
    const ref = refs.get(key);
    if (!ref) throw new FormatError(`${source}: the storage list names '${key}', which no tensor uses`);
    if (p + 8 > bytes.length) throw new FormatError(`${source}: truncated legacy torch file (storage '${key}')`);
    const count = Number(view.getBigInt64(p, true));
    const end = p + 8 + count * WIDTH[ref.dtype];
    if (count < 0 || end > bytes.length) throw new FormatError(`${source}: truncated: storage '${key}' ends past the file`);
    storages.set(key, storageToFloat32(ref.dtype, bytes.subarray(p + 8, end), count));
    p = end;
  }
  const storage = async (ref: StorageRef): Promise<Float32Array> => {
    const s = storages.get(ref.key);
    if (!s) throw new FormatError(`${source}: storage '${ref.key}' is missing from the file`);
    return s;
  };
  return { root: main.value, storage };
}

// ---- state dict -----------------------------------------------------------------------------

/** Keys under which training scripts nest the model's state dict, most specific first. */
const STATE_KEYS = ['state_dict', 'model_state_dict', 'model_state', 'model', 'net', 'network', 'module', 'weights', 'params'];

function findStateDict(root: unknown, source: string): Map<string, TensorRef> {
  if (!(root instanceof Map)) {
    throw new FormatError(`${source}: the torch file holds ${Array.isArray(root) ? 'a list' : typeof root}, not a state dict`);
  }
  for (const key of STATE_KEYS) {
    const inner = root.get(key);
    if (inner instanceof Map && [...inner.values()].some((v) => v instanceof TensorRef)) return findStateDict(inner, source);
  }
  const tensors = new Map<string, TensorRef>();
  for (const [k, v] of root) if (v instanceof TensorRef) tensors.set(String(k).replace(/^module\./, ''), v);
  if (!tensors.size) {
    throw new FormatError(`${source}: no state dict found (top-level keys: ${[...root.keys()].slice(0, 12).map(String).join(', ')})`);
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
 */
export async function readTorch(bytes: Uint8Array, source: string): Promise<Map<string, SourceTensor>> {
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  const file = isZip ? await openZip(bytes, source) : openLegacy(bytes, source);
  const out = new Map<string, SourceTensor>();
  for (const [name, ref] of findStateDict(file.root, source)) {
    const storage = ref.storage as StorageRef;
    if (typeof storage?.key !== 'string') throw new FormatError(`${source}: tensor '${name}' is not backed by a saved storage`);
    const data = gather(await file.storage(storage), ref, storage.base, name, source);
    out.set(name, { shape: [...ref.shape], data, dtype: storage.dtype });
  }
  return out;
}
