// PNG encoding (and a minimal decoder, for tests and round trips) for 8-bit gray, RGB and RGBA.
//
// A PNG is the 8-byte signature, then chunks: length (u32 BE), type (4 ASCII bytes), data, and a
// CRC-32 over type + data. IHDR holds the size and pixel format; IDAT holds the zlib stream of the
// scanlines, each prefixed with a filter byte; IEND closes the file.
//
// Compression uses CompressionStream('deflate') (zlib format), which Node 20 and browsers share, so
// this module runs in both without node:zlib. A caller may pass its own compressor; where neither
// exists the scanlines go out as stored (uncompressed) deflate blocks, which every reader accepts.

import { FormatError, ShapeError } from '../errors.js';

export interface PngImage {
  width: number;
  height: number;
  /** 1 = gray, 3 = RGB, 4 = RGBA; 8 bits each, row-major, channels interleaved. */
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

/** Turns bytes into a zlib stream (RFC 1950), e.g. node:zlib's deflateSync. */
export type ZlibCompress = (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
/** The inverse, e.g. node:zlib's inflateSync. */
export type ZlibInflate = (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const COLOR_TYPE: Record<number, number> = { 1: 0, 3: 2, 4: 6 };
const CHANNELS_OF_COLOR_TYPE: Record<number, 1 | 3 | 4> = { 0: 1, 2: 3, 6: 4 };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG (and zip, gzip) define it: reflected polynomial 0xEDB88320. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Adler-32, the checksum that closes a zlib stream. */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  // 5552 is the largest run for which b cannot overflow 2^32 before the modulo.
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(i + 5552, bytes.length);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream of stored deflate blocks: no compression, always available. */
export function zlibStore(bytes: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(bytes.length / 65535));
  const out = new Uint8Array(2 + blocks * 5 + bytes.length + 4);
  out[0] = 0x78; // deflate, 32 KiB window
  out[1] = 0x01; // check bits so that (0x78 << 8 | 0x01) % 31 == 0, no preset dictionary
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, bytes.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0; // BFINAL on the last block, BTYPE 00 (stored)
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(bytes.subarray(start, start + len), o);
    o += len;
  }
  new DataView(out.buffer).setUint32(o, adler32(bytes));
  return out;
}

async function throughStream(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  // Not awaited: the writes complete only as the readable side below is drained.
  writer.write(bytes).catch(() => undefined);
  writer.close().catch(() => undefined);
  return new Uint8Array(await new Response(stream.readable).arrayBuffer());
}

function defaultCompress(): ZlibCompress {
  if (typeof CompressionStream === 'function' && typeof Response === 'function') {
    return (bytes) => throughStream(bytes, new CompressionStream('deflate'));
  }
  return zlibStore;
}

function defaultInflate(): ZlibInflate {
  if (typeof DecompressionStream === 'function' && typeof Response === 'function') {
    return (bytes) => throughStream(bytes, new DecompressionStream('deflate'));
  }
  throw new FormatError('png: no DecompressionStream here; pass an inflate function');
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Filter 0..4 (None, Sub, Up, Average, Paeth) of one byte, given left a, up b, up-left c. */
function predict(filter: number, a: number, b: number, c: number): number {
  switch (filter) {
    case 1: return a;
    case 2: return b;
    case 3: return (a + b) >>> 1;
    case 4: return paeth(a, b, c);
    default: return 0;
  }
}

/**
 * Filters every row with the filter whose output has the smallest sum of absolute signed bytes,
 * the heuristic the PNG specification recommends: it makes the deflate input more repetitive.
 */
function filterScanlines(img: PngImage): Uint8Array {
  const bpp = img.channels;
  const stride = img.width * bpp;
  const out = new Uint8Array(img.height * (stride + 1));
  const candidate = new Uint8Array(stride);
  for (let y = 0; y < img.height; y++) {
    const row = y * stride;
    let bestCost = Infinity;
    const dst = y * (stride + 1);
    for (let filter = 0; filter <= 4; filter++) {
      let cost = 0;
      for (let x = 0; x < stride; x++) {
        const a = x >= bpp ? img.data[row + x - bpp] : 0;
        const b = y > 0 ? img.data[row - stride + x] : 0;
        const c = x >= bpp && y > 0 ? img.data[row - stride + x - bpp] : 0;
        const v = (img.data[row + x] - predict(filter, a, b, c)) & 0xff;
        candidate[x] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < bestCost) {
        bestCost = cost;
        out[dst] = filter;
        out.set(candidate, dst + 1);
      }
    }
  }
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

function validate(img: PngImage): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new ShapeError(`png: width and height must be positive integers (got ${img.width}x${img.height})`);
  }
  if (!(img.channels in COLOR_TYPE)) {
    throw new ShapeError(`png: channels must be 1, 3 or 4 (got ${img.channels})`);
  }
  const want = img.width * img.height * img.channels;
  if (img.data.length !== want) {
    throw new ShapeError(
      `png: data has ${img.data.length} bytes but ${img.width}x${img.height}x${img.channels} needs ${want}`,
    );
  }
}

export async function encodePng(img: PngImage, opts: { compress?: ZlibCompress } = {}): Promise<Uint8Array> {
  validate(img);
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, img.width);
  view.setUint32(4, img.height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[img.channels];
  // compression 0, filter method 0, interlace 0: the only values PNG defines (bar Adam7)
  const idat = await (opts.compress ?? defaultCompress())(filterScanlines(img));
  const parts = [Uint8Array.from(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `data:image/png;base64,...` for an <img> in a self-contained page. */
export async function pngDataUri(img: PngImage, opts: { compress?: ZlibCompress } = {}): Promise<string> {
  const png = await encodePng(img, opts);
  let binary = '';
  for (let i = 0; i < png.length; i += 0x8000) binary += String.fromCharCode(...png.subarray(i, i + 0x8000));
  return `data:image/png;base64,${btoa(binary)}`;
}

/**
 * Decodes what encodePng writes: 8-bit gray/RGB/RGBA, not interlaced. Checks the signature and
 * every chunk's CRC; other chunks (text, gamma) are skipped.
 */
export async function decodePng(bytes: Uint8Array, opts: { inflate?: ZlibInflate } = {}): Promise<PngImage> {
  if (bytes.length < 8 || SIGNATURE.some((v, i) => bytes[i] !== v)) throw new FormatError('png: bad signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let channels: 1 | 3 | 4 = 1;
  const idat: Uint8Array[] = [];
  for (let o = 8; o < bytes.length; ) {
    if (o + 12 > bytes.length) throw new FormatError('png: truncated chunk header');
    const len = view.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    if (o + 12 + len > bytes.length) throw new FormatError(`png: chunk ${type} runs past the end`);
    if (crc32(bytes, o + 4, o + 8 + len) !== view.getUint32(o + 8 + len)) {
      throw new FormatError(`png: chunk ${type} has a bad CRC`);
    }
    const data = bytes.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(o + 8);
      height = view.getUint32(o + 12);
      const [depth, colorType, , , interlace] = data.subarray(8, 13);
      const ch = CHANNELS_OF_COLOR_TYPE[colorType];
      if (depth !== 8 || ch === undefined || interlace !== 0) {
        throw new FormatError(`png: only 8-bit non-interlaced gray/RGB/RGBA (depth ${depth}, color type ${colorType})`);
      }
      channels = ch;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    o += 12 + len;
  }
  if (width === 0 || idat.length === 0) throw new FormatError('png: missing IHDR or IDAT');
  const zlib = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  idat.reduce((o, d) => (zlib.set(d, o), o + d.length), 0);
  const raw = await (opts.inflate ?? defaultInflate())(zlib);
  return { width, height, channels, data: unfilterScanlines(raw, width, height, channels) };
}

function unfilterScanlines(raw: Uint8Array, width: number, height: number, bpp: number): Uint8Array {
  const stride = width * bpp;
  if (raw.length !== height * (stride + 1)) {
    throw new FormatError(`png: image data has ${raw.length} bytes, expected ${height * (stride + 1)}`);
  }
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    if (filter > 4) throw new FormatError(`png: row ${y} has unknown filter ${filter}`);
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[row - stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[row - stride + x - bpp] : 0;
      out[row + x] = (raw[y * (stride + 1) + 1 + x] + predict(filter, a, b, c)) & 0xff;
    }
  }
  return out;
}
