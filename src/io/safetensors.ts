// The .safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the
// raw little-endian tensor bytes. Offsets are relative to the end of the header. dawnet writes
// F32; it reads F32, F64, F16, BF16 and the integer types, converting to float32.

import { FormatError } from '../errors.js';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Header size cap: real files have headers of kilobytes; 100 MB means a corrupt length field. */
const MAX_HEADER = 100_000_000;

export function encodeSafetensors(tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array {
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
export function decodeSafetensors(bytes: Uint8Array, source: string): DecodedSafetensors {
  if (bytes.length < 8) throw new FormatError(`${source}: not a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new FormatError(`${source}: not a safetensors file or truncated (header length ${headerLen}, file ${bytes.length} bytes)`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw new FormatError(`${source}: safetensors header is not valid JSON`);
  }
  const dataStart = 8 + headerLen;
  const metadata = (header.__metadata__ ?? {}) as unknown as Record<string, string>;
  const tensors = new Map<string, HostTensor & { dtype: string }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const width = DTYPE_BYTES[entry?.dtype];
    if (!width) throw new FormatError(`${source}: tensor '${name}' has unsupported dtype ${entry?.dtype}`);
    const [begin, end] = entry.data_offsets ?? [];
    const count = (entry.shape ?? []).reduce((p: number, d: number) => p * d, 1);
    if (!(begin >= 0) || end - begin !== count * width) {
      throw new FormatError(`${source}: tensor '${name}' offsets [${begin}, ${end}] do not match shape [${entry.shape}] ${entry.dtype}`);
    }
    if (dataStart + end > bytes.length) {
      throw new FormatError(`${source}: truncated: tensor '${name}' ends at byte ${dataStart + end} of ${bytes.length}`);
    }
    const raw = bytes.subarray(dataStart + begin, dataStart + end);
    tensors.set(name, { dtype: entry.dtype, shape: [...entry.shape], data: toFloat32(entry.dtype, raw, count) });
  }
  return { tensors, metadata };
}
