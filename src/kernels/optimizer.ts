// Optimiser updates, one kernel per step and parameter, updating the parameter and its moment
// buffers in place (no temporaries):
//
//   Adam (PyTorch):  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;
//                    p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   Adam (Keras 2):  the same moments, p -= lr_t * m / (sqrt(v) + eps),
//                    lr_t = lr * sqrt(1-b2^t) / (1-b1^t)   (eps applied before bias correction)
//   L2 weight decay (Adam, SGD): g += wd * p before the update.
//   AdamW:           p -= lr * wd * p (decoupled) before the Adam update.
//   SGD + momentum:  buf = mu buf + g;  p -= lr * (nesterov ? g + mu buf : buf)   (PyTorch's form)
//   RMSprop, Adagrad: below, each with its own formulas.
//
// The bias corrections are folded into two per-step scalars on the CPU so the kernel does the
// same arithmetic for both Adam conventions: p -= stepSize * m / (sqrt(v) * vScale + epsHat).
//
// Parameters whose size is a multiple of 4 (all but odd biases) are updated four floats per thread
// through vec4 loads and stores. The updates are memory bound (Adam moves 7 floats per parameter),
// and on CPU adapters every load or store costs a bounds check and a branch per lane, paid once
// per vec4 instead of per float. On lavapipe, Adam over the bench's U-Net (64 parameters, 7.8M
// floats) took 50 ms of GPU time per step with one float per thread and 20 ms with four (per-kernel
// profile of unet.train/b2), about the copy peak's rate for the 7 floats it moves per parameter.

import { packParams, u32, f32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import type { Tensor } from '../graph/tensor.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/**
 * An update kernel over one parameter: reads grad[i], updates param[i] and its state buffers
 * (`state`, bound in this order after param) in place; `fields` are the uniform's members after n,
 * `body(T)` the WGSL of element i, T its type (f32, or vec4<f32> four floats a thread).
 */
function updateSpec(name: string, key: string, width: VecWidth, state: readonly string[], fields: string, body: (T: string) => string): KernelSpec {
  const T = vecType(width);
  return {
    name,
    key,
    inputs: 1,
    outputs: 1 + state.length,
    wgsl: () => /* wgsl */ `
struct Params { n: u32, ${fields} }
@group(0) @binding(0) var<storage, read> grad: array<${T}>;
${['param', ...state].map((buffer, k) => `@group(0) @binding(${1 + k}) var<storage, read_write> ${buffer}: array<${T}>;`).join('\n')}
@group(0) @binding(${2 + state.length}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.n) { return; }
  ${body(T)}
}`,
  };
}

/** Both widths of an update kernel (its key is the width). */
const bothWidths = (make: (width: VecWidth) => KernelSpec) => ({ 1: make(1), 4: make(4) }) as const;

/** Runs `spec` (or, given both widths, the parameter's) over param, grad and the state buffers; `values` follow n in the uniform. */
function dispatchUpdate(spec: KernelSpec | Record<VecWidth, KernelSpec>, param: Tensor, grad: Tensor, state: Tensor[], values: ReturnType<typeof f32>[]): void {
  const width = vecWidth(param.size);
  runtime().dispatch(
    'wgsl' in spec ? spec : spec[width],
    { inputs: [grad.slice], outputs: [param.slice, ...state.map((t) => t.slice)], params: packParams([u32(param.size / width), ...values]) },
    linearGrid(param.size / width),
  );
}

const ADAM = bothWidths((width) =>
  updateSpec('adam.update', `w${width}`, width, ['m', 'v'], 'beta1: f32, beta2: f32, stepSize: f32, vScale: f32, epsHat: f32, l2: f32, decoupled: f32', () => /* wgsl */ `var p = param[i];
  let g = grad[i] + params.l2 * p;
  p = p * (1.0 - params.decoupled);
  let mi = params.beta1 * m[i] + (1.0 - params.beta1) * g;
  let vi = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = p - params.stepSize * mi / (sqrt(vi) * params.vScale + params.epsHat);`),
);

export interface AdamStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step count, for the bias corrections. */
  step: number;
  /** 'pytorch': eps added to the bias-corrected sqrt(v̂); 'keras': to the raw sqrt(v). */
  epsilonMode: 'pytorch' | 'keras';
  /** L2 penalty added to the gradient (Adam's weight_decay). */
  l2: number;
  /** Decoupled decay (AdamW's weight_decay); the kernel multiplies p by 1 - lr * decoupled. */
  decoupled: number;
}

