// Baseline TIFF, as the LGG data set stores its slices: one image per file, strips (or tiles, as
// `tiffcp -t`, tifffile's `tile=` and libvips write them), chunky (interleaved) samples, or one
// plane per channel (PlanarConfiguration 2, as tifffile writes a channels-first array). `utif`
// parses the image directory; the strips are decoded here (tiff-codecs.ts), each walked once to
// check and write it (header bounds, strips inside the file, as many strips as the rows need,
// every strip decoding to exactly the bytes its rows need), so that a truncated or corrupt file
// becomes a DataError naming the file instead of zeros, garbage or an endless loop.
// (utif's own strip decoder copies any strip whose stored length equals the image's size as if it
// were uncompressed, and leaves zeros where a strip came out short.)
// Encoding is a small writer of our own: little-endian, uncompressed, PackBits or Deflate.
//
// Pixels come out row-major with channels interleaved: data[(y * width + x) * channels + c],
// Uint8Array for 8-bit samples, Uint16Array for 16-bit ones, Uint8Array 0 or 255 for a
// bilevel (1-bit) gray image, as Pillow saves a boolean mask, and 8-bit RGB for a palette image
// (PhotometricInterpretation 3), each index through its ColorMap: what the image shows, as libtiff
// and Pillow read it. A palette mask is then read as an RGB mask is (slice-decode.ts): a pixel
// whose colour is not black is tumour, whatever its index. Browser-safe: no Node imports.

// @ts-expect-error utif ships no type declarations; UtifApi below declares the part dawnet uses.
import UTIFModule from 'utif';
import { ArgumentError } from '../errors.js';
import { describeValue, expectChoice, expectKnownOptions, expectNumber, expectOptionalNumber, expectOptions } from '../graph/args.js';
import { DataError } from './errors.js';
import { COMPRESSION, decodeChunk } from './tiff-codecs.js';

interface UtifIfd {
  [tag: string]: unknown;
}
interface UtifApi {
  decode(buffer: ArrayBuffer): UtifIfd[];
}
const UTIF = UTIFModule as UtifApi;

export interface TiffImage {
  width: number;
  height: number;
  /** Samples per pixel: 1 (gray), 3 (RGB, or a palette image's colours) or 4 (RGBA). */
  channels: number;
  data: Uint8Array | Uint16Array;
}

/** What the first IFD says, checked against the file's length; no pixel is decoded. */
export interface TiffInfo {
  width: number;
  height: number;
  /** Samples per pixel as stored: a palette image has 1, its index, and decodes to 3. */
  channels: number;
  /** 1, 2 and 4 only for a palette image's indices (and 1 for a bilevel gray image). */
  bitsPerSample: 1 | 2 | 4 | 8 | 16;
  /** TIFF compression code: 1 none, 5 LZW, 8 or 32946 Deflate, 32773 PackBits, 2 CCITT Modified Huffman, 3 CCITT Group 3, 4 CCITT Group 4. */
  compression: number;
  /** 2: the bits of each stored byte run from the least significant (read for samples under 8 bits). */
  fillOrder: 1 | 2;
  /** T4Options (Group 3) or T6Options (Group 4); 0 otherwise. */
  faxOptions: number;
  /** A palette image's ColorMap as 8-bit RGB triples, index by index; absent for other images. */
  colorMap?: Uint8Array;
  littleEndian: boolean;
  /** Rows in each strip but a plane's last, which holds the rest (a tiled image: the tile's height). */
  rowsPerStrip: number;
  /** 1: samples interleaved; 2: one plane per channel, each its own strips (plane by plane). */
  planarConfig: 1 | 2;
  /** A tiled image's tile size (TileWidth, TileLength); absent for an image in strips. */
  tile?: { width: number; height: number };
  /** The strips, or a tiled image's tiles (left to right, top to bottom, plane by plane). */
  strips: { offset: number; length: number }[];
}

const SUPPORTED_COMPRESSION: readonly number[] = Object.values(COMPRESSION);

/** The file's bytes: `new Uint8Array(3)` of a number, or of a string, read as a file of zeros. */
function asBytes(op: string, input: unknown): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  throw new ArgumentError(`${op}: bytes must be a Uint8Array or an ArrayBuffer, got ${describeValue(input)}`);
}

