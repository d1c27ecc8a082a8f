// model.summary(): a table of a module tree, as Keras's model.summary() prints it: each module's
// path, class and parameter count, and with an input shape the output shape of each, recorded
// from one forward pass on zeros. That pass changes nothing: it runs in eval mode without
// gradients (batch norm reads its running statistics and leaves them alone, dropout is the
// identity), every module's training flag and host-side counters (a dropout layer's call count,
// which picks its next mask) are put back, and its tensors are freed before summary returns.

import { noGrad } from '../graph/autograd.js';
import { scope } from '../graph/scope.js';
import { checkShapeArg, formatShape, zeros, type Shape, type Tensor } from '../graph/tensor.js';
import type { Module } from './module.js';


/** Every module of the tree, depth first, with its dotted path ('' for the root). */
function walk(m: Module, path = ''): [string, Module][] {
  return [[path, m], ...m.namedChildren().flatMap(([n, c]) => walk(c, path ? `${path}.${n}` : n))];
}

/**
 * Output shapes of each module that ran forward on zeros of `inputShape`, one per call (a module
 * used twice, such as one ReLU field called after each conv, has two); a batch norm that ran with
 * its ReLU fused (forwardRelu, in a Sequential) is in `fused`, and that ReLU never runs.
 */
function outputShapes(root: Module, modules: Module[], inputShape: Shape): { shapes: Map<Module, Shape[]>; fused: Set<Module> } {
  const shapes = new Map<Module, Shape[]>();
  const fused = new Set<Module>();
  const restoreModes = root.saveTrainingModes();
  const counters = root.namedScalarState();
  const patched = modules.flatMap((m) =>
    (['forward', 'forwardRelu'] as const).filter((k) => typeof (m as unknown as Record<string, unknown>)[k] === 'function').map((k) => {
      const target = m as unknown as Record<string, (x: Tensor) => Tensor>;
      const own = Object.prototype.hasOwnProperty.call(m, k);
      const original = target[k];
      target[k] = (x: Tensor) => {
        const y = original.call(m, x);
        shapes.set(m, [...(shapes.get(m) ?? []), y.shape]);
        if (k === 'forwardRelu') fused.add(m);
        return y;
      };
      return () => (own ? (target[k] = original) : delete target[k]);
    }),
  );
  root.eval();
  try {
    noGrad(() => scope(() => void root.forward(zeros(inputShape))));
  } finally {
    for (const restore of patched) restore();
    restoreModes();
    root.loadNamedScalarState(counters);
  }
  return { shapes, fused };
}

/** Values in a module's parameters, its children's included. */
const parameterValues = (m: Module): number => m.namedParameters().reduce((n, p) => n + p.tensor.size, 0);

export function summary(root: Module, inputShape?: Shape): string {
  const tree = walk(root);
  // Each module once: one held under two names (a shared layer) wrapped twice recorded each call twice.
  if (inputShape !== undefined) checkShapeArg('summary', inputShape);
  const ran = inputShape ? outputShapes(root, [...new Set(tree.map(([, m]) => m))], inputShape) : null;
  // A module called more than once: its distinct shapes and how many calls (Keras prints
  // 'multiple' for a shared layer; the shapes say more).
  const output = (m: Module, i: number): string => {
    const calls = ran!.shapes.get(m);
    if (calls) {
      const counts = new Map<string, number>();
      for (const s of calls.map(formatShape)) counts.set(s, (counts.get(s) ?? 0) + 1);
      // Each distinct shape once, with how many calls gave it where more than one did.
      const distinct = [...counts].map(([s, k]) => (k > 1 ? `${s} ×${k}` : s)).join(', ');
      return calls.length > 1 ? `${distinct} (${calls.length} calls)` : distinct;
    }
    return i > 0 && ran!.fused.has(tree[i - 1][1]) ? '(fused above)' : '-';
  };
  const cells = tree.map(([path, m], i) => {
    // Its own parameters: what its children hold is on their rows.
    const own = parameterValues(m) - m.namedChildren().reduce((n, [, c]) => n + parameterValues(c), 0);
    return [path || '(model)', m.constructor.name, ...(ran ? [output(m, i)] : []), own ? own.toLocaleString('en-US') : ''];
  });
  const head = ['module', 'class', ...(ran ? ['output'] : []), 'parameters'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  // Totals count each tensor once: a module shared by two parents is listed under both (as the
  // rows show) but holds its weights once, as Keras's and PyTorch's counts say.
  const all = root.parameters();
  const trainable = all.filter((t) => t.requiresGrad).reduce((n, t) => n + t.size, 0);
  const total = root.parameterCount();
  const buffers = [...new Set(root.namedBuffers().map((p) => p.tensor))].reduce((n, t) => n + t.size, 0);
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    '',
    `parameters: ${total.toLocaleString('en-US')} (trainable ${trainable.toLocaleString('en-US')}, frozen ${(total - trainable).toLocaleString('en-US')}); buffers: ${buffers.toLocaleString('en-US')} values`,
  ].join('\n');
}
