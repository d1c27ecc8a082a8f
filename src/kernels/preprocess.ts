// Input preprocessing on the GPU: a per-channel permutation and affine map over NHWC data,
//   out[n, h, w, c] = x[n, h, w, perm[c]] * scale[c] + shift[c]     (C <= 4)
// which covers Keras's "caffe" mode (RGB->BGR, subtract the ImageNet BGR mean on 0..255 input),
// torchvision's (x/255 - mean) / std, and plain rescaling. Not differentiable: it feeds inputs.

import { ArgumentError, ShapeError } from '../errors.js';
import { packParams, u32, f32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectChoice, expectKnownOptions, expectNumber, expectOptions, expectTensor } from '../graph/args.js';
import { emptyTensor, type Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

const spec: KernelSpec = {
  name: 'preprocess.channelAffine',
  key: '',
  inputs: 1,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { n: u32, channels: u32, p0: u32, p1: u32, p2: u32, p3: u32,
  s0: f32, s1: f32, s2: f32, s3: f32, b0: f32, b1: f32, b2: f32, b3: f32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  let c = i % params.channels;
  let perm = array<u32, 4>(params.p0, params.p1, params.p2, params.p3);
  let scale = array<f32, 4>(params.s0, params.s1, params.s2, params.s3);
  let shift = array<f32, 4>(params.b0, params.b1, params.b2, params.b3);
  out[i] = src[i - c + perm[c]] * scale[c] + shift[c];
}`,
};

export interface ChannelAffine {
  /** Source channel of each output channel. */
  perm: number[];
  scale: number[];
  shift: number[];
}

export function channelAffine(x: Tensor, a: ChannelAffine): Tensor {
  const op = 'channelAffine';
  expectTensor(op, 'input x', x);
  expectOptions(op, a, '{ perm: [0, 1, 2], scale: [1, 1, 1], shift: [0, 0, 0] }', true);
  expectKnownOptions(op, a, ['perm', 'scale', 'shift'], {});
  const c = x.rank ? x.shape[x.rank - 1] : 0;
  if (c < 1 || c > 4) throw new ShapeError(`${op}: input x must have 1 to 4 channels on its last axis, got ${x.describe()}`);
  // Each entry reaches a uniform as it is: a NaN scale or a fractional perm would compute garbage silently.
  for (const key of ['perm', 'scale', 'shift'] as const) {
    const v: unknown = a[key];
    if (!Array.isArray(v)) throw new ArgumentError(`${op}: ${key} must be an array of ${c} numbers, got ${describeValue(v)}`);
    if (v.length !== c) throw new ShapeError(`${op}: ${key} has ${v.length} entries for the ${c} channels of ${x.describe()}`);
    v.forEach((e, i) => expectNumber(op, `${key}[${i}]`, e, key === 'perm' ? { integer: true, min: 0, below: c } : {}));
  }
  const pad = (v: number[], fill: number): number[] => [...v, ...new Array(4 - v.length).fill(fill)];
  const out = emptyTensor(x.shape, 'preprocess.out');
  runtime().dispatch(
    spec,
    {
      inputs: [x.slice],
      outputs: [out.slice],
      params: packParams([
        u32(x.size), u32(c),
        ...pad(a.perm, 0).map(u32), ...pad(a.scale, 1).map(f32), ...pad(a.shift, 0).map(f32),
      ]),
    },
    linearGrid(x.size),
  );
  return out;
}

/** ImageNet statistics, as Keras's imagenet_utils and torchvision define them. */
export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68];
export const TORCH_MEAN = [0.485, 0.456, 0.406];
export const TORCH_STD = [0.229, 0.224, 0.225];

/**
 * Preprocessing for imported VGG16 weights from RGB input in [0, 1]:
 * 'caffe' (Keras): x*255, RGB->BGR, minus the BGR mean; 'torch': (x - mean) / std.
 */
export function imagenetPreprocess(x: Tensor, mode: 'caffe' | 'torch'): Tensor {
  expectTensor('imagenetPreprocess', 'input x', x);
  expectChoice('imagenetPreprocess', 'mode', mode, ['caffe', 'torch'], false);
  if (x.shape.at(-1) !== 3) throw new ShapeError(`imagenetPreprocess: input x must have 3 channels (RGB) on its last axis, got ${x.describe()}`);
  if (mode === 'caffe') {
    return channelAffine(x, { perm: [2, 1, 0], scale: [255, 255, 255], shift: CAFFE_BGR_MEAN.map((m) => -m) });
  }
  return channelAffine(x, { perm: [0, 1, 2], scale: TORCH_STD.map((s) => 1 / s), shift: TORCH_MEAN.map((m, i) => -m / TORCH_STD[i]) });
}
