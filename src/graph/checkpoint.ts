// dn.checkpoint(fn, ...inputs): activation checkpointing (torch.utils.checkpoint, TensorFlow's
// recompute_grad). fn's outputs are kept, none of the tensors its ops save for backward are; the
// backward runs fn again, recording, and backpropagates through that second run. One more
// forward of fn buys the memory of everything fn's ops would have held from the forward until
// their backward: in a U-Net, the activations of every block checkpointed.
//
// - The first run records nothing, so what fn frees is freed at once; it notes what its ops were
//   given (autograd.ts's probeUnrecorded), to learn whether its outputs need a gradient (fn may
//   close over weights that want one, though no input does).
// - The recomputation starts from the saved inputs, as new leaves. The weights fn reads (leaves
//   that want a gradient, noted by the first run) are inputs of the node as well: their gradients
//   go back to the outer pass like the inputs', so a pass that fails later leaves their .grad as
//   it was, as backward() promises for every leaf.
// - Random draws and running statistics are not taken twice (graph/recompute.ts): a Dropout
//   inside fn applies the same mask both times, and BatchNorm2d updates its running statistics
//   once per call, not twice as PyTorch's checkpoint does.
// fn may read other tensors than its inputs only if they are leaves (weights, constants): a
// tensor computed by recorded ops outside fn, read inside it, is refused, since the recomputed
// graph would reach back into the outer one. Pass such a tensor as an input.

import { ArgumentError } from '../errors.js';
import { expectFunction, expectReturnedTensors, expectTensor } from './args.js';
import { backward as backpropagate, enableGrad, isRecording, probeUnrecorded, recordNode, type UnrecordedProbe } from './autograd.js';
import { recordingDraws, replayingDraws, type DrawLog } from './recompute.js';
import { scope } from './scope.js';
import { nextTensorId, Tensor } from './tensor.js';
import { binary } from '../kernels/elementwise.js';
import { sum } from '../kernels/reduce.js';

/** Runs fn(...inputs) without keeping what its ops save for backward; backward runs it again. */
export function checkpoint<A extends Tensor[], R extends Tensor | Tensor[]>(fn: (...inputs: A) => R, ...inputs: A): R {
  expectFunction('checkpoint', 'fn', fn);
  inputs.forEach((x, i) => expectTensor('checkpoint', `input ${i}`, x));
  // Nothing would be saved anyway: run it once, plainly.
  if (!isRecording()) return fn(...inputs);
  const log: DrawLog = { draws: [] };
  const leaves = new Set<Tensor>();
  const probe: UnrecordedProbe = { firstNew: nextTensorId(), leaves, wantsGrad: false, weights: new Set(), outer: null };
  let many = false;
  const outs = scope(() => {
    const args = inputs.map((x) => asLeaf(x));
    for (const a of args) leaves.add(a);
    const result = probeUnrecorded(probe, () => recordingDraws(log, () => fn(...(args as A))));
    many = Array.isArray(result);
    // New handles, so that an input or a weight returned as it is never becomes this node's output.
    return expectReturnedTensors('checkpoint', 'fn', result).map((t) => t.share());
  });
  if (probe.outer) {
    for (const t of outs) t.dispose();
    const { tensor, op } = probe.outer;
    throw new ArgumentError(`checkpoint: fn reads ${tensor.describe()}, computed outside it by recorded ops (${op}); pass it to checkpoint as an input, so its gradient goes back through the outer graph`);
  }
  if (probe.wantsGrad || inputs.some((x) => x.requiresGrad)) {
    const weights = [...probe.weights];
    const run = fn as (...t: Tensor[]) => R;
    recordNode('checkpoint', [...inputs, ...weights], outs, (dys, needs, saved) => recompute(run, saved, weights, needs, dys, log), inputs);
  }
  return (many ? outs : outs[0]) as R;
}

/** A new handle of x with no graph behind it, wanting a gradient where asked (by default where x does). */
function asLeaf(x: Tensor, wantsGrad = x.requiresGrad): Tensor {
  const leaf = x.share();
  leaf.requiresGrad = wantsGrad;
  return leaf;
}

/**
 * The backward: fn again from the saved inputs, recording, then backward() through that graph
 * with the outputs' gradients. The inputs' gradients come back from their leaves; the weights'
 * are taken from their .grad, which is set aside for the inner pass and put back after it, so
 * that only the outer pass, once all of it has run, adds to it.
 */
function recompute(
  fn: (...inputs: Tensor[]) => Tensor | Tensor[],
  saved: Tensor[],
  weights: Tensor[],
  needs: boolean[],
  dys: (Tensor | null)[],
  log: DrawLog,
): (Tensor | null)[] {
  const leaves = saved.map((x, i) => asLeaf(x, needs[i]!));
  const held = weights.map((w) => w.grad);
  for (const w of weights) w.grad = null;
  let weightGrads: (Tensor | null)[];
  try {
    enableGrad(() => {
      const outs = expectReturnedTensors('checkpoint', 'fn', replayingDraws(log, () => fn(...leaves)));
      const live = outs.map((y, i) => [y, dys[i]] as const).filter((p): p is readonly [Tensor, Tensor] => p[1] !== null && p[0].requiresGrad);
      if (live.length === 1) backpropagate(live[0]![0], live[0]![1]);
      else if (live.length > 1) {
        // One pass through the shared graph: Σ sum(y · dy) has gradient dy at each output.
        const total = live.map(([y, dy]) => sum(binary('mul', y, dy))).reduce((a, b) => binary('add', a, b));
        backpropagate(total);
      }
    });
  } finally {
    // The inner pass settles every leaf's grad at its end, or none if it fails.
    weightGrads = weights.map((w) => w.grad);
    weights.forEach((w, i) => (w.grad = held[i]!));
  }
  const inputGrads = leaves.map((leaf, i) => {
    const g = needs[i] ? leaf.grad : null;
    leaf.grad = null;
    return g;
  });
  return [...inputGrads, ...weightGrads];
}
