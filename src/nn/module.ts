// Module: parameters (trainable tensors), buffers (state such as running statistics) and child
// modules, all named by their path ('down1.conv2.weight'), as PyTorch's state_dict names them.
// train()/eval() switch dropout and batch norm; freeze() turns off gradients so backward skips
// those weights entirely.

import { ArgumentError, DawnetError, DeviceLostError, ShapeError } from '../errors.js';
import { Tensor, type Shape } from '../graph/tensor.js';
import { describeValue } from '../graph/args.js';
import { isRecording } from '../graph/autograd.js';
import { checkpoint } from '../graph/checkpoint.js';
import { summary } from './summary.js';

export interface Named {
  name: string;
  tensor: Tensor;
}

/** On an error leaving a module's forward: the path it has come out through, and what it said. */
const LAYER = Symbol('dawnet.layer');
type LayerNote = { path: string[]; layer: string; message: string; last: Module; lost: boolean };

/**
 * An error passing out of `m`'s forward names the layer at fault, as Keras's 'Exception
 * encountered when calling layer' and PyTorch's traceback do: the first module it leaves is that
 * layer, named by its class and configuration ('Conv2d 3→8, 3x3: conv2d: ...'); each module it
 * then leaves adds the name under which it holds the one before, and the outermost names itself,
 * so a shape mistake deep in a model reads 'UNet encoder2.enc2conv1 (Conv2d 4→8, 3x3): conv2d:
 * ...'. The message is rebuilt from what the op said at each level, so the path is written once
 * however deep. Names come from the parents the error really passed through, so a module shared
 * by two, or used alone after an ensemble or TTA wrapped it, is named by the path it ran on. All
 * of it is built here, after the throw: a forward that succeeds pays for a try block only.
 */
function notePassage(e: unknown, m: Module): void {
  // A lost device is no layer's fault, and its error is one object that every later call throws
  // again (runtime.ts): a path written into it would name layers those calls never ran.
  if (!(e instanceof DawnetError) || e instanceof DeviceLostError) return;
  const err = e as DawnetError & { [LAYER]?: LayerNote };
  const note = err[LAYER];
  if (!note) {
    // Not enumerable: Node prints an uncaught error's enumerable properties, and `last` would
    // put the whole model (hundreds of lines) under the message.
    const value: LayerNote = { path: [], layer: layerName(m), message: err.message, last: m, lost: false };
    Object.defineProperty(err, LAYER, { value, enumerable: false, writable: true, configurable: true });
    // A layer's own check ('UNet: expects [N, H, W, 3] input') names it already.
    if (!namesItself(err.message, m)) err.message = `${value.layer}: ${value.message}`;
    return;
  }
  // A forward that calls its own module's other entry (forwardRelu calling forward) passes once.
  if (note.last === m || note.lost) return;
  // Usually a child; a deeper descendant where a level in between was not wrapped (a forward
  // set as a class field replaces the wrapper) or was skipped (a grandchild's forward called).
  const path = pathTo(m, note.last);
  note.last = m;
  if (path === null) {
    // The error came from a module m does not hold: a path from here on would be a wrong one.
    note.lost = true;
    return;
  }
  note.path.unshift(...path);
  err.message = `${m.constructor.name} ${note.path.join('.')} (${note.layer}): ${note.message}`;
}

/** The class and, where it has one, the configuration (extraRepr) of the layer an error came from. */
function layerName(m: Module): string {
  let config: unknown = '';
  try {
    config = m.extraRepr();
  } catch {
    // A subclass's broken extraRepr must not replace the error being reported: the class alone.
  }
  return typeof config === 'string' && config ? `${m.constructor.name} ${config}` : m.constructor.name;
}

/**
 * Whether a message starts with the module's own name, as a layer's or model's own checks write
 * it ('Linear: ...', 'VGG16: ...' from Vgg16). Ops are named in camelCase ('conv2d: ...', 'linear:
 * ...'), so a Conv2d passing on its op's message is not taken for one that named itself.
 */
function namesItself(message: string, m: Module): boolean {
  const own = /^([A-Z][A-Za-z0-9_]*):/.exec(message);
  return own !== null && own[1].toLowerCase() === m.constructor.name.toLowerCase();
}

