// Reverse-mode autograd over a tape of op nodes. An op records a node on its outputs when any input
// requires a gradient and recording is on (it is off inside noGrad). Most ops have one output
// (record()); an op with several (split) records one node for all of them (recordMulti()).
// backward() orders the nodes reachable from the loss topologically, runs each node's backward once
// with the summed gradient of each of its outputs (null for an output no gradient reached), and
// accumulates into leaf tensors' `grad`. Gradients of inputs that do not require them are never
// computed: a frozen base costs nothing below its head.
//
// Saved tensors are shares of the originals (reference-counted storage), released as soon as their
// node has run, so memory falls during backward as it does in PyTorch.

import { ArgumentError, ShapeError } from '../errors.js';
import { binaryForward } from '../kernels/elementwise.js';
import { describeValue, expectFunction, expectKnownOptions, expectOptionalBoolean, expectTensor, isPlainObject } from './args.js';
import { keep, scope, trackInScope } from './scope.js';
import { formatShape, full, Tensor } from './tensor.js';

/**
 * Given dL/d(output) for each output (null for an output that no gradient reached, never all of
 * them), returns dL/d(input) for each input (null where needsGrad[i] is false). `saved` are the
 * recorded tensors, in the order given to record(): read them, not the originals, which the user
 * may have disposed.
 */
export type MultiBackward = (dys: (Tensor | null)[], needsGrad: boolean[], saved: Tensor[]) => (Tensor | null)[];

