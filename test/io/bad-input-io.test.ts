// The bad-input sweep, part 6: dn.io's encoders and decoders (weights, safetensors, conv tuning).
// Each row is a DawnetError naming the function and the argument, with nothing allocated or
// dispatched (none of them reaches a file: the refusals come first); the controls encode a model
// and read it back.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectAllRefused, useSweep, type BadRow } from '../helpers/bad-input.js';

const f = useSweep(() => ({}));
const { ArgumentError: Arg, FormatError: Fmt } = dn;
let net: dn.nn.Linear;
let bytes: Uint8Array;
let dir: string;
beforeAll(async () => {
  net = new dn.nn.Linear(2, 1, { seed: 1 });
  bytes = await dn.io.encodeWeights(net);
  dir = await mkdtemp(join(tmpdir(), 'dawnet-bad-io-'));
});
afterAll(async () => {
  net?.dispose();
  await rm(dir, { recursive: true, force: true });
});
const host = (shape: unknown, data: unknown) => new Map([['w', { shape, data }]]) as never;

const rows = (): BadRow[] => [
  ...[
    ['model a tensor', () => dn.io.loadWeights(f.stale as never, bytes), 'model', Arg],
    ['source a number', () => dn.io.loadWeights(net, 3 as never), 'source', Arg],
    ['source a Float32Array', () => dn.io.loadWeights(net, new Float32Array(4) as never), 'source', Arg],
    ['an unknown option', () => dn.io.loadWeights(net, bytes, { stict: false } as never), 'stict', Arg],
    ['options a string', () => dn.io.loadWeights(net, bytes, 'strict' as never), 'options', Arg],
    ["format 'onnx'", () => dn.io.loadWeights(net, bytes, { format: 'onnx' as never }), 'format', Arg],
    ["strict 'no'", () => dn.io.loadWeights(net, bytes, { strict: 'no' as never }), 'strict', Arg],
    ['name a number', () => dn.io.loadWeights(net, bytes, { name: 3 as never }), 'name', Arg],
    ['bytes of nothing known', () => dn.io.loadWeights(net, new Uint8Array(16)), '<bytes>', Fmt],
  ].map(([what, call, names, cls]): BadRow => ({ op: names === '<bytes>' ? '<bytes>' : 'loadWeights', what: what as string, names: names as string, cls: cls as typeof Arg, call: call as () => unknown })),
  { op: 'readWeightFile', what: 'input a number', names: 'input', cls: Arg, call: () => dn.io.readWeightFile(5 as never) },
  { op: 'readWeightFile', what: 'input an array', names: 'input', cls: Arg, call: () => dn.io.readWeightFile([1, 2] as never) },
  { op: 'readWeightFile', what: 'an unknown option', names: 'layout', cls: Arg, call: () => dn.io.readWeightFile(bytes, { layout: 'torch' } as never) },
  { op: 'detectFormat', what: 'bytes a string', names: 'bytes', cls: Arg, call: () => dn.io.detectFormat('PK\x03\x04' as never, 'x') },
  { op: 'detectFormat', what: 'bytes an array', names: 'bytes', cls: Arg, call: () => dn.io.detectFormat([0x50, 0x4b, 3, 4] as never, 'x') },
  { op: 'convertWeights', what: 'inPath a number', names: 'inPath', cls: Arg, call: () => dn.io.convertWeights(3 as never, join(dir, 'out.safetensors')) },
  { op: 'convertWeights', what: 'outPath left out', names: 'outPath', cls: Arg, call: () => (dn.io.convertWeights as (a: string) => unknown)(join(dir, 'in.safetensors')) },
  { op: 'convertWeights', what: 'an unknown option', names: 'kind', cls: Arg, call: () => dn.io.convertWeights(join(dir, 'a'), join(dir, 'b'), { kind: 'vgg16' } as never) },
  { op: 'convertWeights', what: "model 'resnet'", names: 'model', cls: Arg, call: () => dn.io.convertWeights(join(dir, 'a'), join(dir, 'b'), { model: 'resnet' as never }) },
  { op: 'encodeWeights', what: 'model an object', names: 'model', cls: Arg, call: () => dn.io.encodeWeights({ stateDict: () => new Map() } as never) },
  { op: 'encodeWeights', what: 'metadata a string', names: 'metadata', cls: Arg, call: () => dn.io.encodeWeights(net, 'v1' as never) },
  { op: 'encodeWeights', what: 'a metadata value that is a number', names: 'metadata.epoch', cls: Arg, call: () => dn.io.encodeWeights(net, { epoch: 3 } as never) },
  { op: 'saveWeights', what: 'path a number', names: 'path', cls: Arg, call: () => dn.io.saveWeights(net, 3 as never) },
  { op: 'saveWeights', what: 'a metadata value that is an object', names: 'metadata.run', cls: Arg, call: () => dn.io.saveWeights(net, join(dir, 'w.safetensors'), { run: {} } as never) },
  { op: 'encodeSafetensors', what: 'tensors a plain object', names: 'tensors', cls: Arg, call: () => dn.io.encodeSafetensors({ w: { shape: [1], data: new Float32Array(1) } } as never) },
  { op: 'encodeSafetensors', what: 'data shorter than its shape', names: 'w', cls: dn.ShapeError, call: () => dn.io.encodeSafetensors(host([2, 2], new Float32Array(3))) },
  { op: 'encodeSafetensors', what: 'data a Float64Array', names: 'w', cls: Arg, call: () => dn.io.encodeSafetensors(host([2], new Float64Array(2))) },
  { op: 'encodeSafetensors', what: 'data a plain array', names: 'w', cls: Arg, call: () => dn.io.encodeSafetensors(host([2], [1, 2])) },
  { op: 'encodeSafetensors', what: 'a negative size', names: 'w', cls: dn.ShapeError, call: () => dn.io.encodeSafetensors(host([-1, -2], new Float32Array(2))) },
  { op: 'encodeSafetensors', what: 'a fractional size', names: 'w', cls: dn.ShapeError, call: () => dn.io.encodeSafetensors(host([0.5, 4], new Float32Array(2))) },
  { op: 'encodeSafetensors', what: "a tensor named '__metadata__'", names: '__metadata__', cls: Arg, call: () => dn.io.encodeSafetensors(new Map([['__metadata__', { shape: [1], data: new Float32Array(1) }]])) },
  { op: 'encodeSafetensors', what: 'a metadata value that is a number', names: 'metadata.step', cls: Arg, call: () => dn.io.encodeSafetensors(new Map(), { step: 1 } as never) },
  { op: 'decodeSafetensors', what: 'input a string', names: 'input', cls: Arg, call: () => dn.io.decodeSafetensors('abc' as never, 'x') },
  { op: 'decodeSafetensors', what: 'input left out', names: 'input', cls: Arg, call: () => (dn.io.decodeSafetensors as () => unknown)() },
  { op: 'saveConvTuning', what: 'path a number', names: 'path', cls: Arg, call: () => dn.io.saveConvTuning(3 as never) },
  { op: 'loadConvTuning', what: 'path left out', names: 'path', cls: Arg, call: () => (dn.io.loadConvTuning as () => unknown)() },
];

