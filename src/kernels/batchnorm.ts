// Batch normalisation over NHWC x [N, H, W, C] with per-channel gamma, beta, runningMean,
// runningVar [C]. Statistics run over the n = N*H*W rows of the [n, C] view.
//
//   training:  mean = Σx / n,  var = Σ(x - mean)² / n (biased),  invStd = 1 / sqrt(var + eps)
//              y = (x - mean) * invStd * gamma + beta
//              running = (1 - momentum) * running + momentum * stat, in place on the GPU, with the
//              UNBIASED variance var * n / (n - 1) for runningVar (PyTorch semantics).
//              Keras's BatchNormalization(momentum = m) is PyTorch momentum 1 - m (0.99 -> 0.01).
//   inference: mean = runningMean, invStd = 1 / sqrt(runningVar + eps), same y.
//
// Backward, with xhat = (x - mean) * invStd:
//   dbeta = Σ dy,  dgamma = Σ dy * xhat  (both modes)
//   training:  dx = gamma * invStd * (dy - dbeta / n - xhat * dgamma / n)  (mean and var depend on x)
//   inference: dx = dy * gamma * invStd
// Saved for backward: x, gamma and the per-channel mean and invStd (xhat is recomputed, which costs
// less memory than saving it). Running stats are not differentiable.
//
// Reductions: the mean and the variance are two passes (Σx, then Σ(x - mean)² and Σ(x - mean),
// which corrects the mean: finishSpec), so a channel whose mean is large next to its spread keeps
// its variance and its mean to float32's rounding. Each pass is a grid of workgroups, 32 channels
// by up to maxRowChunks row chunks (row-chunks.ts: 128 on a CPU adapter, more on a GPU); 8 row
// lanes per channel stride the chunk (neighbouring threads read neighbouring channels, so loads
// coalesce) and a tree in workgroup memory combines them (on SwiftShader each row lane writes its
// own partial instead: batchnorm-sums.ts). A thread per channel then adds the
// chunks' partials, which also finishes the statistics (past 128 chunks, reduce.ts adds them first).
//
// With C a multiple of 4 (every layer of the models here) each thread takes four adjacent channels
// as a vec4 in every pass: CPU adapters pay a bounds check and a branch per lane for each load and
// store, once per vec4 instead of per float, and the sums' workgroups shrink to 8 channel lanes
// (32 channels) by 8 row lanes, so a barrier has 8 SIMD groups to switch between instead of 32.
//
// Past the binding limit (kernels/chunking.ts) every pass splits into chunks of whole rows: a sums
// pass dispatches once per chunk, each writing its row chunks' partials to its own range of the
// partial buffer, and the finish adds them all (first collapsed by reduce.ts when the partials
// themselves are too big to bind); normalising and the input gradient are per row, so their chunks
// are independent.

import { stateHeld } from '../graph/recompute.js';
import { ShapeError } from '../errors.js';
import { f32, packParams, u32 } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { expectKnownOptions, expectOptionalBoolean, expectOptionalNumber, expectOptionalTensor, expectOptions, expectTensor, nchwHint } from '../graph/args.js';
import { record } from '../graph/autograd.js';
import { assertLive, emptyTensor, formatShape, zeros, type Tensor } from '../graph/tensor.js';
import { chunkItems, dispatchChunk, forEachChunk, part, range } from './chunking.js';
import { batchnormSumsWay, CH_LANES, partialsPerChunk, sumsSpec, type SumsMode } from './batchnorm-sums.js';
import { reluKeepingNan, reluPasses } from './elementwise-math.js';
import { reduceMiddle } from './reduce.js';
import { maxRowChunks } from './row-chunks.js';
import { LINEAR_MAIN_ARGS, linearGrid, linearIndex, vecType, vecWidth, type VecWidth } from './wgsl.js';