export interface TapeNode {
  op: string;
  inputs: Tensor[];
  /**
   * The ids of the outputs, in the order backward() takes their gradients. backward() keys the
   * gradients it sums by tensor id, and runs the node once all of its outputs' have arrived.
   */
  outputs: number[];
  backward: MultiBackward;
  /** Tensors the backward reads; disposed after it runs. */
  saved: Tensor[];
  /**
   * One per output's handle plus one per later node that consumes an output. When it reaches zero
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
/**
 * True while recording is off only because a dn.checkpoint's first run is under way: its backward
 * runs the function again, recording, so what would be refused there is refused now (runKernel).
 */
let recordedOnRecompute = false;

export function isRecording(): boolean {
  return recording;
}

/** Whether the ops run now are recorded, now or when dn.checkpoint's backward runs them again. */
export function isRecordingOrDeferred(): boolean {
  return recording || recordedOnRecompute;
}

/** Runs fn without recording any op for autograd. */
export function noGrad<T>(fn: () => T): T {
  expectFunction('noGrad', 'fn', fn);
  return withRecording(false, fn);
}

/**
 * Runs fn recording ops even where the caller does not (inside noGrad, or inside a backward pass,
 * which records nothing): PyTorch's torch.enable_grad. dn.checkpoint's backward recomputes with it.
 */
export function enableGrad<T>(fn: () => T): T {
  expectFunction('enableGrad', 'fn', fn);
  return withRecording(true, fn);
}

function withRecording<T>(on: boolean, fn: () => T, deferred = false): T {
  const before = recording;
  const deferredBefore = recordedOnRecompute;
  recording = on;
  recordedOnRecompute = deferred;
  try {
    return fn();
  } finally {
    recording = before;
    recordedOnRecompute = deferredBefore;
  }
}

/**
 * What the ops of an unrecorded run were given: dn.checkpoint runs its function once without
 * recording (so nothing is saved, and what the function frees is freed) and learns from this
 * whether a recomputation will have anything to backpropagate to (a weight that wants a gradient,
 * read though no input wants one), and whether the function read a recorded tensor from outside
 * (made before `firstNew`, not one of `leaves`), which it must take as an input instead.
 */
export interface UnrecordedProbe {
  firstNew: number;
  leaves: ReadonlySet<Tensor>;
  wantsGrad: boolean;
  /** Leaves made before the run that want a gradient (weights the function closes over). */
  weights: Set<Tensor>;
  outer: { tensor: Tensor; op: string } | null;
}

const probes: UnrecordedProbe[] = [];

/** Runs fn without recording, noting in `probe` what its ops were given. Probes nest. */
export function probeUnrecorded<T>(probe: UnrecordedProbe, fn: () => T): T {
  probes.push(probe);
  try {
    // A noGrad inside fn ends the deferral for its own ops, as it ends recording in the recomputation.
    return withRecording(false, fn, recording || recordedOnRecompute);
  } finally {
    probes.pop();
  }
}

function noteUnrecorded(op: string, inputs: Tensor[]): void {
  for (const probe of probes) {
    for (const t of inputs) {
      if (probe.leaves.has(t)) continue;
      if (t.requiresGrad) probe.wantsGrad = true;
      if (t.requiresGrad && !t.node && t.id < probe.firstNew) probe.weights.add(t);
      if (t.node && t.id < probe.firstNew && !probe.outer) probe.outer = { tensor: t, op: t.node.op };
    }
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
  backward: (dy: Tensor, needsGrad: boolean[], saved: Tensor[]) => (Tensor | null)[],
  saved: Tensor[] = [],
): Tensor {
  // A node runs only when some output has a gradient: with one output, that is dys[0].
  recordMulti(op, inputs, [output], (dys, needs, s) => backward(dys[0]!, needs, s), saved);
  return output;
}

/**
 * record() for an op with several outputs: one node for all of them, whose backward runs once per
 * pass with every output's gradient. Returns outputs.
 */
export function recordMulti(op: string, inputs: Tensor[], outputs: Tensor[], backward: MultiBackward, saved: Tensor[] = []): Tensor[] {
  if (!recording && probes.length) noteUnrecorded(op, inputs);
  if (!recording || !inputs.some((t) => t.requiresGrad) || outputs.length === 0) {
    return outputs;
  }
  return recordNode(op, inputs, outputs, backward, saved);
}

/**
 * recordMulti without its test of the inputs: a node whose outputs need a gradient though no
 * input does, because what it computes from reaches parameters by another way (dn.checkpoint's,
 * whose function closes over a model's weights, backpropagates to them itself).
 */
export function recordNode(op: string, inputs: Tensor[], outputs: Tensor[], backward: MultiBackward, saved: Tensor[] = []): Tensor[] {
  // Each output holds one reference: an output listed twice would hold two and drop one.
  if (new Set(outputs).size !== outputs.length) throw new ArgumentError(`${op}: an output is listed twice in one node`);
  const node: TapeNode = { op, inputs, outputs: outputs.map((y) => y.id), backward, saved: saved.map((t) => keep(t.share())), refs: outputs.length };
  for (const x of inputs) if (x.node) x.node.refs++;
  for (const y of outputs) {
    y.requiresGrad = true;
    y.node = node;
  }
  return outputs;
}

/**
 * The nodes that lead to root, each before the nodes that make its inputs, so a node comes after
 * every consumer of any of its outputs; and the leaves that get a gradient. A node is one unit
 * however many outputs it has: its outputs are never ordered apart.
 */
function topoOrder(root: Tensor): { nodes: TapeNode[]; leaves: Tensor[] } {
  const nodes: TapeNode[] = [];
  const leaves: Tensor[] = [];
  const seen = new Set<TapeNode>();
  const leafIds = new Set<number>();
  const stack: [TapeNode, boolean][] = [];
  const reach = (t: Tensor): void => {
    if (t.node) {
      if (!seen.has(t.node)) stack.push([t.node, false]);
    } else if (!leafIds.has(t.id)) {
      leafIds.add(t.id);
      leaves.push(t);
    }
  };
  reach(root);
  while (stack.length) {
    const [node, expanded] = stack.pop()!;
    if (expanded) {
      nodes.push(node);
      continue;
    }
    if (seen.has(node)) continue;
    seen.add(node);
    stack.push([node, true]);
    for (const input of node.inputs) if (input.requiresGrad) reach(input);
  }
  return { nodes: nodes.reverse(), leaves };
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

/** Adds g to the gradient summed so far for tensor x (both kept out of any scope). */
function accumulate(grads: Map<number, Tensor>, x: Tensor, g: Tensor): void {
  const prev = grads.get(x.id);
  if (prev) {
    grads.set(x.id, keep(scope(() => add(prev, g))));
    prev.dispose();
    g.dispose();
  } else grads.set(x.id, keep(g));
}

/**
 * Runs one node's backward with its outputs' gradients, once all have arrived, and passes the
 * results on to its inputs. What it cannot pass on is disposed before an error leaves.
 */
function runNode(node: TapeNode, grads: Map<number, Tensor>, retainGraph: boolean, wanted: ((x: Tensor) => boolean) | null = null): void {
  const dys = node.outputs.map((id) => grads.get(id) ?? null);
  if (dys.every((g) => !g)) return;
  if (node.consumed) {
    throw new ShapeError(`backward: the graph through ${node.op} was already freed by an earlier backward(); pass { retainGraph: true } to the first`);
  }
  const needs = node.inputs.map((x) => x.requiresGrad && (!wanted || wanted(x)));
  // The dys stay in grads until the backward has run: if it throws, backward()'s finally frees them.
  const inputGrads = scope(() => node.backward(dys, needs, node.saved));
  for (const id of node.outputs) grads.delete(id);
  for (const g of dys) g?.dispose();
  try {
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
      accumulate(grads, x, gi);
    });
  } catch (e) {
    // The whole pass fails: those already in grads are freed with the rest (dispose is idempotent).
    for (const gi of inputGrads) gi?.dispose();
    throw e;
  }
  if (!retainGraph) {
    // Backward has used this node: its saved tensors are not needed again. A node with several
    // outputs and nothing saved (split) stays usable: a later pass from another of its outputs
    // (each part of an unstack backpropagated on its own) needs nothing that was freed.
    for (const s of node.saved) s.dispose();
    if (node.outputs.length === 1 || node.saved.length) node.consumed = true;
    node.saved = [];
  }
}

/** A leaf's summed gradient into its `grad`. */
function settleLeaf(t: Tensor, g: Tensor): void {
  // A leaf the caller disposed after using it (an input freed once the forward had run): nothing
  // can read its gradient, and one attached to it would never be freed.
  if (t.disposed) g.dispose();
  else if (t.grad) {
    const sum = keep(add(t.grad, g));
    t.grad.dispose();
    g.dispose();
    t.grad = sum;
  } else t.grad = g;
}

/**
 * Backpropagates from `loss` (a scalar unless `dy` is given). Leaf tensors with requiresGrad get
 * `.grad` (summed with any existing grad), once every node has run: a pass whose op backward
 * fails leaves every leaf's grad as it was. The graph is released afterwards unless retainGraph.
 */
export function backward(loss: Tensor, dyArg?: unknown, retainGraphArg: unknown = false): void {
  const { dy, retainGraph } = seedOf(loss, dyArg, retainGraphArg);
  propagate(loss, dy, retainGraph, null, null, (leaves, grads) => {
    for (const t of leaves) {
      const g = grads.get(t.id);
      if (!g) continue;
      settleLeaf(t, g);
      grads.delete(t.id);
    }
  });
}

/**
 * The gradients of `loss` with respect to `wanted`, leaves or results of recorded ops (null for one
 * the loss does not depend on), returned instead of added to any leaf's `.grad`: no leaf's
 * `.grad` changes, a weight's the loss reaches included (PyTorch's torch.autograd.grad). The
 * graph is released unless retainGraph. The caller owns (and disposes) what it gets.
 */
export function gradientsOf(loss: Tensor, dy: Tensor | null, wanted: readonly Tensor[], retainGraph = false): (Tensor | null)[] {
  // A result's gradient is whole when the node that made it runs (every consumer ran before).
  const captured = new Map<number, Tensor | null>(wanted.filter((t) => t.node).map((t) => [t.id, null]));
  const found: (Tensor | null)[] = wanted.map(() => null);
  const first = new Map<Tensor, number>();
  wanted.forEach((t, i) => first.set(t, first.get(t) ?? i));
  try {
    propagate(loss, dy, retainGraph, captured, new Set(wanted.map((t) => t.id)), (_leaves, grads) => {
      wanted.forEach((t, i) => {
        const j = first.get(t)!;
        if (j !== i) {
          // Asked for twice: the same gradient, a handle each.
          found[i] = found[j]?.share() ?? null;
          return;
        }
        if (t.node && captured.get(t.id)) {
          found[i] = captured.get(t.id)!;
          captured.delete(t.id);
          return;
        }
        // A leaf, or a result whose node did not run (nothing asked for lies below it).
        const g = grads.get(t.id);
        if (!g) return;
        found[i] = g;
        grads.delete(t.id);
      });
    });
  } finally {
    for (const g of captured.values()) g?.dispose();
  }
  // Results like any op's: an enclosing dn.scope disposes them unless they are returned.
  for (const g of found) if (g) trackInScope(g);
  return found;
}

/**
 * One backward pass: runs the nodes from `loss` down (with `stopAt`, only those that lead to one of
 * its tensors), keeping in `capture` the gradient of each output it lists, then gives the leaves'
 * summed gradients to `take`, which removes from `grads` those it keeps; the rest are disposed.
 */
function propagate(
  loss: Tensor,
  dy: Tensor | null,
  retainGraph: boolean,
  capture: Map<number, Tensor | null> | null,
  stopAt: ReadonlySet<number> | null,
  take: (leaves: Tensor[], grads: Map<number, Tensor>) => void,
): void {
  if (!loss.requiresGrad) throw new ShapeError(`backward: ${loss.describe()} does not require a gradient`);
  if (!dy && loss.size !== 1) throw new ShapeError(`backward: ${loss.describe()} is not a scalar; pass dy`);
  const order = topoOrder(loss);
  const { leaves } = order;
  // torch.autograd.grad's pruning: only nodes that lead to a tensor asked for run (and are freed).
  const leads = new Set<TapeNode>();
  const wanted = stopAt && ((x: Tensor): boolean => stopAt.has(x.id) || (x.node !== null && leads.has(x.node)));
  if (wanted) {
    for (let k = order.nodes.length - 1; k >= 0; k--) if (order.nodes[k].inputs.some((x) => x.requiresGrad && wanted(x))) leads.add(order.nodes[k]);
  }
  const nodes = wanted ? order.nodes.filter((n) => leads.has(n)) : order.nodes;
  const grads = new Map<number, Tensor>();
  grads.set(loss.id, keep(dy ? dy.share() : full(loss.shape, 1)));
  const before = recording;
  const deferredBefore = recordedOnRecompute;
  recording = false;
  recordedOnRecompute = false;
  try {
    for (const node of nodes) {
      if (capture) {
        for (const id of node.outputs) {
          const g = grads.get(id);
          if (g && capture.has(id)) capture.set(id, keep(g.share()));
        }
      }
      runNode(node, grads, retainGraph, wanted);
    }
    take(leaves, grads);
  } finally {
    recording = before;
    recordedOnRecompute = deferredBefore;
    for (const g of grads.values()) g.dispose();
  }
}
