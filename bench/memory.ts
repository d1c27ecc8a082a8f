// The theoretical minimum GPU memory of an end-to-end step, to hold the buffer pool's measured peak
// against. A network is written down as a small graph (its ops, their tensors and parameters), the
// same architecture as dawnet's model, and the minimum is
//
//   weights + Adam's two moments + non-trainable state (batch norm running statistics)
//   + the step's inputs (the image batch and, for training, the target masks)
//   + the most that an ideal schedule holds at once of: the activations some op must save for
//     backward (each distinct tensor counted once), the weight gradients written so far, and the
//     transient working set.
//
// What each op must save (MINIMUM_SAVES), the least any framework needs:
//   conv2d, convTranspose2d  its input (for the weight gradient; the weight is a parameter)
//   batchNorm2d (training)   its input and the per-channel mean and 1/std (2C values)
//   relu                     its output (y > 0 exactly where x > 0), the same tensor the next op saves
//   maxPool2d                the argmax of each window: one 4-byte index per output element
//   concat                   nothing (its backward only splits dy)
//   sigmoid                  its output (dy * y * (1 - y))
//   dice loss                the target (a step input) and the two sums per group
// dawnet's ops save exactly these (DAWNET_SAVES = MINIMUM_SAVES); relu used to save its input,
// one more activation-sized tensor per conv block after a batch norm, until it switched to its output.
//
// The ideal schedule, simulated op by op. Forward: the saved tensors made so far, plus tensors no
// op saves from the op that makes them to their last reader (a batch norm's output before the relu,
// an up-conv's output before the concat). Backward, last op first: a saved tensor is released once
// the earliest op that saves it has run its backward; weight gradients accumulate (they live until
// the optimiser step); the pending gradients of tensors whose producer has not run yet (a skip
// connection's gradient waits for the encoder) and the dx the current op writes are transient.
// The issue's plain sum (held + all gradients + all saved + the largest transient) is reported too
// as `sum`: an upper bound of the minimum, since activations are released before all gradients
// exist; with small activations (a small scale) the measured peak can fall below it.

export type OpKind = 'conv' | 'convTranspose' | 'batchNorm' | 'relu' | 'maxPool' | 'concat' | 'sigmoid' | 'dice';

export interface NetOp {
  name: string;
  kind: OpKind;
  inputs: string[];
  output: string;
  /** Trainable elements (weights, biases, gamma and beta). */
  params: number;
  /** Non-trainable elements (running statistics). */
  state: number;
  /** Multiply-adds of the forward (convolutions only). */
  macs: number;
}

export interface NetGraph {
  name: string;
  /** Elements of every tensor by name; shapes are NHWC (NDHWC for volumes). */
  tensors: Map<string, number[]>;
  ops: NetOp[];
  /** The step's inputs: the batch and, when training, the target. They need no gradient. */
  inputs: string[];
}

type Saves = (op: NetOp, g: NetGraph) => { tensors: string[]; extra: number };

const channels = (g: NetGraph, t: string) => g.tensors.get(t)!.at(-1)!;

export const MINIMUM_SAVES: Record<OpKind, Saves> = {
  conv: (op) => ({ tensors: [op.inputs[0]], extra: 0 }),
  convTranspose: (op) => ({ tensors: [op.inputs[0]], extra: 0 }),
  batchNorm: (op, g) => ({ tensors: [op.inputs[0]], extra: 2 * channels(g, op.inputs[0]) }),
  relu: (op) => ({ tensors: [op.output], extra: 0 }),
  maxPool: (op, g) => ({ tensors: [], extra: elements(g, op.output) }),
  concat: () => ({ tensors: [], extra: 0 }),
  sigmoid: (op) => ({ tensors: [op.output], extra: 0 }),
  dice: (op) => ({ tensors: [op.inputs[1]], extra: 2 }),
};

/** What dawnet's ops save (src/kernels/*): the minimum's choices. */
export const DAWNET_SAVES: Record<OpKind, Saves> = { ...MINIMUM_SAVES };