export function adamUpdate(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, s: AdamStep): void {
  const c1 = 1 - s.beta1 ** s.step;
  const c2 = 1 - s.beta2 ** s.step;
  // PyTorch: lr/c1 * m / (sqrt(v)/sqrt(c2) + eps).  Keras: lr*sqrt(c2)/c1 * m / (sqrt(v) + eps).
  const [stepSize, vScale, epsHat] =
    s.epsilonMode === 'pytorch' ? [s.lr / c1, 1 / Math.sqrt(c2), s.eps] : [(s.lr * Math.sqrt(c2)) / c1, 1, s.eps];
  dispatchUpdate(ADAM, param, grad, [m, v], [s.beta1, s.beta2, stepSize, vScale, epsHat, s.l2, s.lr * s.decoupled].map(f32));
}

const SGD = bothWidths((width) =>
  updateSpec('sgd.update', `w${width}`, width, ['buf'], 'lr: f32, momentum: f32, l2: f32, nesterov: u32, first: u32', () => /* wgsl */ `let p = param[i];
  let g = grad[i] + params.l2 * p;
  // PyTorch initialises the momentum buffer with the first gradient.
  var b = g;
  if (params.first == 0u) { b = params.momentum * buf[i] + g; }
  buf[i] = b;
  var d = b;
  if (params.nesterov == 1u) { d = g + params.momentum * b; }
  param[i] = p - params.lr * d;`),
);

export interface SgdStep {
  lr: number;
  momentum: number;
  nesterov: boolean;
  l2: number;
  first: boolean;
}

// Plain SGD (momentum 0) keeps no buffer, as PyTorch keeps no momentum_buffer: a buffer would cost
// a parameter's size in memory and two more accesses a step, and hold a gradient that a resume
// with momentum would take up where PyTorch starts afresh.
const SGD_PLAIN = bothWidths((width) =>
  updateSpec('sgd.updatePlain', `w${width}`, width, [], 'lr: f32, l2: f32', () => /* wgsl */ `let p = param[i];
  param[i] = p - params.lr * (grad[i] + params.l2 * p);`),
);

/** One SGD step; `buf` is the momentum buffer, null for plain SGD (momentum 0). */
export function sgdUpdate(param: Tensor, grad: Tensor, buf: Tensor | null, s: SgdStep): void {
  if (buf === null) {
    if (s.momentum !== 0) throw new RangeError(`sgdUpdate: momentum ${s.momentum} needs a buffer`);
    dispatchUpdate(SGD_PLAIN, param, grad, [], [f32(s.lr), f32(s.l2)]);
    return;
  }
  dispatchUpdate(SGD, param, grad, [buf], [f32(s.lr), f32(s.momentum), f32(s.l2), u32(s.nesterov ? 1 : 0), u32(s.first ? 1 : 0)]);
}

// RMSprop. One generator covers PyTorch's and Keras's conventions; they differ in two places:
//   PyTorch: denominator sqrt(ṽ) + eps, buffer b = mu b + g / denom, p -= lr b
//   Keras:   denominator sqrt(ṽ + eps), buffer b = mu b + lr g / denom, p -= b
// (ṽ is v, or v - gavg² when centered). The kernel computes sqrt(ṽ + epsIn) + epsOut and scales
// the buffer by bufScale and the step by paramScale, so both are the same arithmetic. The centred
// average and the momentum buffer exist only in the variants that use them (compile-time flags),
// so plain RMSprop binds and moves no memory it does not need.
interface RmspropVariant {
  width: VecWidth;
  centered: boolean;
  momentum: boolean;
}

