// CCITT fax coding of 1-bit TIFF strips and tiles, written from ITU-T T.4 and T.6: Modified
// Huffman (TIFF Compression 2: T.4's one-dimensional code, each row starting on a byte, no EOLs),
// T.4 / Group 3 (Compression 3: an EOL before each row, T4Options bit 0 for two-dimensional
// coding with a tag bit after each EOL, bit 2 for fill zeros that end each EOL on a byte) and
// T.6 / Group 4 (Compression 4: every row two-dimensional, no EOLs, EOFB at the end). Each strip
// or tile starts afresh, its first reference line white.
//
// A row is coded as alternating runs that the spec calls white and black, starting white. They are
// written as the bits 0 and 1 (MSB first, each row ending on a byte): the strip comes out as an
// uncompressed 1-bit strip, and PhotometricInterpretation then says which bit shows white, as for
// any other strip. libtiff decodes them the same way, and it is how tiffcp, Pillow and ImageJ
// write a mask: a WhiteIsZero mask's black runs are its set pixels, a BlackIsZero one's white runs.
//
// As the other codecs: a stream that ends inside a row, holds a code T.4 does not define, puts a
// run past the row's end or leaves anything but EOLs and fill after its last row is a DataError
// naming the chunk and the row, never a half-filled strip.

import { DataError } from './errors.js';

export const FAX_COMPRESSION = { modifiedHuffman: 2, group3: 3, group4: 4 } as const;

const FAX_NAMES: Record<number, string> = { 2: 'CCITT Modified Huffman', 3: 'CCITT Group 3', 4: 'CCITT Group 4' };

// T.4's Tables 2 and 3: the code of each run length. Terminating codes for runs 0..63 in order,
// make-up codes for 64, 128, ... 1728, and the make-up codes both colours share for 1792 ... 2560.
// A run is make-up codes (for a long run, several) then one terminating code.
const WHITE_TERMINATING = `
  00110101 000111 0111 1000 1011 1100 1110 1111 10011 10100 00111 01000 001000 000011 110100 110101
  101010 101011 0100111 0001100 0001000 0010111 0000011 0000100 0101000 0101011 0010011 0100100
  0011000 00000010 00000011 00011010 00011011 00010010 00010011 00010100 00010101 00010110 00010111
  00101000 00101001 00101010 00101011 00101100 00101101 00000100 00000101 00001010 00001011 01010010
  01010011 01010100 01010101 00100100 00100101 01011000 01011001 01011010 01011011 01001010 01001011
  00110010 00110011 00110100`;
const WHITE_MAKEUP = `
  11011 10010 010111 0110111 00110110 00110111 01100100 01100101 01101000 01100111 011001100 011001101
  011010010 011010011 011010100 011010101 011010110 011010111 011011000 011011001 011011010 011011011
  010011000 010011001 010011010 011000 010011011`;
const BLACK_TERMINATING = `
  0000110111 010 11 10 011 0011 0010 00011 000101 000100 0000100 0000101 0000111 00000100 00000111
  000011000 0000010111 0000011000 0000001000 00001100111 00001101000 00001101100 00000110111
  00000101000 00000010111 00000011000 000011001010 000011001011 000011001100 000011001101 000001101000
  000001101001 000001101010 000001101011 000011010010 000011010011 000011010100 000011010101
  000011010110 000011010111 000001101100 000001101101 000011011010 000011011011 000001010100
  000001010101 000001010110 000001010111 000001100100 000001100101 000001010010 000001010011
  000000100100 000000110111 000000111000 000000100111 000000101000 000001011000 000001011001
  000000101011 000000101100 000001011010 000001100110 000001100111`;
const BLACK_MAKEUP = `
  0000001111 000011001000 000011001001 000001011011 000000110011 000000110100 000000110101
  0000001101100 0000001101101 0000001001010 0000001001011 0000001001100 0000001001101 0000001110010
  0000001110011 0000001110100 0000001110101 0000001110110 0000001110111 0000001010010 0000001010011
  0000001010100 0000001010101 0000001011010 0000001011011 0000001100100 0000001100101`;
const EXTENDED_MAKEUP = `
  00000001000 00000001100 00000001101 000000010010 000000010011 000000010100 000000010101
  000000010110 000000010111 000000011100 000000011101 000000011110 000000011111`;
const EOL = '000000000001';

// T.4's Table 4: the two-dimensional modes. Vertical modes carry a1 - b1 (-3..3).
const PASS = 10;
const HORIZONTAL = 11;
const EXTENSION = 12; // 0000001xxx: an extension code (uncompressed mode), not read
const VERTICAL_CODES: [string, number][] = [['1', 0], ['011', 1], ['000011', 2], ['0000011', 3], ['010', -1], ['000010', -2], ['0000010', -3]];
const EOL_VALUE = -100;

/** Every code is looked up by the next 13 bits (the longest code's length). */
const PEEK = 13;