export function elements(g: NetGraph, t: string): number {
  const shape = g.tensors.get(t);
  if (!shape) throw new RangeError(`memory: ${g.name} has no tensor '${t}'`);
  return shape.reduce((p, d) => p * d, 1);
}

// ---------------------------------------------------------------------------------------------
// Building graphs

/** Appends ops while tracking shapes; names follow dawnet's parameter paths. */
export class GraphBuilder {
  readonly graph: NetGraph;
  constructor(name: string, inputs: [string, number[]][]) {
    this.graph = { name, tensors: new Map(inputs), ops: [], inputs: inputs.map(([n]) => n) };
  }

  shape(t: string): number[] {
    return this.graph.tensors.get(t)!;
  }

  private add(kind: OpKind, name: string, inputs: string[], shape: number[], params = 0, macs = 0, state = 0): string {
    this.graph.tensors.set(name, shape);
    this.graph.ops.push({ name, kind, inputs, output: name, params, state, macs });
    return name;
  }

  // Shapes are [N, ...spatial, C]: images (two spatial axes) or volumes (three), the op the same.

  /** 'same' padding, stride 1, a k-wide window on every spatial axis. */
  conv(name: string, x: string, cout: number, k: number, bias: boolean): string {
    const [n, ...rest] = this.shape(x);
    const cin = rest.pop()!;
    const taps = k ** rest.length;
    return this.add('conv', name, [x], [n, ...rest, cout], taps * cin * cout + (bias ? cout : 0), n * product(rest) * taps * cin * cout);
  }

  /** k wide, stride k on every spatial axis (the U-Net's 2x2 or 2x2x2 up-convolution), with bias. */
  convTranspose(name: string, x: string, cout: number, k: number): string {
    const [n, ...rest] = this.shape(x);
    const cin = rest.pop()!;
    const taps = k ** rest.length;
    return this.add('convTranspose', name, [x], [n, ...rest.map((d) => d * k), cout], taps * cin * cout + cout, n * product(rest) * taps * cin * cout);
  }

  batchNorm(name: string, x: string): string {
    const c = this.shape(x).at(-1)!;
    return this.add('batchNorm', name, [x], this.shape(x), 2 * c, 0, 2 * c);
  }

  relu(name: string, x: string): string {
    return this.add('relu', name, [x], this.shape(x));
  }

  sigmoid(name: string, x: string): string {
    return this.add('sigmoid', name, [x], this.shape(x));
  }

  /** 2 wide, stride 2, on every spatial axis. */
  maxPool(name: string, x: string): string {
    const [n, ...rest] = this.shape(x);
    const c = rest.pop()!;
    return this.add('maxPool', name, [x], [n, ...rest.map((d) => Math.floor(d / 2)), c]);
  }

  concat(name: string, xs: string[]): string {
    const first = this.shape(xs[0]);
    return this.add('concat', name, xs, [...first.slice(0, -1), xs.reduce((s, x) => s + this.shape(x).at(-1)!, 0)]);
  }

  dice(name: string, p: string, target: string): string {
    return this.add('dice', name, [p, target], [1]);
  }
}

const product = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

export interface UNetGraphOptions {
  batch: number;
  size: number;
  features: number;
  depth: number;
  inChannels?: number;
  outChannels?: number;
}

/** dn.models.unet (batch norm, transposed up-convolutions, sigmoid) and its Dice loss. */
export function unetGraph(o: UNetGraphOptions): NetGraph {
  return uNetGraphOf(`unet f${o.features} d${o.depth}`, [o.size, o.size], o);
}

/** dn.models.unet3d at its defaults' layers (BatchNorm3d, 2x2x2 up-convolutions, sigmoid) on cubes of side `size`, and its Dice loss. */
export function unet3dGraph(o: UNetGraphOptions): NetGraph {
  return uNetGraphOf(`unet3d f${o.features} d${o.depth}`, [o.size, o.size, o.size], o);
}