/** Rows per chunk at least this (chunks at most maxRowChunks): partials stay small. */
const MIN_ROWS_PER_CHUNK = 256;
/** The finish adds at most this many chunks per channel in a loop; more are collapsed first. */
const FINISH_MAX_CHUNKS = 128;

export interface BatchNormOptions {
  training: boolean;
  /** A ReLU fused after the normalisation (y = max(0, ...), NaN kept as relu's): one pass fewer each way. */
  relu?: boolean;
  /** PyTorch convention: weight of the new batch statistic (Keras momentum m is 1 - m here). */
  momentum?: number;
  eps?: number;
}

// ---------------------------------------------------------------------------------------------
// Kernels

/**
 * A thread per channel adds the chunks' partials and finishes:
 * 'mean': mean = Σ / n. 'var': the mean corrected, invStd, and with `update` the running stats in
 * place. 'grad': dbeta = Σdy, dgamma = Σdy * xhat.
 */
function finishSpec(mode: SumsMode, update = false): KernelSpec {
  const inputs = ['partial'];
  const outputs = { mean: ['mean'], var: ['mean', 'invStd', ...(update ? ['runningMean', 'runningVar'] : [])], grad: ['dbeta', 'dgamma'] }[mode];
  const body = {
    mean: 'mean[ch] = s0 / params.n;',
    // The corrected two-pass algorithm (Chan, Golub & LeVeque): Σ(x - mean) is not 0 when the first
    // pass's float32 sum rounded (at ulp(n·mean): 100000 values near 1e4 left the mean 6.6 ulp(1e4)
    // off), so its quotient corrects the mean and, squared, the variance. x - mean is exact for
    // values near the mean, so the corrected mean is within float32's rounding of the true one
    // (0.38 ulp measured). The variance is >= 0 in exact arithmetic; rounding may take it a few
    // ulp of dm² below, which the select (not max, undefined for NaN) clamps, keeping NaN.
    var: /* wgsl */ `let dm = s1 / params.n;
    let v0 = s0 / params.n - dm * dm;
    let v = select(v0, 0.0, v0 < 0.0);
    mean[ch] = mean[ch] + dm;
    invStd[ch] = 1.0 / sqrt(v + params.eps);
    ${update ? `runningMean[ch] = (1.0 - params.momentum) * runningMean[ch] + params.momentum * mean[ch];
    runningVar[ch] = (1.0 - params.momentum) * runningVar[ch] + params.momentum * v * params.unbias;` : ''}`,
    grad: 'dbeta[ch] = s0; dgamma[ch] = s1;',
  }[mode];
  const perChannel = mode === 'mean' ? 1 : 2;
  return {
    name: 'batchnorm.finish',
    key: `${mode}${update ? 'update' : ''}`,
    inputs: inputs.length,
    outputs: outputs.length,
    wgsl: () => /* wgsl */ `
struct Params { c: u32, chunks: u32, n: f32, eps: f32, momentum: f32, unbias: f32 }
${inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`).join('\n')}
${outputs.map((name, i) => `@group(0) @binding(${inputs.length + i}) var<storage, read_write> ${name}: array<f32>;`).join('\n')}
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ch = gid.x;
  if (ch >= params.c) { return; }
  var s0 = 0.0;
  var s1 = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    s0 += partial[k * ${perChannel}u * params.c + ch];
    ${mode === 'mean' ? '' : 's1 += partial[(k * 2u + 1u) * params.c + ch];'}
  }
  ${body}
}`,
  };
}

const inferenceStatsSpec: KernelSpec = {
  name: 'batchnorm.inferenceStats',
  key: '',
  inputs: 2,
  outputs: 2,
  wgsl: () => /* wgsl */ `
