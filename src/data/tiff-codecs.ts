// The compressions a TIFF's strips or tiles are read in: none, LZW, Deflate (zlib, through pako,
// utif's own inflater), PackBits, and CCITT fax coding for 1-bit images (tiff-ccitt.ts). Each
// decoder must fill its chunk's bytes exactly: a stream that comes out short or long, runs past
// its end or holds codes never defined is a DataError naming the chunk, never zeros, garbage or
// an endless loop. Browser-safe: no Node imports.

// @ts-expect-error pako (utif's own inflater) ships no type declarations; PakoApi below declares the part used.
import pakoModule from 'pako';
import { DataError } from './errors.js';
import { decodeFaxChunk, FAX_COMPRESSION } from './tiff-ccitt.js';

interface PakoInflate {
  push(data: Uint8Array, end: boolean): boolean;
  err: number;
  msg: string;
  ended: boolean;
  result?: Uint8Array;
}
const pako = pakoModule as { Inflate: new () => PakoInflate };

export const COMPRESSION = { none: 1, lzw: 5, deflate: 8, oldDeflate: 32946, packBits: 32773, ...FAX_COMPRESSION } as const;

/** How a chunk is coded, beyond its compression: what the fax codes and FillOrder need. */
export interface ChunkCoding {
  compression: number;
  /** Pixels in a row of the chunk (the image's width, or a tile's). */
  width: number;
  /** 2: the bits of each stored byte run from the least significant (FillOrder 2). */
  fillOrder: 1 | 2;
  /** T4Options or T6Options, for the fax codes; 0 when absent. */
  faxOptions: number;
}

/** Each byte with its bits reversed. */
const REVERSED = Uint8Array.from({ length: 256 }, (_, b) => {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >>> i) & 1) << (7 - i);
  return r;
});

/** Decodes one strip or tile into `rows`, which it must fill exactly. (Uncompressed chunks are checked for length where the IFD is read.) */
export function decodeChunk(bytes: Uint8Array, strip: { offset: number; length: number }, coding: ChunkCoding, rows: Uint8Array, what: string): void {
  const { compression } = coding;
  let stream = bytes.subarray(strip.offset, strip.offset + strip.length);
  // libtiff reverses the stored bytes before any decoder sees them; only sub-byte samples get here.
  if (coding.fillOrder === 2) stream = stream.map((b) => REVERSED[b]!);
  if (compression === COMPRESSION.modifiedHuffman || compression === COMPRESSION.group3 || compression === COMPRESSION.group4) {
    decodeFaxChunk(stream, rows, { compression, width: coding.width, options: coding.faxOptions }, what);
  } else if (compression === COMPRESSION.none) rows.set(stream.subarray(0, rows.length));
  else if (compression === COMPRESSION.lzw) decodeLzwStrip(stream, rows, `${what} (LZW)`);
  else if (compression === COMPRESSION.packBits) decodePackBitsStrip(stream, rows, `${what} (PackBits)`);
  else decodeDeflateStrip(stream, rows, `${what} (Deflate)`);
}

function decodeDeflateStrip(stream: Uint8Array, rows: Uint8Array, what: string): void {
  const fail = (why: string) => new DataError(`${what} is corrupt (${why})`);
  const inflater = new pako.Inflate();
  inflater.push(stream, true);
  // pako 1.0 reports no error for a stream cut short (it marks it ended): the length is the check.
  if (inflater.err) throw fail(`inflate: ${inflater.msg || `error ${inflater.err}`}`);
  const got = inflater.result?.length ?? 0;
  if (got !== rows.length) throw fail(`decodes to ${got} bytes, the strip holds ${rows.length}`);
  rows.set(inflater.result!);
}

/**
 * PackBits: a header n in 0..127 copies n+1 literal bytes, -127..-1 repeats the next byte 1-n
 * times, -128 is a no-op. The output must fill the strip exactly without any run crossing its end,
 * every literal must lie inside the strip, and nothing but no-ops may follow.
 */