/** The U-Net's graph on inputs of the given spatial sides: the two U-Nets have one layout. */
function uNetGraphOf(name: string, sides: number[], o: UNetGraphOptions): NetGraph {
  const cin = o.inChannels ?? 3;
  const cout = o.outChannels ?? 1;
  const b = new GraphBuilder(name, [
    ['x', [o.batch, ...sides, cin]],
    ['target', [o.batch, ...sides, cout]],
  ]);
  const block = (prefix: string, name: string, x: string, width: number) => {
    let h = x;
    for (const i of [1, 2]) {
      h = b.conv(`${prefix}.${name}conv${i}`, h, width, 3, false);
      h = b.batchNorm(`${prefix}.${name}norm${i}`, h);
      h = b.relu(`${prefix}.${name}relu${i}`, h);
    }
    return h;
  };
  const skips: string[] = [];
  let h = 'x';
  for (let level = 1; level <= o.depth; level++) {
    const e = block(`encoder${level}`, `enc${level}`, h, o.features * 2 ** (level - 1));
    skips.push(e);
    h = b.maxPool(`pool${level}`, e);
  }
  h = block('bottleneck', 'bottleneck', h, o.features * 2 ** o.depth);
  for (let level = o.depth; level >= 1; level--) {
    const width = o.features * 2 ** (level - 1);
    const u = b.convTranspose(`upconv${level}`, h, width, 2);
    const cat = b.concat(`concat${level}`, [u, skips.pop()!]);
    h = block(`decoder${level}`, `dec${level}`, cat, width);
  }
  const p = b.sigmoid('sigmoid', b.conv('conv', h, cout, 1, true));
  b.dice('dice', p, 'target');
  return b.graph;
}

const VGG_BLOCKS = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3],
] as const;

/** dn.models.vgg16({ includeTop: false }): 13 3x3 convs with bias and ReLU, 5 max pools. */
export function vgg16Graph(o: { batch: number; size: number; inChannels?: number }): NetGraph {
  const b = new GraphBuilder('vgg16 features', [['x', [o.batch, o.size, o.size, o.inChannels ?? 3]]]);
  let h = 'x';
  VGG_BLOCKS.forEach(([width, convs], i) => {
    for (let c = 1; c <= convs; c++) {
      h = b.conv(`features.block${i + 1}_conv${c}`, h, width, 3, true);
      h = b.relu(`features.block${i + 1}_relu${c}`, h);
    }
    h = b.maxPool(`features.block${i + 1}_pool`, h);
  });
  return b.graph;
}

// ---------------------------------------------------------------------------------------------
// Work and memory

export function parameterCount(g: NetGraph): number {
  return g.ops.reduce((s, op) => s + op.params, 0);
}

/**
 * Flops of one step, 2 per multiply-add of the convolutions: the forward, and for training the
 * weight gradient of every conv and the input gradient of every conv but the first (the batch needs
 * no gradient). Element-wise ops, batch norm and the optimiser are not counted.
 */
export function stepFlops(g: NetGraph, training: boolean): number {
  let macs = 0;
  for (const op of g.ops) {
    if (!op.macs) continue;
    macs += op.macs;
    if (training) macs += op.macs + (g.inputs.includes(op.inputs[0]) ? 0 : op.macs);
  }
  return 2 * macs;
}

export interface MemoryMinimum {
  /** Bytes held the whole step. */
  weights: number;
  moments: number;
  state: number;
  inputs: number;
  /** Bytes at the end of backward: every weight gradient. */
  gradients: number;
  /** Every activation some op saves for backward, each tensor once, and by the kind that saves it. */
  saved: number;
  savedByKind: Partial<Record<OpKind, number>>;
  /** The minimum: the most the ideal schedule holds at once, and the op where that happens. */
  total: number;
  at: string;
  /** What is live at that op besides the weights, moments, state and inputs. */
  atPeak: { saved: number; gradients: number; transient: number };
  /** The plain sum: held + all gradients + all saved + the largest transient (an upper bound of total). */
  sum: number;
}

interface SavePlan {
  /** Saved tensor -> index of the first (earliest) op that saves it: freed after that op's backward. */
  until: Map<string, number>;
  /** Per op: saved values that are not tensors (statistics, argmax). */
  extra: number[];
  savedByKind: Partial<Record<OpKind, number>>;
  saved: number;
}