struct Params { c: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> runningMean: array<f32>;
@group(0) @binding(1) var<storage, read> runningVar: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> invStd: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ch = gid.x;
  if (ch >= params.c) { return; }
  mean[ch] = runningMean[ch];
  invStd[ch] = 1.0 / sqrt(runningVar[ch] + params.eps);
}`,
};

/** size and c in units of the width, as in sumsSpec; `relu` applies a fused ReLU to y. */
const normaliseSpec = (width: VecWidth, relu: boolean): KernelSpec => ({
  name: 'batchnorm.forward',
  key: `w${width}${relu ? 'relu' : ''}`,
  inputs: 5,
  outputs: 1,
  wgsl: () => /* wgsl */ `
struct Params { size: u32, c: u32 }
${['x', 'gamma', 'beta', 'mean', 'invStd'].map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${vecType(width)}>;`).join('\n')}
@group(0) @binding(5) var<storage, read_write> y: array<${vecType(width)}>;
@group(0) @binding(6) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.size) { return; }
  let ch = i % params.c;
  let v = (x[i] - mean[ch]) * invStd[ch] * gamma[ch] + beta[ch];
  y[i] = ${relu ? reluKeepingNan('v', vecType(width)) : 'v'};
}`,
});
const NORMALISE = {
  plain: { 1: normaliseSpec(1, false), 4: normaliseSpec(4, false) },
  relu: { 1: normaliseSpec(1, true), 4: normaliseSpec(4, true) },
} as const;

/**
 * size and c in units of the width, as in sumsSpec; n (the rows) is a count of values. `relu`:
 * dy comes through a fused ReLU (counts where the forward's output y is positive or NaN).
 */
function backwardInputSpec(training: boolean, width: VecWidth, relu = false): KernelSpec {
  const rowInputs = relu ? ['dy', 'y'] : ['dy'];
  const inputs = training ? [...rowInputs, 'x', 'gamma', 'mean', 'invStd', 'dbeta', 'dgamma'] : [...rowInputs, 'gamma', 'invStd'];
  const g = relu ? `let g = select(${vecType(width)}(0.0), dy[i], ${reluPasses('y[i]', vecType(width, 'u32'))});` : 'let g = dy[i];';
  const body = training
    ? `${g}\n  let xhat = (x[i] - mean[ch]) * invStd[ch];\n  dx[i] = gamma[ch] * invStd[ch] * (g - dbeta[ch] / params.n - xhat * dgamma[ch] / params.n);`
    : `${g}\n  dx[i] = g * gamma[ch] * invStd[ch];`;
  return {
    name: 'batchnorm.backwardInput',
    key: `${training ? 'training' : 'inference'}${relu ? 'Relu' : ''}w${width}`,
    inputs: inputs.length,
    outputs: 1,
    wgsl: () => /* wgsl */ `
struct Params { size: u32, c: u32, n: f32 }
${inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${vecType(width)}>;`).join('\n')}
@group(0) @binding(${inputs.length}) var<storage, read_write> dx: array<${vecType(width)}>;
@group(0) @binding(${inputs.length + 1}) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(${LINEAR_MAIN_ARGS}) {
  let i = ${linearIndex()};
  if (i >= params.size) { return; }
  let ch = i % params.c;
  ${body}
}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Raw GPU functions

function chunking(rows: number, columnGroups: number): { chunks: number; rowsPerChunk: number } {
  const chunks = Math.max(1, Math.min(maxRowChunks(columnGroups), Math.ceil(rows / MIN_ROWS_PER_CHUNK)));
  const rowsPerChunk = Math.ceil(rows / chunks);
  return { chunks: Math.ceil(rows / rowsPerChunk) || 1, rowsPerChunk: Math.max(1, rowsPerChunk) };
}

/**
 * One sums pass and its finish, written to finishOutputs (3 of them: the running stats too).
 * `rowInputs` are [rows, c] tensors bound in chunks of rows, `channelInputs` [c] vectors.
 */