function decodePackBitsStrip(stream: Uint8Array, rows: Uint8Array, what: string): void {
  const fail = (why: string) => new DataError(`${what} is corrupt (${why})`);
  let at = 0;
  let out = 0;
  while (out < rows.length) {
    if (at >= stream.length) throw fail(`decodes to ${out} bytes, the strip holds ${rows.length}`);
    const header = (stream[at]! << 24) >> 24; // as a signed byte
    at++;
    if (header === -128) continue;
    const literal = header >= 0;
    const count = literal ? header + 1 : 1 - header;
    const consumed = literal ? count : 1;
    if (at + consumed > stream.length) throw fail(`a ${literal ? 'literal' : 'run'} at byte ${at - 1} runs past the end of the strip`);
    if (out + count > rows.length) throw fail(`decodes to more than the ${rows.length} bytes the strip holds`);
    if (literal) rows.set(stream.subarray(at, at + count), out);
    else rows.fill(stream[at]!, out, out + count);
    at += consumed;
    out += count;
  }
  // Bytes left over mean the headers went out of step with the data (garbage in the strip).
  const leftover = stream.subarray(at).findIndex((b) => b !== 0x80);
  if (leftover >= 0) throw fail(`${stream.length - at} bytes left after the strip's ${rows.length} bytes were decoded`);
}

/**
 * TIFF LZW (MSB-first codes, 9 to 12 bits, early change). The stream must end with an EOI code
 * inside the strip, use only defined codes and fill the strip exactly: a damaged stream is a
 * DataError, never an endless loop or a half-filled strip. Each table entry is its prefix entry
 * plus one byte; a string is written back to front along the prefixes.
 */
function decodeLzwStrip(stream: Uint8Array, rows: Uint8Array, what: string): void {
  const CLEAR = 256;
  const EOI = 257;
  const prefix = new Uint16Array(4096);
  const last = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const lengths = new Uint32Array(4096);
  for (let i = 0; i < 256; i++) [last[i], first[i], lengths[i]] = [i, i, 1];
  const endBit = stream.length * 8;
  let bit = 0;
  let width = 9;
  let next = 258;
  let prev = -1;
  let out = 0;
  const fail = (why: string) => new DataError(`${what} is corrupt (${why})`);
  for (;;) {
    if (bit + width > endBit) throw fail('no end-of-information code before the end of the strip');
    const b = bit >>> 3;
    const v = (stream[b]! << 16) | ((stream[b + 1] ?? 0) << 8) | (stream[b + 2] ?? 0);
    const code = (v >>> (24 - (bit & 7) - width)) & ((1 << width) - 1);
    bit += width;
    if (code === EOI) break;
    if (code === CLEAR) {
      width = 9;
      next = 258;
      prev = -1;
      continue;
    }
    if (prev < 0) {
      if (code > 255) throw fail(`code ${code} right after a clear code`);
    } else {
      if (code > next) throw fail(`code ${code} before it was defined (next is ${next})`);
      if (next >= 4094) throw fail('string table overflow without a clear code');
      // The new entry is the previous string plus the first byte of this one (of itself when
      // this code is the entry being defined).
      prefix[next] = prev;
      last[next] = first[code === next ? prev : code]!;
      first[next] = first[prev]!;
      lengths[next] = lengths[prev]! + 1;
      next++;
      if (next + 1 === 1 << width) width = Math.min(width + 1, 12);
    }
    const len = lengths[code]!;
    if (out + len > rows.length) throw fail(`decodes to more than the ${rows.length} bytes the strip holds`);
    for (let k = out + len - 1, e = code; k >= out; k--, e = prefix[e]!) rows[k] = last[e]!;
    out += len;
    prev = code;
  }
  if (out < rows.length) throw fail(`decodes to ${out} bytes, the strip holds ${rows.length}`);
}