function tagValues(ifd: UtifIfd, tag: number): number[] | undefined {
  const v = ifd[`t${tag}`];
  return Array.isArray(v) ? (v as number[]) : undefined;
}

function tag1(ifd: UtifIfd, tag: number, fallback?: number): number | undefined {
  return tagValues(ifd, tag)?.[0] ?? fallback;
}

/**
 * Parses the first IFD with utif. The parse runs on a copy whose next-IFD pointer is zeroed: a
 * corrupt chain of IFDs (a cycle) would otherwise loop forever, and we only read the first image.
 */
function parseFirstIfd(bytes: Uint8Array, name: string): { ifd: UtifIfd; littleEndian: boolean } {
  const fail = (why: string) => new DataError(`${name}: not a readable TIFF (${why})`);
  if (bytes.length < 8) throw fail(`${bytes.length} bytes, shorter than a TIFF header`);
  const order = String.fromCharCode(bytes[0]!, bytes[1]!);
  if (order !== 'II' && order !== 'MM') throw fail('no II/MM byte-order mark');
  const littleEndian = order === 'II';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(2, littleEndian);
  if (magic === 43) throw fail('BigTIFF is not supported');
  if (magic !== 42) throw fail(`magic number ${magic}, expected 42`);
  const ifdOffset = view.getUint32(4, littleEndian);
  if (ifdOffset < 8 || ifdOffset + 2 > bytes.length) throw fail(`first IFD at byte ${ifdOffset} lies outside the ${bytes.length}-byte file`);
  const entries = view.getUint16(ifdOffset, littleEndian);
  const nextPointer = ifdOffset + 2 + 12 * entries;
  if (entries === 0 || nextPointer + 4 > bytes.length) throw fail(`IFD with ${entries} entries runs past the end of the file (truncated?)`);
  const copy = new Uint8Array(bytes); // a copy: a Node Buffer's slice() would be a view
  copy.fill(0, nextPointer, nextPointer + 4);
  let ifds: UtifIfd[];
  try {
    ifds = UTIF.decode(copy.buffer);
  } catch (e) {
    throw fail(`utif could not parse the IFD: ${String((e as Error)?.message ?? e)}`);
  }
  const ifd = ifds[0];
  if (!ifd) throw fail('no image directory');
  return { ifd, littleEndian };
}