/** The names leading from `from` down to `to` among its descendants (breadth first), else null. */
function pathTo(from: Module, to: Module): string[] | null {
  const queue: [Module, string[]][] = [[from, []]];
  const seen = new Set<Module>();
  while (queue.length) {
    const [m, path] = queue.shift()!;
    for (const [name, child] of m.namedChildren()) {
      if (child === to) return [...path, name];
      if (!seen.has(child)) {
        seen.add(child);
        queue.push([child, [...path, name]]);
      }
    }
  }
  return null;
}

/**
 * Wraps `m`'s forward and forwardRelu (Sequential's fused path) so that errors leaving them are
 * noted, and so that a module set to useCheckpointing() runs them under dn.checkpoint.
 */
function notePassagesOf(m: Module): void {
  const target = m as unknown as Record<string, ((...args: unknown[]) => unknown) & { [WRAPPED]?: true }>;
  for (const k of ['forward', 'forwardRelu']) {
    const inner = target[k];
    if (typeof inner !== 'function' || inner[WRAPPED]) continue;
    const wrapper = (...args: unknown[]) => {
      try {
        // useCheckpointing(): the forward's activations are recomputed in the backward.
        const x = args[0];
        if (m.checkpointing && x instanceof Tensor && isRecording()) return checkpoint((t) => inner.apply(m, [t, ...args.slice(1)]) as Tensor, x);
        return inner.apply(m, args);
      } catch (e) {
        notePassage(e, m);
        throw e;
      }
    };
    target[k] = Object.assign(wrapper, { [WRAPPED]: true as const });
  }
}

/** Marks a wrapper, so that wrapping again (a module registered, or registered twice) is a no-op. */
const WRAPPED = Symbol('dawnet.notesPassages');

/**
 * Named tensors with each tensor once, under its first name: what an optimiser takes, since tied
 * weights (one module under two parents) are one parameter, as PyTorch's parameters() yields them.
 */
function uniqueTensors(named: Named[]): Named[] {
  const seen = new Set<Tensor>();
  return named.filter((p) => !seen.has(p.tensor) && seen.add(p.tensor));
}

export abstract class Module {
  constructor() {
    // The subclass's methods are on `this` already (its prototype is set before this runs).
    notePassagesOf(this);
  }

  training = true;
  private ownParams = new Map<string, Tensor>();
  private ownBuffers = new Map<string, Tensor>();
  private children = new Map<string, Module>();
  /** Names of the children and parameters registered from fields (adoptFields). */
  private fieldNames = new Set<string>();

  abstract forward(x: Tensor): Tensor;

  /**
   * The configuration that tells this layer from others of its class ('3→8, 3x3' of a Conv2d),
   * as PyTorch's extra_repr: an error leaving the layer names it by its class and this. Called
   * only when such an error happens; '' (the default) names the class alone.
   */
  extraRepr(): string {
    return '';
  }

  protected addParameter(name: string, t: Tensor): Tensor {
    this.claimName('parameter', name);
    t.requiresGrad = true;
    t.name ??= name;
    this.ownParams.set(name, t);
    return t;
  }

  protected addBuffer(name: string, t: Tensor): Tensor {
    this.claimName('buffer', name);
    t.name ??= name;
    this.ownBuffers.set(name, t);
    return t;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    this.claimName('child', name);
    this.children.set(name, m);
    // A forward set as a class field replaced the constructor's wrapper: wrap it now.
    notePassagesOf(m);
    return m;
  }