interface CodeTable {
  length: Uint8Array;
  value: Int16Array;
}

/** A table indexed by the next PEEK bits; building it proves the codes prefix-free (a clash throws). */
function codeTable(codes: [string, number][]): CodeTable {
  const table = { length: new Uint8Array(1 << PEEK), value: new Int16Array(1 << PEEK) };
  for (const [code, value] of codes) {
    const first = parseInt(code, 2) << (PEEK - code.length);
    for (let i = first; i < first + (1 << (PEEK - code.length)); i++) {
      if (table.length[i]) throw new Error(`tiff-ccitt: code ${code} clashes with another`);
      table.length[i] = code.length;
      table.value[i] = value;
    }
  }
  return table;
}

const words = (s: string) => s.trim().split(/\s+/);
function runTable(terminating: string, makeup: string): CodeTable {
  const codes: [string, number][] = words(terminating).map((c, run) => [c, run]);
  // A code dropped from a table would shift every run after it.
  if (codes.length !== 64 || words(makeup).length !== 27 || words(EXTENDED_MAKEUP).length !== 13) throw new Error('tiff-ccitt: a run table lost a code');
  [...words(makeup), ...words(EXTENDED_MAKEUP)].forEach((c, i) => codes.push([c, 64 * (i + 1)]));
  codes.push([EOL, EOL_VALUE]);
  return codeTable(codes);
}

const RUNS = [runTable(WHITE_TERMINATING, WHITE_MAKEUP), runTable(BLACK_TERMINATING, BLACK_MAKEUP)] as const;
const MODES = codeTable([['0001', PASS], ['001', HORIZONTAL], ['0000001', EXTENSION], [EOL, EOL_VALUE], ...VERTICAL_CODES]);

export interface FaxCoding {
  compression: number;
  /** Pixels in a row of the chunk (a tile's width for a tile). */
  width: number;
  /** T4Options (Compression 3) or T6Options (Compression 4); 0 when absent. */
  options: number;
}

class FaxError extends Error {}

/** MSB-first bits of a stream; past its end, zeros (a code that needs them is refused by `take`). */
class BitReader {
  pos = 0;
  readonly end: number;
  constructor(private readonly bytes: Uint8Array) {
    this.end = bytes.length * 8;
  }

  peek(n: number): number {
    const b = this.pos >>> 3;
    const v = ((this.bytes[b] ?? 0) << 16) | ((this.bytes[b + 1] ?? 0) << 8) | (this.bytes[b + 2] ?? 0);
    return (v >>> (24 - (this.pos & 7) - n)) & ((1 << n) - 1);
  }

  /** The next code of `table`, its bits consumed. */
  take(table: CodeTable): number {
    if (this.pos >= this.end) throw new FaxError('the data ends inside the row');
    const i = this.peek(PEEK);
    const length = table.length[i]!;
    if (!length) throw new FaxError(`bits ${i.toString(2).padStart(PEEK, '0')} at bit ${this.pos} begin no code T.4 defines`);
    if (this.pos + length > this.end) throw new FaxError('the data ends inside a code');
    this.pos += length;
    return table.value[i]!;
  }

  /** Consumes an EOL, with any fill zeros before it; false (nothing consumed) where none comes next. */
  eol(): boolean {
    let at = this.pos;
    while (at < this.end && ((this.bytes[at >>> 3]! >>> (7 - (at & 7))) & 1) === 0) at++;
    if (at >= this.end || at - this.pos < 11) return false;
    this.pos = at + 1;
    return true;
  }

  bit(): number {
    if (this.pos >= this.end) throw new FaxError('the data ends before a two-dimensional tag bit');
    const b = this.peek(1);
    this.pos++;
    return b;
  }

  /** Whether every bit left is zero (fill). */
  zerosToEnd(): boolean {
    for (let at = this.pos; at < this.end; at++) if ((this.bytes[at >>> 3]! >>> (7 - (at & 7))) & 1) return false;
    return true;
  }
}

/** One run of `colour` (0 white, 1 black): make-up codes, then a terminating code. */
function readRun(bits: BitReader, colour: number): number {
  let run = 0;
  for (;;) {
    const v = bits.take(RUNS[colour as 0 | 1]);
    if (v === EOL_VALUE) throw new FaxError('an EOL inside the row');
    run += v;
    if (v < 64) return run;
  }
}

/** A row in T.4's one-dimensional code: runs from white, until they fill it. */
function decode1D(bits: BitReader, line: Uint8Array): void {
  const width = line.length;
  let colour = 0;
  for (let x = 0; x < width; colour ^= 1) {
    const run = readRun(bits, colour);
    if (x + run > width) throw new FaxError(`a run of ${run} from pixel ${x} passes the row's end at ${width}`);
    line.fill(colour, x, x + run);
    x += run;
  }
}

