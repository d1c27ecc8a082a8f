// dn.customOp: an op whose gradient the user writes, as PyTorch's torch.autograd.Function:
//
//   const squarePlus = dn.customOp({
//     name: 'squarePlus',
//     forward(ctx, x: dn.Tensor) { ctx.save(x); return runMyKernel(x); },
//     backward(ctx, dy) { const [x] = ctx.saved; return dn.mul(dy, dn.scale(x, 2)); },
//   });
//   const y = squarePlus(x);          // y.backward() runs the backward above
//
// The forward runs without recording (its inner ops, dn.runKernel's included, are not on the
// tape); the call records one node for all its outputs. backward gets one gradient per output
// (zeros for an output nothing used) and returns one per argument of the forward, null where
// there is none (a number, an argument that needs no gradient). Each gradient must have its
// argument's shape. The saved tensors live as long as the node, as the built-in ops' do.

import { ArgumentError, ShapeError } from '../errors.js';
import { describeValue, expectFunction, expectKnownOptions, expectReturnedTensors, expectTensor, isPlainObject } from './args.js';
import { isRecording, noGrad, recordMulti } from './autograd.js';
import { scope } from './scope.js';
import { formatShape, nextTensorId, Tensor, zeros } from './tensor.js';

/** What forward hands to backward. Other properties may be set on it (ctx.alpha = 2), as in PyTorch. */
export interface CustomOpContext {
  /** Keeps tensors for backward (inputs, outputs or intermediates); read them as ctx.saved. */
  save(...tensors: Tensor[]): void;
  /** In backward: the tensors saved, in order. */
  readonly saved: readonly Tensor[];
  /** Per argument of the forward: whether backward must return its gradient. */
  readonly needsInputGrad: readonly boolean[];
  [key: string]: unknown;
}

export interface CustomOpDefinition<A extends unknown[], R extends Tensor | Tensor[]> {
  /** Names the op in errors and on the tape. */
  name: string;
  forward: (ctx: CustomOpContext, ...args: A) => R;
  /** One gradient per output in; one per argument out (a Tensor alone when there is one argument). */
  backward: (ctx: CustomOpContext, ...dys: Tensor[]) => Tensor | null | (Tensor | null | undefined)[];
}

/** Defines an op with a user-written backward; returns the function that applies it. */
export function customOp<A extends unknown[], R extends Tensor | Tensor[]>(definition: CustomOpDefinition<A, R>): (...args: A) => R {
  if (!isPlainObject(definition)) throw new ArgumentError(`customOp: takes one object { name, forward, backward }, got ${describeValue(definition)}`);
  expectKnownOptions('customOp', definition, ['name', 'forward', 'backward']);
  const { name, forward, backward } = definition;
  if (typeof name !== 'string' || !name) throw new ArgumentError(`customOp: name must be a non-empty string, got ${describeValue(name)}`);
  expectFunction(`customOp('${name}')`, 'forward', forward);
  expectFunction(`customOp('${name}')`, 'backward', backward);
  const op = (...args: A): R => apply(name, forward, backward, args);
  // Named as the op, for stack traces and for dn.gradcheck's messages.
  return Object.defineProperty(op, 'name', { value: name });
}

function apply<A extends unknown[], R extends Tensor | Tensor[]>(
  name: string,
  forward: CustomOpDefinition<A, R>['forward'],
  backward: CustomOpDefinition<A, R>['backward'],
  args: A,
): R {
  args.forEach((a, i) => {
    if (a instanceof Tensor) expectTensor(name, `argument ${i}`, a);
  });
  const recording = isRecording();
  const needsInputGrad = args.map((a) => recording && a instanceof Tensor && a.requiresGrad);
  const toSave: Tensor[] = [];
  const ctx: CustomOpContext = {
    save: (...tensors: Tensor[]) => {
      tensors.forEach((t, i) => expectTensor(`${name}: ctx.save()`, `tensor ${i}`, t));
      toSave.push(...tensors);
    },
    saved: [],
    needsInputGrad,
  };
  // A tensor made before the call (an argument, a weight the forward closes over) is returned as a
  // new handle: the node must not take over a tensor the user or another node already owns.
  const firstNew = nextTensorId();
  let many = false;
  const outs = scope(() => {
    const result = noGrad(() => forward(ctx, ...args));
    many = Array.isArray(result);
    const seen = new Set<Tensor>();
    const owned = expectReturnedTensors(name, 'forward', result).map((t) => {
      const fresh = t.id >= firstNew && !seen.has(t);
      seen.add(t);
      return fresh ? t : t.share();
    });
    // Called whether or not anything is recorded (recordMulti decides): an unrecorded run that
    // probes what its ops read (dn.checkpoint's first) must see this op's inputs too.
    const inputs = args.filter((a): a is Tensor => a instanceof Tensor);
    const shapes = owned.map((t) => t.shape);
    recordMulti(name, inputs, owned, (dys, _needs, saved) => runBackward(name, backward, ctx, args, shapes, dys, saved), toSave);
    return owned;
  });
  return (many ? outs : outs[0]) as R;
}

/**
 * The node's backward: the user's, given a gradient for every output, its results checked and
 * matched to the tensor arguments. A result that is a tensor the pass still owns (a dy passed
 * straight through, a saved tensor) is returned as a new handle, since the pass frees those.
 */
function runBackward(
  name: string,
  backward: CustomOpDefinition<unknown[], Tensor>['backward'],
  ctx: CustomOpContext,
  args: unknown[],
  shapes: readonly (readonly number[])[],
  dys: (Tensor | null)[],
  saved: Tensor[],
): (Tensor | null)[] {
  const full = dys.map((g, i) => g ?? zeros(shapes[i]));
  (ctx as { saved: readonly Tensor[] }).saved = saved;
  const result = backward(ctx, ...full);
  const list = Array.isArray(result) ? result : args.length === 1 ? [result] : null;
  if (!list || list.length !== args.length) {
    throw new ArgumentError(`${name}: backward must return one gradient per argument of forward (${args.length}), null where there is none; got ${describeValue(result)}`);
  }
  const grads: (Tensor | null)[] = [];
  list.forEach((g, i) => {
    const arg = args[i];
    if (g === null || g === undefined) {
      if (arg instanceof Tensor) grads.push(null);
      return;
    }
    if (!(arg instanceof Tensor)) throw new ArgumentError(`${name}: backward returned a gradient for argument ${i}, ${describeValue(arg)}, which is not a tensor; return null there`);
    expectTensor(`${name}: backward`, `gradient ${i}`, g);
    if (formatShape(g.shape) !== formatShape(arg.shape)) {
      throw new ShapeError(`${name}: backward's gradient for argument ${i} has shape ${formatShape(g.shape)}; the argument ${arg.describe()} needs its own shape`);
    }
    grads.push(full.includes(g) || saved.includes(g) || args.includes(g) || grads.includes(g) ? g.share() : g);
  });
  return grads;
}
