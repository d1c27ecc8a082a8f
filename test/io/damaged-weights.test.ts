// Damaged weight files end in a FormatError naming the file and what is wrong, never a stack trace
// from deep inside the reader (a TypeError on a malformed safetensors entry, a RangeError from
// DataView on a zip offset that a flipped byte sent outside the file).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readWeightFile } from '../../src/io/load-weights.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { isLegacyTorch, readTorch } from '../../src/io/torch.js';

const DIR = join(import.meta.dirname, '../fixtures/weights');

/** A safetensors file with a hand-written header (8-byte length, JSON) and `data` bytes after it. */
function withHeader(header: unknown, data = new Uint8Array(16)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function formatErrorOf(run: () => unknown): Promise<FormatError> {
  const error = await Promise.resolve().then(run).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FormatError);
  return error as FormatError;
}

describe('damaged safetensors headers', () => {
  const good = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };
  const cases: [string, unknown, string][] = [
    ['an entry without shape', { w: { dtype: 'F32', data_offsets: [0, 16] } }, "bad.safetensors: tensor 'w' has shape undefined"],
    ['a shape of strings', { w: { ...good, shape: ['2', 2] } }, "bad.safetensors: tensor 'w' has shape"],
    ['a fractional dimension', { w: { ...good, shape: [2.5, 2] } }, "bad.safetensors: tensor 'w' has shape"],
    ['an unknown dtype', { w: { ...good, dtype: 'F128' } }, "bad.safetensors: tensor 'w' has unsupported dtype"],
    ['a dtype named like an Object method', { w: { ...good, dtype: 'toString' } }, "bad.safetensors: tensor 'w' has unsupported dtype"],
    ['no data_offsets', { w: { dtype: 'F32', shape: [2, 2] } }, "bad.safetensors: tensor 'w' has data_offsets undefined"],
    ['negative offsets', { w: { ...good, data_offsets: [-4, 12] } }, "bad.safetensors: tensor 'w' has data_offsets"],
    ['offsets not matching the shape', { w: { ...good, data_offsets: [0, 12] } }, "bad.safetensors: tensor 'w' offsets [0, 12] do not match"],
    ['offsets past the data', { w: { ...good, data_offsets: [16, 32] } }, "bad.safetensors: truncated: tensor 'w'"],
    ['an entry that is a number', { w: 3 }, "bad.safetensors: tensor 'w' is not an object"],
    ['a numeric __metadata__.format', { __metadata__: { format: 7 }, w: good }, 'bad.safetensors: safetensors __metadata__.format is 7'],
    ['two tensors sharing bytes', { w: { ...good, shape: [2], data_offsets: [0, 8] }, v: { ...good, shape: [2], data_offsets: [4, 12] } }, "bad.safetensors: tensors 'w' [0, 8) and 'v' [4, 12) share bytes"],
  ];

  it.each(cases)('%s is a FormatError naming the file and the problem', async (_what, header, start) => {
    const error = await formatErrorOf(() => readWeightFile(withHeader(header), { name: 'bad.safetensors' }));
    expect(error.message.startsWith(start), error.message).toBe(true);
    const direct = await formatErrorOf(() => decodeSafetensors(withHeader(header), 'bad.safetensors'));
    expect(direct.message.startsWith(start), direct.message).toBe(true);
  });

  it('still reads a well-formed file', () => {
    const bytes = encodeSafetensors(new Map([['w', { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }]]), { format: 'pt' });
    const { tensors, metadata } = decodeSafetensors(bytes, 'ok.safetensors');
    expect(Array.from(tensors.get('w')!.data)).toEqual([1, 2, 3, 4]);
    expect(metadata).toEqual({ format: 'pt' });
  });
});

describe('zip .pt files with one byte flipped', () => {
  const zips = readdirSync(DIR).filter((n) => n.endsWith('.pt') && !isLegacyTorch(readFileSync(join(DIR, n))));

  it('covers the zip fixtures', () => expect(zips.length).toBeGreaterThanOrEqual(5));

  // The central directory and end record sit in the last few hundred bytes; every flip there
  // either still reads (a byte nobody checks) or is a FormatError naming the file.
  it.each(zips)('%s: every flip in the directory is read or a FormatError', async (name) => {
    const bytes = new Uint8Array(readFileSync(join(DIR, name)));
    const others: string[] = [];
    for (let i = Math.max(0, bytes.length - 700); i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i] ^= 0xff;
      try {
        await readTorch(bad, name);
      } catch (e) {
        if (!(e instanceof FormatError) || !e.message.startsWith(`${name}: `)) others.push(`byte ${i}: ${String(e)}`);
      }
    }
    expect(others, others.slice(0, 3).join('\n')).toEqual([]);
  });
});