function checkInfo(ifd: UtifIfd, fileLength: number, littleEndian: boolean, name: string): TiffInfo {
  const unsupported = (what: string) => new DataError(`${name}: unsupported TIFF (${what})`);
  const corrupt = (what: string) => new DataError(`${name}: corrupt or truncated TIFF (${what})`);
  const width = tag1(ifd, 256) ?? 0;
  const height = tag1(ifd, 257) ?? 0;
  if (width < 1 || height < 1) throw corrupt(`image size ${width}x${height}`);
  const channels = tag1(ifd, 277, 1)!;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw unsupported(`${channels} samples per pixel; 1, 3 or 4 are read`);
  const photometric = tag1(ifd, 262, channels >= 3 ? 2 : 1)!;
  if (photometric > 3) throw unsupported(`photometric interpretation ${photometric}; gray (0, 1), RGB (2) and palette (3) images are read`);
  const palette = photometric === 3;
  if (palette && channels !== 1) throw unsupported(`palette image with ${channels} samples per pixel; 1, its index, is read`);
  const bits = tagValues(ifd, 258) ?? [1];
  const bitsPerSample = bits[0]!;
  const subByte = palette ? [1, 2, 4].includes(bitsPerSample) : bitsPerSample === 1 && channels === 1;
  if ((bitsPerSample !== 8 && bitsPerSample !== 16 && !subByte) || bits.some((b) => b !== bitsPerSample) || (palette && bitsPerSample === 16)) {
    throw unsupported(`bits per sample ${bits.join(',')}; 8 or 16 in every channel, 1 in a gray image, or 1, 2, 4 or 8 in a palette image are read`);
  }
  const compression = tag1(ifd, 259, 1)!;
  if (!SUPPORTED_COMPRESSION.includes(compression)) {
    const known = UNREAD_COMPRESSION[compression] ? ` (${UNREAD_COMPRESSION[compression]})` : '';
    throw unsupported(`compression ${compression}${known}; none, LZW, Deflate, PackBits and, for 1-bit images, CCITT Modified Huffman, Group 3 and Group 4 are read; rewrite it uncompressed with \`tiffcp -c none in.tif out.tif\``);
  }
  const fax = compression === COMPRESSION.modifiedHuffman || compression === COMPRESSION.group3 || compression === COMPRESSION.group4;
  if (fax && (bitsPerSample !== 1 || channels !== 1)) throw unsupported(`CCITT fax compression ${compression} of ${channels} ${bitsPerSample}-bit samples per pixel; it codes 1-bit images`);
  const colorMap = palette ? readColorMap(tagValues(ifd, 320), bitsPerSample, corrupt) : undefined;
  const planarConfig = tag1(ifd, 284, 1)!;
  if (planarConfig !== 1 && planarConfig !== 2) throw unsupported(`planar configuration ${planarConfig}`);
  if ((tag1(ifd, 339, 1) ?? 1) !== 1) throw unsupported(`sample format ${tag1(ifd, 339)}; unsigned integers are read`);
  const predictor = tag1(ifd, 317, 1)!;
  if (predictor !== 1 && (predictor !== 2 || bitsPerSample < 8)) throw unsupported(`predictor ${predictor} with ${bitsPerSample}-bit samples`);
  // FillOrder 2 is the TIFF spec's for 1-bit (fax) data; in 8- or 16-bit samples it is far more
  // likely a damaged tag than bytes really stored reversed, so those stay refused.
  const fillOrder = tag1(ifd, 266, 1)!;
  if (fillOrder !== 1 && (fillOrder !== 2 || bitsPerSample >= 8)) throw unsupported(`fill order ${fillOrder} (bits reversed within each byte) with ${bitsPerSample}-bit samples; it is read for samples under 8 bits`);
  const faxOptions = compression === COMPRESSION.group3 ? tag1(ifd, 292, 0)! : compression === COMPRESSION.group4 ? tag1(ifd, 293, 0)! : 0;

  const tiled = tagValues(ifd, 322) !== undefined;
  const kind = tiled ? 'tile' : 'strip';
  const offsets = tagValues(ifd, tiled ? 324 : 273) ?? [];
  const lengths = tagValues(ifd, tiled ? 325 : 279) ?? [];
  if (offsets.length === 0 || offsets.length !== lengths.length) {
    throw corrupt(`${offsets.length} ${kind} offsets and ${lengths.length} ${kind} byte counts`);
  }
  let tile: TiffInfo['tile'];
  if (tiled) {
    tile = { width: tag1(ifd, 322) ?? 0, height: tag1(ifd, 323) ?? 0 };
    if (!(tile.width >= 1 && tile.height >= 1)) throw corrupt(`tile size ${tile.width}x${tile.height}`);
    if (bitsPerSample < 8 && (tile.width * bitsPerSample) % 8 !== 0) throw unsupported(`${bitsPerSample}-bit tiles ${tile.width} pixels wide; tiles a whole number of bytes wide are read`);
  }
  const rowsPerStrip = tile ? tile.height : Math.min(tag1(ifd, 278, height)!, height);
  if (!(rowsPerStrip >= 1)) throw corrupt(`${rowsPerStrip} rows per strip`);
  // Fewer strips than the rows need left the rest of the image zero; more, or strips of other
  // sizes than RowsPerStrip says, put rows in the wrong place. Likewise tiles.
  const layout = chunkLayout({ width, height, channels, bitsPerSample: bitsPerSample as TiffInfo['bitsPerSample'], rowsPerStrip, planarConfig, tile });
  if (offsets.length !== layout.perPlane * layout.planes) {
    const planes = layout.planes > 1 ? ` in each of ${layout.planes} planes` : '';
    const made = tile ? `a ${width}x${height} image in ${tile.width}x${tile.height} tiles makes` : `${height} rows at ${rowsPerStrip} rows per strip make`;
    throw corrupt(`${offsets.length} ${kind}s, but ${made} ${layout.perPlane}${planes}`);
  }
  const strips = offsets.map((offset, i) => ({ offset, length: lengths[i]! }));
  strips.forEach(({ offset, length }, i) => {
    if (!(offset >= 0 && length >= 0 && offset + length <= fileLength)) {
      throw corrupt(`${kind} ${i} spans bytes ${offset}..${offset + length} but the file has ${fileLength}`);
    }
    const need = layout.chunk(i).length;
    if (compression === COMPRESSION.none && length < need) {
      throw corrupt(`${kind} ${i} holds ${length} bytes of pixel data, its rows of a ${width}x${height}x${channels} ${bitsPerSample}-bit image need ${need}`);
    }
  });
  return {
    width, height, channels, bitsPerSample: bitsPerSample as TiffInfo['bitsPerSample'], compression, fillOrder: fillOrder as 1 | 2, faxOptions,
    ...(colorMap ? { colorMap } : {}), littleEndian, rowsPerStrip, planarConfig, ...(tile ? { tile } : {}), strips,
  };
}

