// Hostile and damaged torch.save files, built here byte by byte (a protocol-2 pickle of
// _rebuild_tensor_v2 calls inside a zip): every view, storage and zip size the file declares is
// checked before the reader allocates for it. The huge cases must be refused, not attempted, so
// none of these tests allocates more than a few tens of megabytes.

import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readTorch } from '../../src/io/torch.js';

// ---- a pickle writer: just the opcodes torch.save uses for a state dict ----

const enc = new TextEncoder();
const bytesOf = (...parts: (number | Uint8Array | number[])[]): number[] => parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p]));

function pickleValue(v: unknown): number[] {
  if (typeof v === 'string') {
    const s = enc.encode(v);
    return bytesOf(0x58, new Uint8Array(Uint32Array.of(s.length).buffer), s); // BINUNICODE
  }
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 2 ** 31) return bytesOf(0x4a, new Uint8Array(Int32Array.of(v).buffer)); // BININT
  if (typeof v === 'number' && Number.isInteger(v)) return bytesOf(0x8a, 8, new Uint8Array(BigInt64Array.of(BigInt(v)).buffer)); // LONG1
  if (typeof v === 'number') {
    const f = new DataView(new ArrayBuffer(8));
    f.setFloat64(0, v, false);
    return bytesOf(0x47, new Uint8Array(f.buffer)); // BINFLOAT
  }
  if (Array.isArray(v)) return bytesOf(0x28, ...v.map(pickleValue), 0x74); // MARK ... TUPLE
  throw new Error(`test pickler: ${String(v)}`);
}

const global = (module: string, name: string) => bytesOf(0x63, enc.encode(`${module}\n${name}\n`));

interface TensorSpec {
  key?: string;
  numel?: unknown;
  offset?: unknown;
  size: unknown[];
  stride: unknown[];
}

/** _rebuild_tensor_v2(storage, offset, size, stride, False, None), storage a persistent id. */
function pickleTensor(t: TensorSpec): number[] {
  const pid = bytesOf(0x28, pickleValue('storage'), global('torch', 'FloatStorage'), pickleValue(t.key ?? '0'), pickleValue('cpu'), pickleValue(t.numel ?? 6), 0x74, 0x51);
  const args = bytesOf(0x28, pid, pickleValue(t.offset ?? 0), pickleValue(t.size), pickleValue(t.stride), 0x89, 0x4e, 0x74);
  return bytesOf(global('torch._utils', '_rebuild_tensor_v2'), args, 0x52);
}

/** A dict of tensors; `self` adds 'state_dict' -> the dict itself (a cycle, through the memo). */
function statePickle(tensors: Record<string, TensorSpec>, opts: { self?: boolean; extra?: number[] } = {}): Uint8Array {
  const items = Object.entries(tensors).flatMap(([name, t]) => bytesOf(pickleValue(name), pickleTensor(t), 0x73));
  const cycle = opts.self ? bytesOf(pickleValue('state_dict'), 0x68, 0, 0x73) : [];
  return Uint8Array.from(bytesOf(0x80, 2, 0x7d, 0x71, 0, items, cycle, opts.extra ?? [], 0x2e));
}