/**
 * A row in the two-dimensional code, against `ref` (the row above's changing elements, then the
 * width three times, so b1 and b2 always exist). a0 starts on an imaginary white pixel before the
 * row; b1 is the first change on the reference row right of a0 to the colour opposite a0's.
 */
function decode2D(bits: BitReader, line: Uint8Array, ref: Int32Array): void {
  const width = line.length;
  let a0 = -1;
  let colour = 0;
  let k = 0;
  while (a0 < width) {
    while (ref[k]! <= a0) k++;
    // Even entries of ref are changes to black, odd ones back to white.
    const i = (k & 1) === colour ? k : k + 1;
    const b1 = ref[i]!;
    const b2 = ref[i + 1]!;
    const start = Math.max(a0, 0);
    const mode = bits.take(MODES);
    if (mode === PASS) {
      line.fill(colour, start, b2);
      a0 = b2;
    } else if (mode === HORIZONTAL) {
      const a1 = start + readRun(bits, colour);
      const a2 = a1 + readRun(bits, colour ^ 1);
      if (a2 > width) throw new FaxError(`runs from pixel ${start} end at ${a2}, past the row's end at ${width}`);
      line.fill(colour, start, a1);
      line.fill(colour ^ 1, a1, a2);
      a0 = a2;
    } else if (mode === EXTENSION) {
      throw new FaxError('uncompressed mode (a T.4 extension code), which is not read; rewrite the file with `tiffcp -c none in.tif out.tif`');
    } else if (mode === EOL_VALUE) {
      throw new FaxError(`an EOL at pixel ${start} of ${width}`);
    } else {
      const a1 = b1 + mode;
      if (a1 < start || a1 > width) throw new FaxError(`a vertical mode puts the next change at pixel ${a1}, outside ${start}..${width}`);
      line.fill(colour, start, a1);
      a0 = a1;
      colour ^= 1;
    }
  }
}

/** The changing elements of a decoded row (where a pixel differs from the one before; white before the first), then three sentinels. */
function changes(line: Uint8Array, ref: Int32Array): void {
  let n = 0;
  let previous = 0;
  for (let x = 0; x < line.length; x++) {
    if (line[x] !== previous) ref[n++] = x;
    previous = line[x]!;
  }
  ref.fill(line.length, n, n + 3);
}

/**
 * Decodes one fax-coded strip or tile into `rows` (packed 1-bit rows, each ending on a byte),
 * which it must fill exactly. `what` names the chunk for errors.
 */
export function decodeFaxChunk(stream: Uint8Array, rows: Uint8Array, coding: FaxCoding, what: string): void {
  const { compression, width } = coding;
  const label = `${what} (${FAX_NAMES[compression]})`;
  const rowBytes = Math.ceil(width / 8);
  const count = rows.length / rowBytes;
  const twoDimensional = compression === FAX_COMPRESSION.group3 && (coding.options & 1) === 1;
  const bits = new BitReader(stream);
  const line = new Uint8Array(width);
  const ref = new Int32Array(width + 3);
  changes(line, ref);
  let row = 0;
  try {
    for (; row < count; row++) {
      let coded2D = compression === FAX_COMPRESSION.group4;
      if (compression === FAX_COMPRESSION.modifiedHuffman) bits.pos = Math.ceil(bits.pos / 8) * 8;
      if (compression === FAX_COMPRESSION.group3) {
        const eol = bits.eol();
        // One-dimensional rows may leave their EOL out (some writers drop the first); a
        // two-dimensional stream's tag bit after the EOL is what says how the row is coded.
        if (twoDimensional && !eol) throw new FaxError('no EOL before the row, where two-dimensional coding puts one with its tag bit');
        if (twoDimensional) coded2D = bits.bit() === 0;
      }
      line.fill(0);
      if (coded2D) decode2D(bits, line, ref);
      else decode1D(bits, line);
      changes(line, ref);
      const out = rows.subarray(row * rowBytes, (row + 1) * rowBytes);
      out.fill(0);
      for (let x = 0; x < width; x++) if (line[x]) out[x >>> 3]! |= 0x80 >>> (x & 7);
    }
    checkTail(bits, twoDimensional);
  } catch (e) {
    if (!(e instanceof FaxError)) throw e;
    const where = row < count ? `row ${row} of ${count}` : `after its ${count} rows`;
    const unsupported = e.message.startsWith('uncompressed mode');
    throw new DataError(`${label} is ${unsupported ? 'unsupported' : 'corrupt'} (${where}: ${e.message})`);
  }
}

/** After the last row only EOLs (T.4's RTC, T.6's EOFB; with their tag bits) and zero fill may follow. */
function checkTail(bits: BitReader, twoDimensional: boolean): void {
  while (bits.eol()) {
    if (twoDimensional && bits.pos < bits.end && bits.peek(1) === 1) bits.pos++;
  }
  const left = bits.end - bits.pos;
  if (!bits.zerosToEnd()) throw new FaxError(`${left} bits left that are not EOLs or fill zeros`);
}