const rmspropSpec = ({ width, centered, momentum }: RmspropVariant, key: string): KernelSpec =>
  updateSpec(
    'rmsprop.update',
    key,
    width,
    ['squareAvg', ...(centered ? ['gradAvg'] : []), ...(momentum ? ['buf'] : [])],
    'lr: f32, alpha: f32, epsIn: f32, epsOut: f32, l2: f32, momentum: f32, bufScale: f32, paramScale: f32',
    (T) => /* wgsl */ `let p = param[i];
  let g = grad[i] + params.l2 * p;
  let v = params.alpha * squareAvg[i] + (1.0 - params.alpha) * g * g;
  squareAvg[i] = v;
  ${centered ? /* wgsl */ `let ga = params.alpha * gradAvg[i] + (1.0 - params.alpha) * g;
  gradAvg[i] = ga;
  // v >= ga² exactly (both averages weigh the same gradients); rounding must not take sqrt below 0.
  let spread = max(v - ga * ga, ${T}(0.0));` : 'let spread = v;'}
  let scaled = g / (sqrt(spread + params.epsIn) + params.epsOut);
  ${momentum ? /* wgsl */ `let b = params.momentum * buf[i] + params.bufScale * scaled;
  buf[i] = b;
  param[i] = p - params.paramScale * b;` : 'param[i] = p - params.lr * scaled;'}`,
  );
const RMSPROP = new Map<string, KernelSpec>();

/** One spec object per variant, built on first use (the runtime caches pipelines by name and key). */
function rmspropKernel(v: RmspropVariant): KernelSpec {
  const key = `w${v.width}${v.centered ? 'c' : ''}${v.momentum ? 'm' : ''}`;
  let spec = RMSPROP.get(key);
  if (!spec) RMSPROP.set(key, (spec = rmspropSpec(v, key)));
  return spec;
}

export interface RmspropStep {
  lr: number;
  alpha: number;
  eps: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  l2: number;
  momentum: number;
  /** 'pytorch': eps after the sqrt, lr outside the buffer; 'keras': eps under the sqrt, lr inside. */
  convention: 'pytorch' | 'keras';
}

/** State: the squared-gradient average, the gradient average when centred, the momentum buffer when momentum > 0. */
export interface RmspropState {
  squareAvg: Tensor;
  gradAvg: Tensor | null;
  buf: Tensor | null;
}

export function rmspropUpdate(param: Tensor, grad: Tensor, state: RmspropState, s: RmspropStep): void {
  const spec = rmspropKernel({ width: vecWidth(param.size), centered: state.gradAvg !== null, momentum: state.buf !== null });
  const keras = s.convention === 'keras';
  const extra = [state.gradAvg, state.buf].filter((t): t is Tensor => t !== null);
  dispatchUpdate(spec, param, grad, [state.squareAvg, ...extra], [
    s.lr, s.alpha, keras ? s.eps : 0, keras ? 0 : s.eps, s.l2, s.momentum, keras ? s.lr : 1, keras ? 1 : s.lr,
  ].map(f32));
}

// Adagrad (PyTorch): g += wd p;  sum += g²;  p -= clr g / (sqrt(sum) + eps), where the caller
// folds lr_decay into clr = lr / (1 + (t-1) lr_decay).
const ADAGRAD = bothWidths((width) =>
  updateSpec('adagrad.update', `w${width}`, width, ['sum'], 'clr: f32, l2: f32, eps: f32', () => /* wgsl */ `let p = param[i];
  let g = grad[i] + params.l2 * p;
  let s = sum[i] + g * g;
  sum[i] = s;
  param[i] = p - params.clr * g / (sqrt(s) + params.eps);`),
);

export interface AdagradStep {
  /** The step's learning rate, lr decay already applied. */
  clr: number;
  l2: number;
  eps: number;
}

export function adagradUpdate(param: Tensor, grad: Tensor, sum: Tensor, s: AdagradStep): void {
  dispatchUpdate(ADAGRAD, param, grad, [sum], [f32(s.clr), f32(s.l2), f32(s.eps)]);
}