function channelSums(
  mode: SumsMode,
  rowInputs: Tensor[],
  channelInputs: Tensor[],
  finishInputs: Tensor[],
  finishOutputs: Tensor[],
  rows: number,
  c: number,
  extra: { eps?: number; momentum?: number; relu?: boolean } = {},
): void {
  const rt = runtime();
  const width = vecWidth(c);
  const way = batchnormSumsWay();
  const spec = sumsSpec(mode, width, extra.relu, way);
  const perChunk = partialsPerChunk(way);
  const per = chunkItems(spec.name, rows, rowInputs.map((t) => part(t, c)), channelInputs);
  const columnGroups = Math.ceil(c / width / CH_LANES[width]);
  const plans: { first: number; count: number; chunks: number; rowsPerChunk: number }[] = [];
  forEachChunk(rows, per, (first, count) => plans.push({ first, count, ...chunking(count, columnGroups) }));
  const perChannel = mode === 'mean' ? 1 : 2;
  let total = plans.reduce((n, p) => n + p.chunks * perChunk, 0);
  let partial = emptyTensor([total, perChannel, c], 'batchnorm.partial');
  let firstChunk = 0;
  for (const p of plans) {
    const inputs = [...rowInputs.map((t) => range(t, p.first * c, p.count * c)), ...channelInputs];
    const out = range(partial, firstChunk * perChannel * c, p.chunks * perChunk * perChannel * c);
    dispatchChunk(spec, inputs, [out], packParams([u32(p.count), u32(c / width), u32(p.rowsPerChunk)]), [columnGroups, p.chunks]);
    firstChunk += p.chunks * perChunk;
  }
  // A thread per channel would add thousands of chunks one by one (a GPU's many chunks), or the
  // partials may be too big to bind: reduce.ts adds them first, many workgroups wide.
  if (total > FINISH_MAX_CHUNKS || partial.size * 4 > rt.bindingLimit) {
    const collapsed = reduceMiddle(partial, 1, total, perChannel * c, [1, perChannel, c]);
    partial.dispose();
    [partial, total] = [collapsed, 1];
  }
  const update = mode === 'var' && finishOutputs.length === 4;
  rt.dispatch(
    finishSpec(mode, update),
    {
      inputs: [partial.slice, ...finishInputs.map((t) => t.slice)],
      outputs: finishOutputs.map((t) => t.slice),
      params: packParams([u32(c), u32(total), f32(rows), f32(extra.eps ?? 0), f32(extra.momentum ?? 0), f32(rows > 1 ? rows / (rows - 1) : 1)]),
    },
    [Math.ceil(c / 64)],
  );
  partial.dispose();
}

/** A per-element pass over [rows, c] tensors (`rowInputs`, `out`) with [c] vectors bound whole. */
function rowPass(spec: KernelSpec, rowInputs: Tensor[], channelInputs: Tensor[], out: Tensor, c: number, extra: number[], width: VecWidth): void {
  const rows = out.size / c;
  const per = chunkItems(spec.name, rows, [...rowInputs, out].map((t) => part(t, c)), channelInputs);
  forEachChunk(rows, per, (first, count) => {
    const chunk = (t: Tensor) => range(t, first * c, count * c);
    const params = packParams([u32((count * c) / width), u32(c / width), ...extra.map(f32)]);
    dispatchChunk(spec, [...rowInputs.map(chunk), ...channelInputs], [chunk(out)], params, linearGrid((count * c) / width));
  });
}