  /**
   * Registers what a subclass assigned to its fields, as PyTorch's `self.conv = nn.Conv2d(...)`
   * and Keras's attribute tracking do: a Module as a child, a leaf tensor that requires a gradient
   * (PyTorch's nn.Parameter) as a parameter, each under the field's name, in the order assigned.
   * Without it such a model had no parameters and trained nothing, silently. Run before every walk
   * of the tree, since fields are set after Module's constructor: a field reassigned replaces what
   * it held, as PyTorch's setattr does. Modules in an array are refused: nothing names them.
   */
  private adoptFields(): void {
    const self = this as unknown as Record<string, unknown>;
    for (const name of this.fieldNames) {
      if (self[name] === (this.children.get(name) ?? this.ownParams.get(name))) continue;
      this.children.delete(name);
      this.ownParams.delete(name);
      this.fieldNames.delete(name);
    }
    const held = new Set<unknown>([...this.children.values(), ...this.ownParams.values(), ...this.ownBuffers.values()]);
    for (const [name, v] of Object.entries(self)) {
      if (v === this || held.has(v)) continue;
      if (v instanceof Module) {
        // A back-reference (a child's field holding its parent) would make the tree a cycle,
        // which every walk of it would follow without end.
        if (v.reaches(this)) {
          throw new ArgumentError(
            `${this.constructor.name}: field '${name}' holds a ${v.constructor.name} that contains this module (a cycle): ` +
              'keep a back-reference out of the module tree (a WeakRef, or a non-enumerable property)',
          );
        }
        this.addModule(name, v);
      }
      else if (v instanceof Tensor && v.requiresGrad && v.node === null && !v.disposed) this.addParameter(name, v);
      else {
        if (Array.isArray(v) && v.some((m) => m instanceof Module && !held.has(m))) {
          throw new ArgumentError(
            `${this.constructor.name}: field '${name}' holds modules in an array, which nothing registers: ` +
              `hold them in a new nn.ModuleList([...]) (or nn.Sequential to run them in turn), or register each with this.addModule(name, module)`,
          );
        }
        continue;
      }
      this.fieldNames.add(name);
    }
  }

  /** Whether `target` is this module or among its registered descendants (children as registered so far). */
  private reaches(target: Module, seen = new Set<Module>()): boolean {
    if (this === target) return true;
    if (seen.has(this)) return false;
    seen.add(this);
    for (const c of this.children.values()) if (c.reaches(target, seen)) return true;
    return false;
  }