function savePlan(g: NetGraph, saves: Record<OpKind, Saves>): SavePlan {
  const plan: SavePlan = { until: new Map(), extra: [], savedByKind: {}, saved: 0 };
  g.ops.forEach((op, i) => {
    const s = saves[op.kind](op, g);
    let mine = s.extra;
    plan.extra.push(s.extra);
    for (const t of s.tensors) {
      if (g.inputs.includes(t) || plan.until.has(t)) continue;
      plan.until.set(t, i);
      mine += elements(g, t);
    }
    plan.savedByKind[op.kind] = (plan.savedByKind[op.kind] ?? 0) + 4 * mine;
    plan.saved += 4 * mine;
  });
  return plan;
}

interface Moment {
  at: string;
  saved: number;
  gradients: number;
  transient: number;
}

const size = (m: Moment) => m.saved + m.gradients + m.transient;

/** Forward: saved tensors made so far, plus the unsaved ones still to be read. Elements. */
function forwardMoments(g: NetGraph, plan: SavePlan | null): Moment[] {
  const born = new Map(g.ops.map((op, i) => [op.output, i]));
  const lastUse = new Map<string, number>();
  g.ops.forEach((op, i) => op.inputs.forEach((t) => lastUse.set(t, i)));
  return g.ops.map((op, i) => {
    let saved = 0;
    let transient = 0;
    for (const [t, b] of born) {
      if (b > i) continue;
      if (plan?.until.has(t)) saved += elements(g, t);
      else if (b === i || (lastUse.get(t) ?? -1) >= i) transient += elements(g, t);
    }
    if (plan) for (let j = 0; j <= i; j++) saved += plan.extra[j];
    return { at: `forward ${op.name}`, saved, gradients: 0, transient };
  });
}

/** Backward, last op first: saved tensors not yet released, weight gradients so far, pending input gradients and the dx being written. */
function backwardMoments(g: NetGraph, plan: SavePlan): Moment[] {
  const pending = new Map<string, number>([[g.ops.at(-1)!.output, elements(g, g.ops.at(-1)!.output)]]);
  let gradients = 0;
  const out: Moment[] = [];
  for (let k = g.ops.length - 1; k >= 0; k--) {
    const op = g.ops[k];
    let saved = 0;
    for (const [t, until] of plan.until) if (until <= k) saved += elements(g, t);
    for (let j = 0; j <= k; j++) saved += plan.extra[j];
    gradients += op.params;
    const needs = op.inputs.filter((t) => !g.inputs.includes(t));
    let transient = [...pending.values()].reduce((a, b) => a + b, 0);
    for (const t of needs) transient += elements(g, t);
    out.push({ at: `backward ${op.name}`, saved, gradients, transient });
    pending.delete(op.output);
    for (const t of needs) pending.set(t, elements(g, t));
  }
  return out;
}

/** The minimum for a training step with Adam ('train') or a forward without gradients ('inference'). */
export function minimumMemory(g: NetGraph, mode: 'train' | 'inference', saves = MINIMUM_SAVES): MemoryMinimum {
  const train = mode === 'train';
  const params = parameterCount(g);
  const held = {
    weights: 4 * params,
    moments: train ? 8 * params : 0,
    state: 4 * g.ops.reduce((s, op) => s + op.state, 0),
    inputs: 4 * g.inputs.reduce((s, t) => s + elements(g, t), 0),
  };
  const plan = train ? savePlan(g, saves) : null;
  const moments = [...forwardMoments(g, plan), ...(plan ? backwardMoments(g, plan) : [])];
  const peak = moments.reduce((a, b) => (size(b) > size(a) ? b : a));
  const heldBytes = held.weights + held.moments + held.state + held.inputs;
  const gradients = train ? 4 * params : 0;
  const saved = plan?.saved ?? 0;
  const maxTransient = 4 * Math.max(...moments.map((m) => m.transient));
  return {
    ...held,
    gradients,
    saved,
    savedByKind: plan?.savedByKind ?? {},
    total: heldBytes + 4 * size(peak),
    at: peak.at,
    atPeak: { saved: 4 * peak.saved, gradients: 4 * peak.gradients, transient: 4 * peak.transient },
    sum: heldBytes + gradients + saved + maxTransient,
  };
}