/** Compressions met in the wild that are not read, named in the refusal. */
const UNREAD_COMPRESSION: Record<number, string> = { 6: 'old-style JPEG', 7: 'JPEG', 32771: 'CCITT RLEW', 34712: 'JPEG 2000', 34925: 'LZMA', 50000: 'Zstandard', 50001: 'WebP' };

/**
 * A ColorMap (every red, then every green, then every blue; 16-bit) as 8-bit RGB triples: each
 * value's high byte, as libtiff and Pillow read it. A map whose values are all under 256 was
 * written with 8-bit values by an old writer (read as 16-bit it would be all but black); libtiff
 * takes those as they are, and so does this.
 */
function readColorMap(values: number[] | undefined, bits: number, corrupt: (what: string) => DataError): Uint8Array {
  const n = 1 << bits;
  if (!values || values.length !== 3 * n) throw corrupt(`palette image whose ColorMap holds ${values?.length ?? 0} values; ${bits}-bit indices need 3 x ${n}`);
  const eightBit = values.every((v) => v < 256);
  const map = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) map[3 * i + c] = eightBit ? values[c * n + i]! : values[c * n + i]! >>> 8;
  return map;
}

/**
 * Where chunk i (a strip or a tile) goes in the decoded bytes, planes one after the other (one
 * plane when chunky), each `perPlane` chunks: a strip is rowsPerStrip full rows (the plane's last
 * the rest), its bytes in place; a tile is its whole size even where it overhangs the image's
 * right or bottom edge, decoded apart and its rows inside the image copied in.
 */
function chunkLayout(info: Pick<TiffInfo, 'width' | 'height' | 'channels' | 'bitsPerSample' | 'rowsPerStrip' | 'planarConfig' | 'tile'>) {
  const { width, height, channels, bitsPerSample, rowsPerStrip, tile } = info;
  const planes = info.planarConfig === 2 ? channels : 1;
  const pixelBits = (channels / planes) * bitsPerSample;
  const rowBytes = Math.ceil((width * pixelBits) / 8); // a bilevel row ends on a byte
  const chunkWidth = tile?.width ?? width;
  const across = Math.ceil(width / chunkWidth);
  const perPlane = across * Math.ceil(height / rowsPerStrip);
  const chunkRowBytes = Math.ceil((chunkWidth * pixelBits) / 8);
  const chunk = (i: number) => {
    const j = i % perPlane;
    const x = (j % across) * chunkWidth;
    const y = Math.floor(j / across) * rowsPerStrip;
    const rows = tile ? rowsPerStrip : Math.min(rowsPerStrip, height - y);
    return { plane: Math.floor(i / perPlane), x, y, rows, length: rows * chunkRowBytes };
  };
  return { planes, perPlane, pixelBits, rowBytes, chunkRowBytes, bytes: planes * height * rowBytes, chunk };
}

/** Reads and checks the header of a TIFF without decoding pixels (cheap: no decompression). */
export function readTiffInfo(input: Uint8Array | ArrayBuffer, name = 'TIFF'): TiffInfo {
  const bytes = asBytes('readTiffInfo', input);
  const { ifd, littleEndian } = parseFirstIfd(bytes, name);
  return checkInfo(ifd, bytes.length, littleEndian, name);
}

