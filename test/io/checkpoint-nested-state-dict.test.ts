// Training scripts nest the state dict in a checkpoint dict. Under a known key ('state_dict',
// 'model', ...) it was always found; under a key of the script's own ('model_ema' beside 'epoch',
// or 'checkpoint' -> 'model') the reader said 'no state dict found'. The one dict of tensors
// there is taken; two are refused, naming both.

import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readTorch } from '../../src/io/torch.js';
import { zipSync } from './stored-zip.js';

const enc = new TextEncoder();
const bytesOf = (...parts: (number | Uint8Array | number[])[]): number[] => parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p]));
const str = (s: string) => bytesOf(0x58, new Uint8Array(Uint32Array.of(enc.encode(s).length).buffer), enc.encode(s)); // BINUNICODE
const int = (n: number) => bytesOf(0x4a, new Uint8Array(Int32Array.of(n).buffer)); // BININT
const tuple = (...items: number[][]) => bytesOf(0x28, ...items, 0x74); // MARK ... TUPLE
const global = (module: string, name: string) => bytesOf(0x63, enc.encode(`${module}\n${name}\n`));

/** _rebuild_tensor_v2 of storage '0' (two floats) as [2]. */
const tensor = () => {
  const pid = bytesOf(tuple(str('storage'), global('torch', 'FloatStorage'), str('0'), str('cpu'), int(2)), 0x51); // BINPERSID
  return bytesOf(global('torch._utils', '_rebuild_tensor_v2'), tuple(pid, int(0), tuple(int(2)), tuple(int(1)), [0x89], [0x4e]), 0x52);
};

type Value = 'tensor' | number | { [key: string]: Value };
const value = (v: Value): number[] =>
  v === 'tensor' ? tensor() : typeof v === 'number' ? int(v) : bytesOf(0x7d, ...Object.entries(v).map(([k, x]) => bytesOf(str(k), value(x), 0x73))); // EMPTY_DICT, SETITEM

function torchFile(root: Value): Uint8Array {
  return zipSync([
    { name: 'archive/data.pkl', data: Uint8Array.from(bytesOf(0x80, 2, value(root), 0x2e)) },
    { name: 'archive/data/0', data: new Uint8Array(Float32Array.of(0.5, -1).buffer) },
  ]);
}

const weights = { 'conv.weight': 'tensor', 'conv.bias': 'tensor' } as const;

describe('readTorch: a state dict under a key of the checkpoint\'s own', () => {
  const cases = [
    { what: "'model_ema' beside an epoch", root: { epoch: 3, model_ema: weights } },
    { what: "'checkpoint' -> 'model'", root: { checkpoint: { model: weights } } },
    { what: "'ema' with 'module.' names", root: { epoch: 1, ema: { 'module.conv.weight': 'tensor', 'module.conv.bias': 'tensor' } } },
  ] as const;
  for (const c of cases) {
    it(c.what, async () => {
      const got = await readTorch(torchFile(c.root), 'ckpt.pth');
      expect([...got.keys()]).toEqual(['conv.weight', 'conv.bias']);
      expect(got.get('conv.bias')!.data).toEqual(Float32Array.of(0.5, -1));
    });
  }

  it('a known key still wins over another dict of tensors', async () => {
    const got = await readTorch(torchFile({ model_ema: { 'ema.weight': 'tensor' }, state_dict: weights }), 'ckpt.pth');
    expect([...got.keys()]).toEqual(['conv.weight', 'conv.bias']);
  });

  it('two dicts of tensors under unknown keys: FormatError naming both', async () => {
    const error = await readTorch(torchFile({ student: weights, teacher: weights }), 'ckpt.pth').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/^ckpt\.pth: several dicts of tensors \('student', 'teacher'\)/);
  });
});