// ---- a zip writer: stored or deflated entries, with sizes and CRCs that may lie ----

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface EntrySpec {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** The uncompressed size and CRC the directory declares (default: the data's). */
  size?: number;
  crcOf?: Uint8Array;
}

function zip(entries: EntrySpec[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const stored = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const fields = { method: e.deflate ? 8 : 0, crc: crc32(e.crcOf ?? e.data), csize: stored.length, size: e.size ?? e.data.length };
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(8, fields.method, true);
    local.setUint32(14, fields.crc, true);
    local.setUint32(18, fields.csize, true);
    local.setUint32(22, fields.size, true);
    local.setUint16(26, name.length, true);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true);
    dir.setUint16(10, fields.method, true);
    dir.setUint32(16, fields.crc, true);
    dir.setUint32(20, fields.csize, true);
    dir.setUint32(24, fields.size, true);
    dir.setUint16(28, name.length, true);
    dir.setUint32(42, offset, true);
    parts.push(new Uint8Array(local.buffer), name, stored);
    central.push(new Uint8Array(dir.buffer), name);
    offset += 30 + name.length + stored.length;
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  return Uint8Array.from(Buffer.concat([...parts, ...central, new Uint8Array(end.buffer)]));
}

/** A torch zip of `pickle` and storage '0' (six floats 0..5 unless given). */
function torchZip(pickle: Uint8Array, storage: Partial<EntrySpec> = {}, pkl: Partial<EntrySpec> = {}): Uint8Array {
  return zip([
    { name: 'archive/data.pkl', data: pickle, ...pkl },
    { name: 'archive/data/0', data: new Uint8Array(Float32Array.of(0, 1, 2, 3, 4, 5).buffer), ...storage },
  ]);
}

async function refusal(bytes: Uint8Array): Promise<FormatError> {
  const error = await readTorch(bytes, 'bad.pt').then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FormatError);
  expect((error as Error).message.startsWith('bad.pt: '), (error as Error).message).toBe(true);
  return error as FormatError;
}