/** Decodes the first image of a TIFF. `name` (the file) opens every error message. */
export function decodeTiff(input: Uint8Array | ArrayBuffer, name = 'TIFF'): TiffImage {
  const bytes = asBytes('decodeTiff', input);
  const { ifd, littleEndian } = parseFirstIfd(bytes, name);
  const info = checkInfo(ifd, bytes.length, littleEndian, name);
  const { width, height, channels, bitsPerSample } = info;
  const layout = chunkLayout(info);
  const coding = (chunkWidth: number) => ({ compression: info.compression, width: chunkWidth, fillOrder: info.fillOrder, faxOptions: info.faxOptions });
  const raw = new Uint8Array(layout.bytes);
  info.strips.forEach((s, i) => {
    const c = layout.chunk(i);
    const at = (c.plane * height + c.y) * layout.rowBytes + (c.x * layout.pixelBits) / 8;
    if (!info.tile) {
      decodeChunk(bytes, s, coding(width), raw.subarray(at, at + c.length), `${name}: strip ${i}`);
      return;
    }
    const tile = new Uint8Array(c.length);
    decodeChunk(bytes, s, coding(info.tile.width), tile, `${name}: tile ${i}`);
    const copy = Math.ceil((Math.min(info.tile.width, width - c.x) * layout.pixelBits) / 8);
    for (let r = 0; r < Math.min(c.rows, height - c.y); r++) {
      raw.set(tile.subarray(r * layout.chunkRowBytes, r * layout.chunkRowBytes + copy), at + r * layout.rowBytes);
    }
  });
  const samples = width * height * channels;
  let data: Uint8Array | Uint16Array = raw;
  if (bitsPerSample === 16) {
    const view = new DataView(raw.buffer);
    data = new Uint16Array(samples);
    for (let i = 0; i < samples; i++) data[i] = view.getUint16(2 * i, littleEndian);
  } else if (bitsPerSample < 8) {
    // Packed from the most significant bit, each row ending on a byte: a palette index, or a
    // bilevel gray pixel, 0 or 255.
    const perByte = 8 / bitsPerSample;
    const top = (1 << bitsPerSample) - 1;
    const scale = info.colorMap ? 1 : 255;
    data = new Uint8Array(samples);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const shift = 8 - bitsPerSample * ((x % perByte) + 1);
        data[y * width + x] = ((raw[y * layout.rowBytes + Math.floor(x / perByte)]! >>> shift) & top) * scale;
      }
    }
  }
  if (layout.planes > 1) data = interleave(data, layout.planes, width * height);
  // Horizontal differencing: each sample was stored as its difference from the pixel to its left
  // (modulo 2^bits, which the typed array's wrap-around gives), starting afresh at each row of
  // each tile.
  if (tag1(ifd, 317, 1) === 2) {
    const segment = info.tile?.width ?? width;
    for (let y = 0; y < height; y++) {
      for (let x = 1; x < width; x++) {
        if (x % segment === 0) continue;
        const i = (y * width + x) * channels;
        for (let k = i; k < i + channels; k++) data[k] = data[k]! + data[k - channels]!;
      }
    }
  }
  if (tag1(ifd, 262, channels >= 3 ? 2 : 1) === 0 && !tifffileBoolArray(ifd, bitsPerSample)) {
    const top = bitsPerSample === 16 ? 65535 : 255;
    for (let i = 0; i < samples; i++) data[i] = top - data[i]!;
  }
  if (info.colorMap) return { width, height, channels: 3, data: throughColorMap(data, info.colorMap) };
  return { width, height, channels, data };
}

/** Palette indices to the RGB colours their ColorMap gives them. */
function throughColorMap(indices: Uint8Array | Uint16Array, map: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(indices.length * 3);
  for (let p = 0; p < indices.length; p++) rgb.set(map.subarray(3 * indices[p]!, 3 * indices[p]! + 3), 3 * p);
  return rgb;
}