  /**
   * A name is a key of the state dict: registered twice, the second would hide the first, which
   * still runs but is never trained or saved; with a '.', module() and freeze() would split it.
   */
  private claimName(kind: 'child' | 'parameter' | 'buffer', name: string): void {
    const owner = this.constructor.name;
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new ArgumentError(`${owner}: ${kind} name ${typeof name === 'string' ? `'${name}'` : String(name)} must be a non-empty string without '.' (state-dict paths join names with '.')`);
    }
    const holder = this.holderOf(name);
    if (holder) throw new ArgumentError(`${owner}: name '${name}' is taken already (by ${holder}); give each ${kind} a name of its own`);
  }

  /** What this module registered under `name` already ('' when nothing). */
  private holderOf(name: string): string {
    if (this.ownParams.has(name)) return 'a parameter';
    if (this.ownBuffers.has(name)) return 'a buffer';
    const child = this.children.get(name);
    return child ? `a child ${child.constructor.name}` : '';
  }

  /** Child modules in registration order, with their names. */
  namedChildren(): [string, Module][] {
    this.adoptFields();
    return [...this.children];
  }

  namedParameters(prefix = ''): Named[] {
    this.adoptFields();
    const out: Named[] = [];
    for (const [n, t] of this.ownParams) out.push({ name: prefix + n, tensor: t });
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Each parameter tensor once (a module shared by two parents is listed under both paths in namedParameters). */
  parameters(): Tensor[] {
    return uniqueTensors(this.namedParameters()).map((p) => p.tensor);
  }

  /**
   * Drops every parameter's gradient (each tensor's zeroGrad), as PyTorch's model.zero_grad() with
   * its default set_to_none; the optimiser's zeroGrad() does the same for the tensors it was given.
   */
  zeroGrad(): void {
    for (const t of this.parameters()) t.zeroGrad();
  }

  /** Parameters that currently require gradients (what an optimiser should update). */
  trainableParameters(): Named[] {
    return uniqueTensors(this.namedParameters()).filter((p) => p.tensor.requiresGrad);
  }

  namedBuffers(prefix = ''): Named[] {
    this.adoptFields();
    const out: Named[] = [];
    for (const [n, t] of this.ownBuffers) out.push({ name: prefix + n, tensor: t });
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Parameters and buffers by name: what a checkpoint holds. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()].map((p) => [p.name, p.tensor]));
  }

  /** Values in the parameters, each tensor counted once: a module shared by two parents is listed under both. */
  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /**
   * A table of the module tree (path, class, parameters), as Keras's model.summary(); given an
   * input shape, each module's output shape too, from one side-effect-free forward pass on zeros
   * (see summary.ts). Print it with console.log.
   */
  summary(inputShape?: Shape): string {
    return summary(this, inputShape);
  }

  train(on = true): this {
    // train('no') would set a truthy flag and train; train(0) would not be a boolean to save.
    if (typeof on !== 'boolean') throw new ArgumentError(`train: on must be true or false, got ${describeValue(on)}`);
    this.training = on;
    this.adoptFields();
    for (const c of this.children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Set by useCheckpointing(): forward runs under dn.checkpoint while recording. */
  checkpointing = false;

  /**
   * Activation checkpointing of this module (not its children on their own): its forward runs
   * under dn.checkpoint while gradients are recorded, so what its layers save for backward is
   * recomputed then instead of kept (HuggingFace's gradient_checkpointing_enable, per module).
   * The parameters keep their names; gradients are the same bit for bit.
   */
  useCheckpointing(on = true): this {
    if (typeof on !== 'boolean') throw new ArgumentError(`useCheckpointing: on must be true or false, got ${describeValue(on)}`);
    this.checkpointing = on;
    return this;
  }

  /**
   * Every module's training flag in this tree, as it is now; the returned function puts them
   * back. For code that switches a model to eval() for a while (evaluate, summary, the learning-
   * rate finder) and must not leave a training loop's model in inference mode, nor a model the
   * caller had put in eval() mode in training mode.
   */
  saveTrainingModes(): () => void {
    const modes: [Module, boolean][] = [];
    const walk = (m: Module) => {
      modes.push([m, m.training]);
      m.adoptFields();
      for (const c of m.children.values()) walk(c);
    };
    walk(this);
    return () => {
      for (const [m, on] of modes) m.training = on;
    };
  }

  /**
   * Stops gradients for parameters whose name starts with any of the prefixes (all when none are
   * given). Returns the number of tensors frozen. A BatchNorm2d with its weight and bias frozen
   * also stops updating its running statistics, even in train() (see BatchNorm2d).
   */
  freeze(...prefixes: string[]): number {
    return this.setTrainable(false, prefixes);
  }

  unfreeze(...prefixes: string[]): number {
    return this.setTrainable(true, prefixes);
  }

  private setTrainable(on: boolean, prefixes: string[]): number {
    const bad = prefixes.findIndex((q) => typeof q !== 'string');
    if (bad >= 0) throw new ArgumentError(`${on ? 'unfreeze' : 'freeze'}: prefixes[${bad}] must be a parameter name or prefix such as 'encoder1', got ${describeValue(prefixes[bad])}`);
    let n = 0;
    for (const p of this.namedParameters()) {
      if (prefixes.length === 0 || prefixes.some((q) => p.name === q || p.name.startsWith(q.endsWith('.') ? q : `${q}.`))) {
        p.tensor.requiresGrad = on;
        if (!on) p.tensor.zeroGrad();
        n++;
      }
    }
    if (prefixes.length && n === 0) {
      throw new ShapeError(`freeze: no parameter matches ${prefixes.map((q) => `'${q}'`).join(', ')}`);
    }
    return n;
  }

  /** Host-side state that is neither a parameter nor a buffer (e.g. a dropout layer's call count). */
  scalarState(): Record<string, number> {
    return {};
  }

  loadScalarState(_state: Record<string, number>): void {}

  /** scalarState() of every module that has any, by module path ('' for this one). */
  namedScalarState(prefix = ''): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    const own = this.scalarState();
    if (Object.keys(own).length) out[prefix] = own;
    this.adoptFields();
    for (const [n, c] of this.children) Object.assign(out, c.namedScalarState(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  loadNamedScalarState(state: Record<string, Record<string, number>>, prefix = ''): void {
    if (state[prefix]) this.loadScalarState(state[prefix]);
    this.adoptFields();
    for (const [n, c] of this.children) c.loadNamedScalarState(state, prefix ? `${prefix}.${n}` : n);
  }

  /** Sub-module by dotted path, e.g. 'features.block1_conv1'. */
  module(path: string): Module {
    if (typeof path !== 'string') throw new ArgumentError(`module: path must be a dotted name such as 'features.block1_conv1', got ${describeValue(path)}`);
    let m: Module = this;
    for (const part of path.split('.')) {
      m.adoptFields();
      const next = m.children.get(part);
      if (!next) throw new ShapeError(`module: no sub-module '${path}' (stopped at '${part}')`);
      m = next;
    }
    return m;
  }

  dispose(): void {
    for (const p of this.namedParameters()) p.tensor.dispose();
    for (const b of this.namedBuffers()) b.tensor.dispose();
  }
}
