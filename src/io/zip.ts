// The zip container of torch.save files: the central directory (zip64 included) and one entry's
// bytes, stored or deflated. Every size and offset comes from the file, so each is checked before
// it is used: offsets against the file's length, and a deflated entry's declared size against the
// caller's limit, against what deflate can expand to, and, while inflating, against the output.

import { FormatError } from '../errors.js';
// @ts-expect-error pako ships no type declarations; PakoInflate below declares the part used.
import pakoModule from 'pako';
import { crc32 } from './png.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

interface PakoInflate {
  push(data: Uint8Array, end: boolean): boolean;
  onData: (chunk: Uint8Array) => void;
  err: number;
  msg: string;
  ended: boolean;
}
const pako = pakoModule as { Inflate: new (options: { raw: boolean; chunkSize: number }) => PakoInflate };

/** The longest typed array the engine makes (V8: 2^32 elements); a longer size is a damaged field. */
export const MAX_TYPED_ARRAY = 2 ** 32;

/**
 * Deflate's densest code: a 258-byte match in 1 + 1 bits, 1032 bytes of output per input byte.
 * The slack covers a block header's bits before the first match.
 */
const maxInflated = (compressed: number) => 1032 * compressed + 1024;


/**
 * The zip's central directory (zip64 included); a truncated file is a FormatError. A damaged byte can point any offset outside the file, and DataView
 * then throws a bare RangeError from deep inside; that becomes a FormatError naming the file.
 */
export function readZipDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
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

/**
 * Inflates raw deflate data into exactly `size` bytes, never more: pako hands its output over in
 * 64 KB chunks, and the first chunk past `size` stops it (a zip bomb costs `size` bytes, not what
 * it expands to). Throws `overflow` or `damaged` (the stream is corrupt or ends short).
 */
function inflateBounded(data: Uint8Array, size: number, overflow: () => Error, damaged: () => Error): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  const inflater = new pako.Inflate({ raw: true, chunkSize: 65536 });
  inflater.onData = (chunk) => {
    if (at + chunk.length > size) throw overflow();
    out.set(chunk, at);
    at += chunk.length;
  };
  inflater.push(data, true);
  // pako reports no error for a stream cut short (it only marks it ended): the length is the check.
  if (inflater.err || at !== size) throw damaged();
  return out;
}

/**
 * One entry's bytes, checked against its CRC. `limit` caps the entry's declared size (what the
 * caller needs of it, and why), checked before anything is read or inflated.
 */
export function readZipEntry(bytes: Uint8Array, e: ZipEntry, source: string, limit: { bytes: number; why: string }): Uint8Array {
  const what = `${source}: zip entry '${e.name}'`;
  // Offsets from a damaged directory may lie outside the file: checked before any read.
  if (!(e.localOffset >= 0 && e.localOffset + 30 <= bytes.length)) throw new FormatError(`${source}: damaged zip entry '${e.name}' (local header at ${e.localOffset}, file ${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const p = e.localOffset;
  if (view.getUint32(p, true) !== 0x04034b50) throw new FormatError(`${source}: damaged zip entry '${e.name}'`);
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  if (start + e.compressedSize > bytes.length) throw new FormatError(`${source}: truncated: zip entry '${e.name}' ends past the file`);
  const max = Math.min(limit.bytes, MAX_TYPED_ARRAY);
  if (e.size > max) throw new FormatError(`${what} declares ${e.size} bytes, more than the ${max} it may hold (${limit.why}): a damaged size field or a zip bomb`);
  const stored = bytes.subarray(start, start + e.compressedSize);
  let data: Uint8Array;
  if (e.method === 0) data = stored;
  else if (e.method === 8) {
    if (e.size > maxInflated(e.compressedSize)) {
      throw new FormatError(`${what} declares ${e.size} bytes from ${e.compressedSize} deflated, more than deflate can expand to: a damaged size field`);
    }
    data = inflateBounded(
      stored,
      e.size,
      () => new FormatError(`${what} inflates past its declared ${e.size} bytes (a zip bomb or a damaged size field); stopped there`),
      () => new FormatError(`${what} has damaged deflate data (or it inflates to fewer than its declared ${e.size} bytes)`),
    );
  } else throw new FormatError(`${what} uses compression method ${e.method} (only stored and deflate)`);
  if (data.length !== e.size || crc32(data) !== e.crc) throw new FormatError(`${what} fails its CRC check (damaged file)`);
  return data;
}
