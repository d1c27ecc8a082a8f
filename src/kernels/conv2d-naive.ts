// The naive conv2d kernels: one thread per output element (of y, dx or dw), looping over its
// window straight from the definition. Kept beside the fast GEMM kernels (conv2d.ts) as a second
// opinion: the tests check both against the CPU reference and the bench races them
// ('conv2d-naive' group).

import { packParams, i32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { emptyTensor, type Shape, type Tensor } from '../graph/tensor.js';
import { checkBias, checkGradShape, conv2dGeometry, type Conv2dOptions, type ConvGeometry } from './conv2d.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex } from './wgsl.js';

const NAIVE_PARAMS = /* wgsl */ `struct Params { total: i32, n: i32, h: i32, w: i32, cin: i32, ho: i32, wo: i32, cout: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, padTop: i32, padLeft: i32 }`;

function naiveParams(g: ConvGeometry, total: number): ArrayBuffer {
  return packParams([total, g.n, g.h, g.w, g.cin, g.ho, g.wo, g.cout, g.kh, g.kw, g.sh, g.sw, g.padTop, g.padLeft].map(i32));
}

const naiveBody = {
  forward: /* wgsl */ `
  let co = o % params.cout;
  let wo = (o / params.cout) % params.wo;
  let ho = (o / (params.cout * params.wo)) % params.ho;
  let n = o / (params.cout * params.wo * params.ho);
  var acc = 0.0;
  for (var i = 0; i < params.kh; i++) {
    let hi = ho * params.sh - params.padTop + i;
    if (hi < 0 || hi >= params.h) { continue; }
    for (var j = 0; j < params.kw; j++) {
      let wi = wo * params.sw - params.padLeft + j;
      if (wi < 0 || wi >= params.w) { continue; }
      for (var ci = 0; ci < params.cin; ci++) {
        acc += a[((n * params.h + hi) * params.w + wi) * params.cin + ci] * b[((i * params.kw + j) * params.cin + ci) * params.cout + co];
      }
    }
  }`,
  backwardInput: /* wgsl */ `
  let ci = o % params.cin;
  let wi = (o / params.cin) % params.w;
  let hi = (o / (params.cin * params.w)) % params.h;
  let n = o / (params.cin * params.w * params.h);
  var acc = 0.0;
  for (var i = 0; i < params.kh; i++) {
    let th = hi + params.padTop - i;
    if (th < 0 || th % params.sh != 0 || th / params.sh >= params.ho) { continue; }
    for (var j = 0; j < params.kw; j++) {
      let tw = wi + params.padLeft - j;
      if (tw < 0 || tw % params.sw != 0 || tw / params.sw >= params.wo) { continue; }
      for (var co = 0; co < params.cout; co++) {
        acc += a[((n * params.ho + th / params.sh) * params.wo + tw / params.sw) * params.cout + co] * b[((i * params.kw + j) * params.cin + ci) * params.cout + co];
      }
    }
  }`,
  backwardWeight: /* wgsl */ `
  let co = o % params.cout;
  let ci = (o / params.cout) % params.cin;
  let j = (o / (params.cout * params.cin)) % params.kw;
  let i = o / (params.cout * params.cin * params.kw);
  var acc = 0.0;
  for (var n = 0; n < params.n; n++) {
    for (var ho = 0; ho < params.ho; ho++) {
      let hi = ho * params.sh - params.padTop + i;
      if (hi < 0 || hi >= params.h) { continue; }
      for (var wo = 0; wo < params.wo; wo++) {
        let wi = wo * params.sw - params.padLeft + j;
        if (wi < 0 || wi >= params.w) { continue; }
        acc += a[((n * params.h + hi) * params.w + wi) * params.cin + ci] * b[((n * params.ho + ho) * params.wo + wo) * params.cout + co];
      }
    }
  }`,
};

/** Bindings a, b are (x, w) forward, (dy, w) for dx and (x, dy) for dw. */
function naiveSpec(direction: keyof typeof naiveBody, hasBias: boolean): KernelSpec {
  return {
    name: `conv2d.${direction}Naive`,
    key: hasBias ? 'bias' : '',
    inputs: hasBias ? 3 : 2,
    outputs: 1,
    wgsl: () => /* wgsl */ `
${NAIVE_PARAMS}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
${hasBias ? '@group(0) @binding(2) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${hasBias ? 3 : 2}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${hasBias ? 4 : 3}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let o = i32(${linearIndex()});
  if (o >= params.total) { return; }
  ${naiveBody[direction]}
  out[o] = acc${hasBias ? ' + bias[co]' : ''};
}`,
  };
}

function runNaive(direction: keyof typeof naiveBody, g: ConvGeometry, inputs: Tensor[], outShape: Shape): Tensor {
  const out = emptyTensor(outShape, `conv2d.${direction}Naive.out`);
  runtime().dispatch(
    naiveSpec(direction, inputs.length === 3),
    { inputs: inputs.map((t) => t.slice), outputs: [out.slice], params: naiveParams(g, out.size) },
    linearGrid(out.size),
  );
  return out;
}

export function conv2dForwardNaive(x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(x.shape, w.shape, opts);
  checkBias('conv2d', b, g.cout);
  return runNaive('forward', g, b ? [x, w, b] : [x, w], [g.n, g.ho, g.wo, g.cout]);
}

export function conv2dBackwardInputNaive(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(xShape, w.shape, opts);
  checkGradShape('conv2d.backwardInput', dy, [g.n, g.ho, g.wo, g.cout]);
  return runNaive('backwardInput', g, [dy, w], xShape);
}

export function conv2dBackwardWeightNaive(dy: Tensor, x: Tensor, wShape: Shape, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dGeometry(x.shape, wShape, opts);
  checkGradShape('conv2d.backwardWeight', dy, [g.n, g.ho, g.wo, g.cout]);
  return runNaive('backwardWeight', g, [x, dy], wShape);
}
