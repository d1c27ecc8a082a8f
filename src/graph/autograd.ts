// Reverse-mode autograd over a tape of op nodes. An op records a node on its output when any input
// requires a gradient and recording is on (it is off inside noGrad). backward() orders the nodes
// reachable from the loss topologically, runs each node's backward once with the summed gradient of
// its output, and accumulates into leaf tensors' `grad`. Gradients of inputs that do not require
// them are never computed: a frozen base costs nothing below its head.
//
// Saved tensors are shares of the originals (reference-counted storage), released as soon as their
// node has run, so memory falls during backward as it does in PyTorch.

import { ArgumentError, ShapeError } from '../errors.js';
import { binaryForward } from '../kernels/elementwise.js';
import { describeValue, expectFunction, expectKnownOptions, expectOptionalBoolean, expectTensor, isPlainObject } from './args.js';
import { keep, scope } from './scope.js';
import { formatShape, full, Tensor } from './tensor.js';

export interface TapeNode {
  op: string;
  inputs: Tensor[];
  /**
   * Given dL/d(output), returns dL/d(input) for each input (null where needsGrad[i] is false).
   * `saved` are the recorded tensors, in the order given to record(): read them, not the
   * originals, which the user may have disposed.
   */
  backward: (dy: Tensor, needsGrad: boolean[], saved: Tensor[]) => (Tensor | null)[];
  /** Tensors the backward reads; disposed after it runs. */
  saved: Tensor[];
  /**
   * The output's handle plus one per later node that consumes the output. When it reaches zero
   * nothing can reach this node any more, and its saved tensors are freed: disposing an
   * intermediate tensor does not cut the graph, and a graph nobody backpropagates through does
   * not leak.
   */
  refs: number;
  /** Set once backward has run and freed the saved tensors (unless retainGraph). */
  consumed?: boolean;
}

/** Drops one reference to a node; frees its saved tensors and its inputs' nodes at zero. */
export function releaseNode(node: TapeNode): void {
  if (--node.refs > 0) return;
  for (const s of node.saved) s.dispose();
  node.saved = [];
  for (const x of node.inputs) if (x.node) releaseNode(x.node);
}

let recording = true;

export function isRecording(): boolean {
  return recording;
}

/** Runs fn without recording any op for autograd. */
export function noGrad<T>(fn: () => T): T {
  expectFunction('noGrad', 'fn', fn);
  const before = recording;
  recording = false;
  try {
    return fn();
  } finally {
    recording = before;
  }
}

/**
 * Called by ops after computing `output`. Shares the saved tensors so they outlive a user's
 * dispose(). Returns output for chaining.
 */
export function record(
  op: string,
  inputs: Tensor[],
  output: Tensor,
  backward: TapeNode['backward'],
  saved: Tensor[] = [],
): Tensor {
  if (!recording || !inputs.some((t) => t.requiresGrad)) {
    return output;
  }
  output.requiresGrad = true;
  for (const x of inputs) if (x.node) x.node.refs++;
  output.node = { op, inputs, backward, saved: saved.map((t) => keep(t.share())), refs: 1 };
  return output;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    stack.push([t, true]);
    for (const input of t.node?.inputs ?? []) if (input.requiresGrad && !seen.has(input.id)) stack.push([input, false]);
  }
  return order.reverse();
}

const add = (a: Tensor, b: Tensor): Tensor => binaryForward('add', a, b);

/** What backward() makes of its dy argument: the gradient, if any, and retainGraph. */
interface Seed {
  dy: Tensor | null;
  retainGraph: boolean;
}

/**
 * Checks dy against the loss: it becomes the loss's gradient as it stands, so anything but a live
 * Tensor of exactly the loss's shape (PyTorch's rule) would be read as another shape, or past its
 * end. An options object where dy goes is taken as options: JavaScript's spelling of PyTorch's
 * loss.backward(retain_graph=True), and no Tensor can be mistaken for one.
 */