function checkShapes(x: Tensor, params: [string, Tensor | null][], options: BatchNormOptions): void {
  if (x.rank !== 4) throw new ShapeError(`batchNorm2d: expects x [N, H, W, C], got ${formatShape(x.shape)}`);
  const c = x.shape[3];
  for (const [name, t] of params) {
    if (t && (t.rank !== 1 || t.shape[0] !== c)) {
      throw new ShapeError(`batchNorm2d: ${name} ${formatShape(t.shape)} does not match the ${c} channels of x ${formatShape(x.shape)}${nchwHint(x.shape, t.shape[0])}`);
    }
  }
  // By type too: { training: 'false' } was truthy, and momentum '0.1' passed a range test by coercion.
  expectOptionalBoolean('batchNorm2d', 'training', options.training);
  expectOptionalBoolean('batchNorm2d', 'relu', options.relu);
  expectOptionalNumber('batchNorm2d', 'momentum', options.momentum, { min: 0, max: 1 });
  expectOptionalNumber('batchNorm2d', 'eps', options.eps, { above: 0 });
  // PyTorch's refusal: one value per channel normalises to 0 (its variance is 0), and no running
  // variance can be made from it. Inference normalises with the running statistics instead. An
  // empty batch (none) is not refused, as PyTorch does not since 1.4: nothing to normalise.
  if (options.training && x.size / c === 1) {
    throw new ShapeError(
      `batchNorm2d: expected more than 1 value per channel when training, got x ${formatShape(x.shape)} (N*H*W = ${x.size / c}); ` +
        'eval() normalises with the running statistics instead',
    );
  }
}

/**
 * Raw GPU forward. Training: batch statistics, running stats updated in place when given.
 * Inference: running stats (required). Returns y and the mean and invStd it normalised with.
 */
export function batchNorm2dForward(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions,
): { y: Tensor; mean: Tensor; invStd: Tensor } {
  checkShapes(x, [['gamma', gamma], ['beta', beta], ['runningMean', runningMean], ['runningVar', runningVar]], options);
  assertLive('batchNorm2d', x, gamma, beta, runningMean, runningVar);
  if (!options.training && (!runningMean || !runningVar)) {
    throw new ShapeError('batchNorm2d: inference mode needs runningMean and runningVar');
  }
  if (!runningMean !== !runningVar) throw new ShapeError('batchNorm2d: give both runningMean and runningVar, or neither');
  const c = x.shape[3];
  // An empty batch: an empty output, and the running statistics left as they are (PyTorch's rule
  // since its batch norm took empty inputs: there is nothing to average).
  if (x.size === 0) return { y: emptyTensor(x.shape, 'batchnorm.y'), mean: zeros([c]), invStd: zeros([c]) };
  const rows = x.size / c;
  const eps = options.eps ?? 1e-5;
  // Passes split into chunks of rows; a row must fit. Checked before anything is allocated.
  chunkItems('batchNorm2d', rows, [part(x, c)], [gamma]);
  const mean = emptyTensor([c], 'batchnorm.mean');
  const invStd = emptyTensor([c], 'batchnorm.invStd');
  const rt = runtime();
  if (options.training) {
    channelSums('mean', [x], [], [], [mean], rows, c);
    // Left alone while state is held: a checkpoint's recomputation (the first run updated them) or
    // a call of dn.gradcheck's. Training reads only the batch's statistics, so nothing else changes.
    const running = runningMean && runningVar && !stateHeld() ? [runningMean, runningVar] : [];
    channelSums('var', [x], [mean], [], [mean, invStd, ...running], rows, c, { eps, momentum: options.momentum ?? 0.1 });
  } else {
    rt.dispatch(
      inferenceStatsSpec,
      { inputs: [runningMean!.slice, runningVar!.slice], outputs: [mean.slice, invStd.slice], params: packParams([u32(c), f32(eps)]) },
      [Math.ceil(c / 64)],
    );
  }
  const y = emptyTensor(x.shape, 'batchnorm.y');
  rowPass(NORMALISE[options.relu ? 'relu' : 'plain'][vecWidth(c)], [x], [gamma, beta, mean, invStd], y, c, [], vecWidth(c));
  return { y, mean, invStd };
}

/**
 * Raw GPU backward from the forward's saved mean and invStd. `needs` = [dx, dgamma, dbeta];
 * gradients not needed come back null (inference mode with only dx skips the sums).
 */