describe('hand-built torch files: the builder makes what the reader reads', () => {
  it('a contiguous and a transposed view of one storage', async () => {
    const got = await readTorch(torchZip(statePickle({ w: { size: [2, 3], stride: [3, 1] }, t: { size: [3, 2], stride: [1, 3] } })), 'ok.pt');
    expect([...got.get('w')!.data]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...got.get('t')!.data]).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it("strips DataParallel's 'module.' prefix, and refuses a name that then meets another (one tensor would be lost)", async () => {
    const got = await readTorch(torchZip(statePickle({ 'module.w': { size: [6], stride: [1] } })), 'ok.pt');
    expect([...got.keys()]).toEqual(['w']);
    const e = await refusal(torchZip(statePickle({ 'module.w': { size: [6], stride: [1] }, w: { size: [3], stride: [2] } })));
    expect(e.message).toBe("bad.pt: the state dict holds both 'module.w' and 'w', one tensor 'w' without DataParallel's 'module.' prefix; keep one of them");
  });

  it('a Node Buffer that is a view into a larger pool reads the same floats', async () => {
    const file = torchZip(statePickle({ w: { size: [6], stride: [1] } }));
    const pool = new ArrayBuffer(file.length + 64);
    const buffer = Buffer.from(pool, 40, file.length);
    buffer.set(file);
    expect([...(await readTorch(buffer, 'buffer.pt')).get('w')!.data]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a deflated storage and a stride-0 (expanded) view', async () => {
    const got = await readTorch(torchZip(statePickle({ e: { offset: 2, size: [2, 3], stride: [0, 1] } }), { deflate: true }), 'ok.pt');
    expect([...got.get('e')!.data]).toEqual([2, 3, 4, 2, 3, 4]);
  });
});

describe('tensor views checked against their storage before anything is allocated', () => {
  const cases: [string, TensorSpec, string][] = [
    ['a fractional storage offset', { offset: 0.5, size: [2], stride: [1] }, 'storage offset 0.5'],
    ['a negative storage offset', { offset: -1, size: [2], stride: [1] }, 'storage offset -1'],
    ['a negative stride', { offset: 5, size: [3], stride: [-1] }, 'stride [-1]'],
    ['a fractional size', { size: [2.5], stride: [1] }, 'size [2.5]'],
    ['a size that is not a tuple', { size: 6 as unknown as unknown[], stride: [1] }, 'size 6'],
    ['size and stride of different ranks', { size: [2, 3], stride: [1] }, 'different ranks'],
    ['an offset past the storage', { offset: 6, size: [1], stride: [1] }, 'reads element 6 of a storage of 6'],
    ['a view reaching past the storage', { size: [2, 4], stride: [4, 1] }, 'reads element 7 of a storage of 6'],
    ['size [1e10] over one element (stride 0): more than a typed array', { size: [1e10], stride: [0] }, 'more than a typed array holds'],
    ['size [2^25] over one element (stride 0): 128 MB from 4 bytes', { size: [2 ** 25], stride: [0] }, 'copied out of strided views'],
    ['size [1e9] over one element (stride 0): 4 GB from 4 bytes', { size: [1e9], stride: [0] }, 'copied out of strided views'],
  ];
  it.each(cases)('%s: FormatError naming the file and the tensor', async (_what, spec, detail) => {
    const error = await refusal(torchZip(statePickle({ w: spec })));
    expect(error.message).toContain("tensor 'w'");
    expect(error.message).toContain(detail);
  });

  it('a storage id with a fractional element count is malformed', async () => {
    expect((await refusal(torchZip(statePickle({ w: { numel: 6.5, size: [2], stride: [1] } })))).message).toContain('malformed storage id');
  });

  it("a dict that holds itself as 'state_dict' is read once, not recursed into forever", async () => {
    const got = await readTorch(torchZip(statePickle({ w: { size: [6], stride: [1] } }, { self: true })), 'cycle.pt');
    expect([...got.keys()]).toEqual(['w']);
  });

  it('a tensor under a 100000-deep nested list key: FormatError, not a stack overflow', async () => {
    const depth = 100_000;
    // EMPTY_LIST x depth, then APPEND x (depth - 1): each list inside the one before.
    const key = [...new Array<number>(depth).fill(0x5d), ...new Array<number>(depth - 1).fill(0x61)];
    const extra = bytesOf(key, pickleTensor({ size: [6], stride: [1] }), 0x73);
    await refusal(torchZip(statePickle({}, { extra })));
  });
});

describe('zip entries: declared sizes checked before inflating, inflation bounded', () => {
  const zeros = (n: number) => new Uint8Array(n);
  const pickle = statePickle({ w: { size: [6], stride: [1] } });

  it('a deflated storage that inflates far past its declared size (a zip bomb) stops there', async () => {
    // 40 MB of zeros deflate to ~40 KB; the directory declares the 24 bytes the tensor needs.
    const error = await refusal(torchZip(pickle, { data: zeros(40 << 20), deflate: true, size: 24, crcOf: zeros(24) }));
    expect(error.message).toContain("zip entry 'archive/data/0' inflates past its declared 24 bytes");
  });

  it('a deflated storage declaring far more than its tensors read is refused before inflating', async () => {
    const bomb = torchZip(statePickle({ w: { numel: 10 << 20, size: [6], stride: [1] } }), { data: zeros(40 << 20), deflate: true });
    expect((await refusal(bomb)).message).toContain("zip entry 'archive/data/0' (storage of tensor 'w') declares 41943040 bytes");
  });

  it('a deflated pickle declaring more than deflate can expand to is refused before inflating', async () => {
    const error = await refusal(torchZip(pickle, {}, { deflate: true, size: 2 ** 30 - 1 }));
    expect(error.message).toContain("zip entry 'archive/data.pkl' declares 1073741823 bytes from");
  });

  it('a deflated pickle declaring more than 1 GB is refused before inflating', async () => {
    expect((await refusal(torchZip(pickle, {}, { deflate: true, size: 0xfffffff0 }))).message).toContain('more than the 1073741824');
  });

  it('a deflated storage that inflates to fewer bytes than declared', async () => {
    expect((await refusal(torchZip(pickle, { data: zeros(24), deflate: true, size: 28 }))).message).toContain("'archive/data/0'");
  });
});

describe('what the state dict search reports', () => {
  it('no tensors, and a key that is a 100000-deep nested list: FormatError listing the keys', async () => {
    const depth = 100_000;
    const key = [...new Array<number>(depth).fill(0x5d), ...new Array<number>(depth - 1).fill(0x61)];
    const error = await refusal(torchZip(statePickle({}, { extra: bytesOf(key, 0x4b, 1, 0x73) })));
    expect(error.message).toContain('no state dict found');
  });
});