function seedOf(loss: Tensor, dy: unknown, retainGraph: unknown): Seed {
  expectOptionalBoolean('backward', 'retainGraph', retainGraph);
  if (dy === undefined || dy === null) return { dy: null, retainGraph: retainGraph === true };
  if (isPlainObject(dy)) {
    expectKnownOptions('backward', dy, ['retainGraph']);
    expectOptionalBoolean('backward', 'retainGraph', dy.retainGraph);
    return { dy: null, retainGraph: dy.retainGraph === true || retainGraph === true };
  }
  if (!(dy instanceof Tensor)) {
    throw new ArgumentError(`backward: dy must be a Tensor of the shape of ${loss.describe()} (or options such as { retainGraph: true }), got ${describeValue(dy)}`);
  }
  expectTensor('backward', 'dy', dy);
  if (formatShape(dy.shape) !== formatShape(loss.shape)) {
    throw new ShapeError(`backward: dy ${dy.describe()} must have the shape of the tensor it seeds, ${loss.describe()}`);
  }
  return { dy, retainGraph: retainGraph === true };
}

/**
 * Backpropagates from `loss` (a scalar unless `dy` is given). Leaf tensors with requiresGrad get
 * `.grad` (summed with any existing grad). The graph is released afterwards unless retainGraph.
 */
export function backward(loss: Tensor, dyArg?: unknown, retainGraphArg: unknown = false): void {
  const { dy, retainGraph } = seedOf(loss, dyArg, retainGraphArg);
  if (!loss.requiresGrad) throw new ShapeError(`backward: ${loss.describe()} does not require a gradient`);
  if (!dy && loss.size !== 1) throw new ShapeError(`backward: ${loss.describe()} is not a scalar; pass dy`);
  const order = topoOrder(loss);
  const grads = new Map<number, Tensor>();
  grads.set(loss.id, keep(dy ? dy.share() : full(loss.shape, 1)));
  const before = recording;
  recording = false;
  try {
    for (const t of order) {
      const g = grads.get(t.id);
      if (!g) continue;
      const node = t.node;
      if (!node) {
        grads.delete(t.id);
        // A leaf the caller disposed after using it (an input freed once the forward had run):
        // nothing can read its gradient, and one attached to it would never be freed.
        if (t.disposed) {
          g.dispose();
          continue;
        }
        if (t.grad) {
          const sum = keep(add(t.grad, g));
          t.grad.dispose();
          g.dispose();
          t.grad = sum;
        } else t.grad = g;
        continue;
      }
      if (node.consumed) {
        throw new ShapeError(`backward: the graph through ${node.op} was already freed by an earlier backward(); pass { retainGraph: true } to the first`);
      }
      const needs = node.inputs.map((x) => x.requiresGrad);
      const inputGrads = scope(() => node.backward(g, needs, node.saved));
      grads.delete(t.id);
      g.dispose();
      inputGrads.forEach((result, i) => {
        let gi = result;
        if (!gi || !needs[i]) {
          gi?.dispose();
          return;
        }
        const x = node.inputs[i];
        if (gi.size !== x.size) throw new ShapeError(`backward of ${node.op}: gradient ${gi.describe()} for input ${x.describe()}`);
        if (gi.shape.join() !== x.shape.join()) {
          const view = gi.share(x.shape);
          gi.dispose();
          gi = view;
        }
        const prev = grads.get(x.id);
        if (prev) {
          grads.set(x.id, keep(scope(() => add(prev, gi))));
          prev.dispose();
          gi.dispose();
        } else grads.set(x.id, keep(gi));
      });
      if (!retainGraph) {
        // Backward has used this node: its saved tensors are not needed again.
        for (const s of node.saved) s.dispose();
        node.saved = [];
        node.consumed = true;
      }
    }
  } finally {
    recording = before;
    for (const g of grads.values()) g.dispose();
  }
}