export function batchNorm2dBackward(
  dy: Tensor,
  x: Tensor,
  gamma: Tensor,
  mean: Tensor,
  invStd: Tensor,
  options: { training: boolean },
  needs: readonly boolean[] = [true, true, true],
  reluOut: Tensor | null = null,
): { dx: Tensor | null; dgamma: Tensor | null; dbeta: Tensor | null } {
  if (dy.shape.join() !== x.shape.join() || (reluOut && reluOut.shape.join() !== x.shape.join())) {
    const y = reluOut ? ` and the fused ReLU's output ${formatShape(reluOut.shape)}` : '';
    throw new ShapeError(`batchNorm2d backward: dy ${formatShape(dy.shape)}${y} must match x ${formatShape(x.shape)}`);
  }
  const c = x.shape[3];
  // An empty batch: an empty dx, and gamma and beta's gradients zero (sums over no rows).
  if (x.size === 0) return { dx: needs[0] ? emptyTensor(x.shape, 'batchnorm.dx') : null, dgamma: needs[1] ? zeros([c]) : null, dbeta: needs[2] ? zeros([c]) : null };
  const rows = x.size / c;
  chunkItems('batchNorm2d.backward', rows, [part(x, c)], [gamma]);
  let dgamma: Tensor | null = null;
  let dbeta: Tensor | null = null;
  if (options.training || needs[1] || needs[2]) {
    dbeta = emptyTensor([c], 'batchnorm.dbeta');
    dgamma = emptyTensor([c], 'batchnorm.dgamma');
    channelSums('grad', reluOut ? [x, dy, reluOut] : [x, dy], [mean, invStd], [], [dbeta, dgamma], rows, c, { relu: !!reluOut });
  }
  let dx: Tensor | null = null;
  if (needs[0]) {
    dx = emptyTensor(x.shape, 'batchnorm.dx');
    const dyIn = reluOut ? [dy, reluOut] : [dy];
    const [rowInputs, channelInputs] = options.training ? [[...dyIn, x], [gamma, mean, invStd, dbeta!, dgamma!]] : [dyIn, [gamma, invStd]];
    rowPass(backwardInputSpec(options.training, vecWidth(c), !!reluOut), rowInputs, channelInputs, dx, c, [rows], vecWidth(c));
  }
  if (!needs[1] && dgamma) {
    dgamma.dispose();
    dgamma = null;
  }
  if (!needs[2] && dbeta) {
    dbeta.dispose();
    dbeta = null;
  }
  return { dx, dgamma, dbeta };
}

/**
 * Differentiable batch norm: gradients to x, gamma and beta. In training mode the running stats
 * (when given) are updated in place; they never get gradients.
 */
export function batchNorm2d(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions,
): Tensor {
  const op = 'batchNorm2d';
  [[x, 'input x'], [gamma, 'gamma'], [beta, 'beta']].forEach(([t, role]) => expectTensor(op, role as string, t));
  expectOptionalTensor(op, 'runningMean', runningMean);
  expectOptionalTensor(op, 'runningVar', runningVar);
  expectOptions(op, options, '{ training: true, momentum: 0.1, eps: 1e-5 }', true);
  expectKnownOptions(op, options, ['training', 'momentum', 'eps', 'relu'], {});
  const training = options.training;
  const relu = !!options.relu;
  const { y, mean, invStd } = batchNorm2dForward(x, gamma, beta, runningMean, runningVar, options);
  const out = record(
    relu ? 'batchNorm2dRelu' : 'batchNorm2d',
    [x, gamma, beta],
    y,
    (dy, needs, [sx, sg, sm, si, sy]) => {
      const { dx, dgamma, dbeta } = batchNorm2dBackward(dy, sx, sg, sm, si, { training }, needs, relu ? sy : null);
      return [dx, dgamma, dbeta];
    },
    // With the fused ReLU the output is saved too (its sign masks the gradient); the next conv
    // saves that same tensor, so it costs no memory of its own.
    relu ? [x, gamma, mean, invStd, y] : [x, gamma, mean, invStd],
  );
  mean.dispose();
  invStd.dispose();
  return out;
}
