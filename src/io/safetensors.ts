// The .safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the
// raw little-endian tensor bytes. Offsets are relative to the end of the header. dawnet writes
// F32; it reads F32, F64, F16, BF16 and the integer types, converting to float32.

import { ArgumentError, FormatError, ShapeError } from '../errors.js';
import { describeValue, isPlainObject as isOptionsObject } from '../graph/args.js';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Header size cap: real files have headers of kilobytes; 100 MB means a corrupt length field. */
const MAX_HEADER = 100_000_000;

/**
 * Safetensors metadata is string to string (its spec; Python's reader refuses anything else), so
 * a number or an object there would make a file other readers cannot open.
 */
export function expectMetadata(op: string, metadata: unknown): void {
  if (!isOptionsObject(metadata)) throw new ArgumentError(`${op}: metadata must be an object of strings such as { epoch: '3' }, got ${describeValue(metadata)}`);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new ArgumentError(`${op}: metadata.${key} must be a string (safetensors metadata is text), got ${describeValue(value)}: String(value) or JSON.stringify(value) it`);
  }
}

/**
 * Each tensor a Float32Array whose length fills its shape: the header is written from the shape
 * and the bytes from the data, so a mismatch made a file whose offsets lie (a Float64Array wrote
 * past the end, a plain array wrote nothing).
 */
function checkHostTensors(op: string, tensors: unknown): asserts tensors is Map<string, HostTensor> {
  if (!(tensors instanceof Map)) throw new ArgumentError(`${op}: tensors must be a Map of name to { shape, data }, got ${describeValue(tensors)}`);
  for (const [name, t] of tensors as Map<unknown, Partial<HostTensor> | null>) {
    if (typeof name !== 'string' || name === '__metadata__') throw new ArgumentError(`${op}: a tensor cannot be named ${describeValue(name)} (names are strings, and __metadata__ is the format's own)`);
    if (!(t?.data instanceof Float32Array)) throw new ArgumentError(`${op}: tensor '${name}' needs data in a Float32Array, got ${describeValue(t?.data)}`);
    const shape: unknown = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ShapeError(`${op}: tensor '${name}' needs a shape of whole sizes >= 0, got ${describeValue(shape)}${Array.isArray(shape) ? ` [${shape.join(', ')}]` : ''}`);
    const size = shape.reduce((a: number, d: number) => a * d, 1);
    if (size !== t.data.length) throw new ShapeError(`${op}: tensor '${name}' has ${t.data.length} values for its shape [${shape.join(', ')}] of ${size}`);
  }
}

/** The bytes' type says they own a plain ArrayBuffer, so a page's `new Blob([bytes])` type-checks. */
export function encodeSafetensors(tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array<ArrayBuffer> {
  checkHostTensors('encodeSafetensors', tensors);
  expectMetadata('encodeSafetensors', metadata);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Raw little-endian tensor bytes of `dtype` (F32, F64, F16, BF16, integers) -> float32. */
export function toFloat32(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'F32': out[i] = view.getFloat32(i * 4, true); break;
      case 'F64': out[i] = view.getFloat64(i * 8, true); break;
      case 'F16': out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case 'BF16': {
        const tmp = new DataView(new ArrayBuffer(4));
        tmp.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = tmp.getFloat32(0, true);
        break;
      }
      case 'I64': out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = view.getInt32(i * 4, true); break;
      case 'I16': out[i] = view.getInt16(i * 2, true); break;
      case 'I8': out[i] = view.getInt8(i); break;
      default: out[i] = view.getUint8(i); break;
    }
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Map<string, HostTensor & { dtype: string }>;
  metadata: Record<string, string>;
}

/** Parses a .safetensors file. `source` (a path or name) appears in every error. */
export function decodeSafetensors(input: Uint8Array | ArrayBuffer, source = '<bytes>'): DecodedSafetensors {
  // An ArrayBuffer is what fetch's arrayBuffer() and a FileReader give a page.
  if (!(input instanceof Uint8Array) && !(input instanceof ArrayBuffer)) throw new ArgumentError(`decodeSafetensors: input must be the file's bytes (a Uint8Array or an ArrayBuffer), got ${describeValue(input)}${source ? ` for ${source}` : ''}`);
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 8) throw new FormatError(`${source}: not a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new FormatError(`${source}: not a safetensors file or truncated (header length ${headerLen}, file ${bytes.length} bytes)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw new FormatError(`${source}: safetensors header is not valid JSON`);
  }
  if (!isPlainObject(header)) throw new FormatError(`${source}: safetensors header is not a JSON object`);
  const dataStart = 8 + headerLen;
  const metadata = checkMetadata(header.__metadata__ ?? {}, source);
  const entries = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, value]) => ({ name, ...checkEntry(value, name, bytes.length - dataStart, source) }));
  checkNoOverlap(entries, source);
  const tensors = new Map<string, HostTensor & { dtype: string }>();
  for (const entry of entries) {
    const raw = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data: toFloat32(entry.dtype, raw, entry.count) });
  }
  return { tensors, metadata };
}

/**
 * Two tensors whose bytes overlap mean a damaged header (the format gives each its own span, and
 * Hugging Face's reader refuses such files): one of them would silently take the other's values.
 */
function checkNoOverlap(entries: { name: string; begin: number; end: number }[], source: string): void {
  const spans = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < spans.length; i++) {
    const [a, b] = [spans[i - 1], spans[i]];
    if (b.begin < a.end) {
      throw new FormatError(`${source}: tensors '${a.name}' [${a.begin}, ${a.end}) and '${b.name}' [${b.begin}, ${b.end}) share bytes of the data section (damaged header)`);
    }
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWholeNumber = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** `__metadata__` is a map of strings by the format's definition; anything else is a damaged header. */
function checkMetadata(value: unknown, source: string): Record<string, string> {
  if (!isPlainObject(value)) throw new FormatError(`${source}: safetensors __metadata__ is not an object`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new FormatError(`${source}: safetensors __metadata__.${key} is ${JSON.stringify(v)}, not a string`);
  }
  return value as Record<string, string>;
}

/**
 * One header entry, checked before any byte is read: a known dtype, a shape of whole numbers, and
 * data_offsets [begin, end] inside the data section spanning exactly the shape's bytes.
 */
function checkEntry(value: unknown, name: string, dataBytes: number, source: string): { dtype: string; shape: number[]; begin: number; end: number; count: number } {
  const bad = (why: string) => new FormatError(`${source}: tensor '${name}' ${why}`);
  if (!isPlainObject(value)) throw bad('is not an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offsets } = value;
  const width = typeof dtype === 'string' && Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype]! : 0;
  if (!width) throw bad(`has unsupported dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isWholeNumber)) throw bad(`has shape ${JSON.stringify(shape)}, not a list of whole numbers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isWholeNumber)) {
    throw bad(`has data_offsets ${JSON.stringify(offsets)}, not [begin, end] in bytes`);
  }
  const [begin, end] = offsets as [number, number];
  const count = shape.reduce((p: number, d: number) => p * d, 1);
  if (end - begin !== count * width) throw bad(`offsets [${begin}, ${end}] do not match shape [${shape}] ${dtype}`);
  if (end > dataBytes) throw new FormatError(`${source}: truncated: tensor '${name}' ends at byte ${end} of the ${dataBytes}-byte data section`);
  return { dtype: dtype as string, shape: [...shape], begin, end, count };
}