describe('bad input to dn.io', () => {
  it('every row is refused by name, before any GPU work', async () => {
    await expectAllRefused(rows());
  });

  it('controls: weights and safetensors encode and decode, tuning saves and loads', async () => {
    const other = new dn.nn.Linear(2, 1, { seed: 2 });
    const report = await dn.io.loadWeights(other, bytes, { strict: true, format: 'safetensors', name: 'mine' });
    expect(report.loaded.sort()).toEqual(['bias', 'weight']);
    expect(Array.from(await other.weight.toArray())).toEqual(Array.from(await net.weight.toArray()));
    other.dispose();
    expect(dn.io.detectFormat(bytes, 'mine')).toBe('safetensors');
    expect((await dn.io.readWeightFile(bytes.buffer as ArrayBuffer)).format).toBe('safetensors');
    const meta = { epoch: '3' };
    const decoded = dn.io.decodeSafetensors(await dn.io.encodeWeights(net, meta), 'mine');
    expect(decoded.metadata).toMatchObject(meta);
    const round = dn.io.decodeSafetensors(dn.io.encodeSafetensors(host([2, 2], new Float32Array([1, 2, 3, 4])), { a: 'b' }), 'x');
    expect(Array.from(round.tensors.get('w')!.data)).toEqual([1, 2, 3, 4]);
    await dn.io.saveWeights(net, join(dir, 'w.safetensors'), { run: 'one' });
    const converted = await dn.io.convertWeights(join(dir, 'w.safetensors'), join(dir, 'c.safetensors'), { format: 'auto' });
    expect(converted.written.sort()).toEqual(['bias', 'weight']);
    expect(await dn.io.saveConvTuning(join(dir, 't.json'))).toBe(dn.convTuning().convs.length);
    expect(await dn.io.loadConvTuning(join(dir, 't.json'))).toBe(dn.convTuning().convs.length);
  });
});