/**
 * A bool array as Python's tifffile writes one (`imwrite(path, mask > 0)`): 1-bit samples, True
 * as bit 1, labelled WhiteIsZero. tifffile reads its bits back as they are, True where 1, and so
 * does this reader, where the label alone would invert every such mask (tumour everywhere but
 * the tumour). Its Software tag, 'tifffile.py' unless the writer changed it, is the tell.
 */
function tifffileBoolArray(ifd: UtifIfd, bitsPerSample: number): boolean {
  const software = ifd.t305;
  return bitsPerSample === 1 && Array.isArray(software) && typeof software[0] === 'string' && software[0].startsWith('tifffile');
}

/** Planes [C, pixels] to interleaved [pixels, C]. */
function interleave<T extends Uint8Array | Uint16Array>(planar: T, planes: number, pixels: number): T {
  const out = planar.slice() as T;
  for (let c = 0; c < planes; c++) {
    for (let p = 0; p < pixels; p++) out[p * planes + c] = planar[c * pixels + p]!;
  }
  return out;
}

export type TiffCompression = 'none' | 'packbits' | 'deflate';

export interface EncodeTiffOptions {
  /** 'none' is how the LGG data set stores its slices. */
  compression?: TiffCompression;
  /** zlib-format compressor for 'deflate' (in Node: `zlib.deflateSync`); kept out of this file so it stays browser-safe. */
  deflate?: (bytes: Uint8Array) => Uint8Array;
  /** Rows per strip; the whole image in one strip when left out. */
  rowsPerStrip?: number;
}

const TAG_TYPE = { short: 3, long: 4, rational: 5 } as const;
type TagType = (typeof TAG_TYPE)[keyof typeof TAG_TYPE];
const TYPE_BYTES: Record<TagType, number> = { 3: 2, 4: 4, 5: 8 };

/**
 * Writes a little-endian baseline TIFF: header, the strips, then the IFD and its out-of-line
 * values. Gray for 1 channel, RGB for 3, RGB plus unassociated alpha for 4.
 */
export function encodeTiff(image: TiffImage, options: EncodeTiffOptions = {}): Uint8Array {
  const op = 'encodeTiff';
  if (typeof image !== 'object' || image === null) throw new ArgumentError(`${op}: image must be { width, height, channels, data }, got ${describeValue(image)}`);
  for (const key of ['width', 'height'] as const) expectNumber(op, key, image[key], { integer: true, min: 1 });
  expectOptions(op, options, "{ compression: 'packbits' }");
  // An unknown key or compression wrote the default, uncompressed, without a word.
  expectKnownOptions(op, options, ['compression', 'deflate', 'rowsPerStrip'], {});
  expectChoice(op, 'compression', options.compression, ['none', 'packbits', 'deflate']);
  expectOptionalNumber(op, 'rowsPerStrip', options.rowsPerStrip, { integer: true, min: 1 });
  const { width, height, channels, data } = image;
  const compression = options.compression ?? 'none';
  const bytesPerSample = data instanceof Uint16Array ? 2 : 1;
  if (!(data instanceof Uint8Array || data instanceof Uint16Array)) throw new DataError('encodeTiff: data must be a Uint8Array or Uint16Array');
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new DataError(`encodeTiff: ${channels} channels; 1, 3 or 4 are written`);
  if (!(width >= 1 && height >= 1) || data.length !== width * height * channels) {
    throw new DataError(`encodeTiff: ${data.length} samples do not make a ${width}x${height}x${channels} image`);
  }
  if (compression === 'deflate' && !options.deflate) throw new DataError("encodeTiff: compression 'deflate' needs options.deflate (zlib.deflateSync in Node)");
  const rowsPerStrip = Math.max(1, Math.min(options.rowsPerStrip ?? height, height));
  const rowBytes = width * channels * bytesPerSample;
  const pixels = new Uint8Array(width * height * channels * bytesPerSample);
  if (bytesPerSample === 1) pixels.set(data);
  else {
    const view = new DataView(pixels.buffer);
    for (let i = 0; i < data.length; i++) view.setUint16(2 * i, data[i]!, true);
  }

  const strips: Uint8Array[] = [];
  for (let y = 0; y < height; y += rowsPerStrip) {
    const raw = pixels.subarray(y * rowBytes, Math.min(height, y + rowsPerStrip) * rowBytes);
    if (compression === 'packbits') strips.push(packBitsRows(raw, rowBytes));
    else if (compression === 'deflate') strips.push(options.deflate!(raw));
    else strips.push(raw);
  }

  let offset = 8;
  const stripOffsets = strips.map((s) => {
    const at = offset;
    offset += s.length + (s.length & 1); // word-align what follows, as the spec recommends
    return at;
  });
  const code = { none: COMPRESSION.none, packbits: COMPRESSION.packBits, deflate: COMPRESSION.deflate }[compression];
  const tags: [number, TagType, number[]][] = [
    [256, TAG_TYPE.long, [width]],
    [257, TAG_TYPE.long, [height]],
    [258, TAG_TYPE.short, new Array<number>(channels).fill(bytesPerSample * 8)],
    [259, TAG_TYPE.short, [code]],
    [262, TAG_TYPE.short, [channels === 1 ? 1 : 2]],
    [273, TAG_TYPE.long, stripOffsets],
    [277, TAG_TYPE.short, [channels]],
    [278, TAG_TYPE.long, [rowsPerStrip]],
    [279, TAG_TYPE.long, strips.map((s) => s.length)],
    [282, TAG_TYPE.rational, [72, 1]],
    [283, TAG_TYPE.rational, [72, 1]],
    [284, TAG_TYPE.short, [1]],
    [296, TAG_TYPE.short, [2]],
  ];
  if (channels === 4) tags.push([338, TAG_TYPE.short, [2]]);

  const ifdOffset = offset;
  let extraOffset = ifdOffset + 2 + tags.length * 12 + 4;
  const extraBytes = tags.reduce((sum, [, type, values]) => {
    const n = (values.length / (type === TAG_TYPE.rational ? 2 : 1)) * TYPE_BYTES[type];
    return sum + (n > 4 ? n + (n & 1) : 0);
  }, 0);
  const out = new Uint8Array(extraOffset + extraBytes);
  const view = new DataView(out.buffer);
  out[0] = 0x49;
  out[1] = 0x49;
  view.setUint16(2, 42, true);
  view.setUint32(4, ifdOffset, true);
  strips.forEach((s, i) => out.set(s, stripOffsets[i]));
  view.setUint16(ifdOffset, tags.length, true);
  tags.forEach(([tag, type, values], i) => {
    const entry = ifdOffset + 2 + 12 * i;
    const count = type === TAG_TYPE.rational ? values.length / 2 : values.length;
    const size = count * TYPE_BYTES[type];
    view.setUint16(entry, tag, true);
    view.setUint16(entry + 2, type, true);
    view.setUint32(entry + 4, count, true);
    let at = entry + 8;
    if (size > 4) {
      view.setUint32(entry + 8, extraOffset, true);
      at = extraOffset;
      extraOffset += size + (size & 1);
    }
    values.forEach((v, j) => {
      if (type === TAG_TYPE.short) view.setUint16(at + 2 * j, v, true);
      else view.setUint32(at + 4 * j, v, true);
    });
  });
  view.setUint32(ifdOffset + 2 + 12 * tags.length, 0, true);
  return out;
}

/** PackBits, each row on its own as TIFF requires: runs of 3+ equal bytes repeat, the rest are literals. */
function packBitsRows(raw: Uint8Array, rowBytes: number): Uint8Array {
  const out: number[] = [];
  for (let row = 0; row < raw.length; row += rowBytes) {
    const end = row + rowBytes;
    let i = row;
    while (i < end) {
      let run = 1;
      while (i + run < end && run < 128 && raw[i + run] === raw[i]) run++;
      if (run >= 3) {
        out.push(257 - run, raw[i]!);
        i += run;
        continue;
      }
      const start = i;
      while (i < end && i - start < 128) {
        if (i + 2 < end && raw[i] === raw[i + 1] && raw[i] === raw[i + 2]) break;
        i++;
      }
      out.push(i - start - 1);
      for (let j = start; j < i; j++) out.push(raw[j]!);
    }
  }
  return Uint8Array.from(out);
}
