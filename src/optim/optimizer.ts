// The optimiser base: the parameters it updates, a learning rate that callbacks may change, and
// per-parameter state tensors (moments) that checkpoints save and restore by name.

import { ArgumentError, FormatError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectNumber, expectTensor } from '../graph/args.js';
import { keep } from '../graph/scope.js';
import { full, Tensor } from '../graph/tensor.js';

/** PyTorch's and Keras's names for options that dawnet spells otherwise, for the hint in the error. */
const OTHER_NAMES: Record<string, string[]> = {
  learningRate: ['lr'],
  learning_rate: ['learningRate', 'lr'],
  betas: ['beta1', 'beta2'],
  epsilon: ['eps'],
};

/**
 * expectKnownOptions, with a hint where an unknown option is another library's name for a known
 * one: new Adam(ps, { learningRate }) or { betas } would otherwise train at the defaults, silently.
 */
export function expectOptimizerOptions(op: string, opts: object, known: readonly string[]): void {
  expectKnownOptions(op, opts, known, { spellings: OTHER_NAMES, say: (key, meant) => (key === 'betas' ? 'beta1 and beta2' : meant) });
}

/** A setting as checkpoints record it. */
export type OptimizerSetting = number | string | boolean;

/** What a checkpoint keeps beside the state tensors: the numbers to resume, and what the state means. */
export interface OptimizerScalars {
  lr: number;
  /** The optimiser's completed steps. */
  step: number;
  /** Each parameter's own updates by name; absent in state saved before 2026-11-27. */
  paramSteps?: Record<string, number>;
  /**
   * What the state tensors mean where an option changes it (RMSprop's 'pytorch' or 'keras': Keras
   * keeps the learning rate inside the momentum buffer). A mismatch is refused; absent (state saved
   * before 2026-11-28, or an optimiser without such an option), the state loads as it is.
   */
  convention?: string;
  /**
   * The settings the optimiser was built with (hyperparameters()), recorded so that a resume with
   * other ones can be warned of; they are not restored. Absent in state saved before 2026-11-28.
   */
  hyperparameters?: Record<string, OptimizerSetting>;
}

export interface NamedParameter {
  name: string;
  tensor: Tensor;
}

export abstract class Optimizer {
  /**
   * The optimiser's name ('Adam', 'AdamW', 'SGD', 'RMSprop', 'Adagrad'), recorded in checkpoints so
   * that state is never loaded into another kind; explicit because a minified bundle renames classes.
   */
  readonly kind: string;
  private rate = 0;
  /**
   * The learning rate, read at each step; a schedule sets it between steps. Set, it is checked as
   * the constructor checks it: a string ('0.1'), NaN or a negative rate is refused, where a plain
   * field took it and the next step multiplied by it.
   */
  get lr(): number {
    return this.rate;
  }
  set lr(value: number) {
    expectNumber(this.kind ?? 'optimizer', 'lr', value, { min: 0 });
    this.rate = value;
  }
  /** Completed steps of the optimiser, whichever parameters they updated. */
  stepCount = 0;
  /**
   * Each parameter's own count of updates, by name (PyTorch's per-parameter `step` state): a step
   * at which a parameter has no gradient leaves it, and its count, as they were. Adam's bias
   * correction and Adagrad's learning-rate decay read it.
   */
  protected paramSteps = new Map<string, number>();
  protected params: NamedParameter[];
  /** State tensors by `${paramName}.${slot}`. */
  protected state = new Map<string, Tensor>();

  /** `op` names the optimiser in errors about its arguments. */
  constructor(params: NamedParameter[] | Tensor[], lr: number, op = 'optimizer') {
    this.params = checkParams(op, params);
    this.kind = op;
    this.lr = lr;
  }

  /** Applies one update to every parameter that has a gradient, counting the step and each update. */
  step(): void {
    this.stepCount++;
    for (const p of this.params) {
      if (!p.tensor.requiresGrad || !p.tensor.grad) continue;
      const t = this.parameterSteps(p.name) + 1;
      this.update(p, t);
      this.paramSteps.set(p.name, t);
    }
  }

  /** Updates `p` from its gradient; `t` counts this update among p's own (1 for its first). */
  protected abstract update(p: NamedParameter, t: number): void;

  /** How many updates the parameter named `name` has taken (0 before its first gradient). */
  parameterSteps(name: string): number {
    return this.paramSteps.get(name) ?? 0;
  }

  zeroGrad(): void {
    for (const p of this.params) p.tensor.zeroGrad();
  }

  /** The tensors this optimiser updates, in the order given (PyTorch's param_groups' params). */
  parameterTensors(): Tensor[] {
    return this.params.map((p) => p.tensor);
  }

  /** The state tensor `slot` of `p`, created filled with `init` (Adagrad's initial accumulator) on first use. */
  protected slot(p: NamedParameter, slot: string, init = 0): { tensor: Tensor; fresh: boolean } {
    const key = `${p.name}.${slot}`;
    let t = this.state.get(key);
    const fresh = !t;
    if (!t) {
      // keep(): a first step taken inside dn.scope (PyTorch's loop, scoped) must not have the
      // state it makes disposed with that step's temporaries.
      t = keep(full(p.tensor.shape, init, { name: `optimizer.${key}` }));
      this.state.set(key, t);
    }
    return { tensor: t, fresh };
  }

  /**
   * The settings it was built with, by option name (betas, eps, weight decay, momentum...), which
   * checkpoints record. A resume takes them from the optimiser given, not from the file (Keras's
   * way; PyTorch's load_state_dict restores them): see hyperparameterChanges().
   */
  hyperparameters(): Record<string, OptimizerSetting> {
    return {};
  }

  /** What the state tensors mean where an option changes it (OptimizerScalars.convention); undefined where none does. */
  protected stateConvention(): string | undefined {
    return undefined;
  }

  /** Why the conventions' state differs and how to build this kind with `convention`, for the refusal. */
  protected conventionAdvice(convention: string): string {
    return `resume with a ${this.kind} of convention '${convention}'`;
  }

  /**
   * Where this optimiser's settings differ from `saved` (a checkpoint's record of the one that wrote
   * it), one 'name: saved value, given value' each; none where nothing was recorded. loadCheckpoint
   * warns of them: the next steps follow the given ones, which is not the run that was saved.
   */
  hyperparameterChanges(saved: Record<string, OptimizerSetting> | undefined): string[] {
    if (saved === undefined) return [];
    if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) {
      throw new ShapeError(`optimizer state: hyperparameters must map setting names to values, got ${describeValue(saved)}`);
    }
    const given = this.hyperparameters();
    const show = (v: OptimizerSetting | undefined) => (v === undefined ? 'unset' : typeof v === 'string' ? `'${v}'` : String(v));
    return [...new Set([...Object.keys(saved), ...Object.keys(given)])]
      .filter((k) => saved[k] !== given[k])
      .map((k) => `${k}: ${show(saved[k])} saved, ${show(given[k])} given`);
  }

  /** State for checkpoints: tensors by name plus the scalars needed to resume, and the settings. */
  stateDict(): { tensors: Map<string, Tensor>; scalars: OptimizerScalars } {
    const convention = this.stateConvention();
    const scalars: OptimizerScalars = { lr: this.lr, step: this.stepCount, paramSteps: Object.fromEntries(this.paramSteps) };
    if (convention !== undefined) scalars.convention = convention;
    scalars.hyperparameters = this.hyperparameters();
    return { tensors: new Map(this.state), scalars };
  }

  /**
   * Restores state saved by stateDict(), replacing all of the optimiser's own (as PyTorch's
   * load_state_dict): a moment the saved state lacks starts again from nothing, as it did then.
   * The learning rate and step counts come from `scalars`; the other settings stay the optimiser's
   * own (hyperparameterChanges() lists where they differ). State of another convention is refused.
   */
  loadStateDict(tensors: Map<string, Tensor>, scalars: OptimizerScalars): void {
    // Everything is checked before anything is taken, so a bad file leaves the optimiser as it was.
    // (loadCheckpoint checks lr and step too, to name the file; these guard the direct callers.)
    if (typeof scalars?.lr !== 'number' || !(scalars.lr >= 0) || !Number.isFinite(scalars.lr)) {
      throw new ShapeError(`optimizer state: lr must be a finite number >= 0, got ${describeValue(scalars?.lr)}`);
    }
    if (!Number.isInteger(scalars.step) || scalars.step < 0) {
      throw new ShapeError(`optimizer state: step must be a whole number >= 0, got ${describeValue(scalars.step)}`);
    }
    this.expectConvention(scalars.convention);
    const paramSteps = this.checkedParamSteps(tensors, scalars);
    for (const [key, t] of tensors) {
      const paramName = key.slice(0, key.lastIndexOf('.'));
      const p = this.params.find((q) => q.name === paramName);
      if (!p) throw new ShapeError(`optimizer state: '${key}' belongs to no parameter of this optimiser`);
      if (t.shape.join() !== p.tensor.shape.join()) {
        throw new ShapeError(`optimizer state: '${key}' has shape [${t.shape}] but the parameter is [${p.tensor.shape}]`);
      }
    }
    for (const [key, t] of this.state) if (tensors.get(key) !== t) t.dispose();
    this.state = new Map(tensors);
    this.lr = scalars.lr;
    this.stepCount = scalars.step;
    this.paramSteps = paramSteps;
  }

  /** Refuses state whose tensors mean something else here (saved before conventions were recorded: taken as it is). */
  private expectConvention(saved: unknown): void {
    if (saved === undefined) return;
    const mine = this.stateConvention();
    if (typeof saved !== 'string') throw new ShapeError(`optimizer state: convention must be a string, got ${describeValue(saved)}`);
    if (saved === mine) return;
    throw new FormatError(
      `optimizer state: the ${this.kind} state was saved with the '${saved}' convention but this ${this.kind} ${mine === undefined ? 'has none' : `uses '${mine}'`}; ` +
        `${this.conventionAdvice(saved)}, or load the weights alone (no optimiser)`,
    );
  }

  /**
   * The per-parameter counts of saved state, checked. State saved before the optimisers kept them
   * (2026-11-27) has only the optimiser's count, which Adam's bias correction and Adagrad's decay
   * then used for every parameter: each parameter with saved state takes it and goes on from there
   * as before, while it has a gradient at every step. A parameter without saved state (frozen when
   * the state was saved) starts from its own count of 0, as PyTorch's would, where the old rule
   * would have corrected it by the optimiser's count.
   */
  private checkedParamSteps(tensors: Map<string, Tensor>, scalars: OptimizerScalars): Map<string, number> {
    const steps = new Map<string, number>();
    if (scalars.paramSteps === undefined) {
      for (const key of tensors.keys()) steps.set(key.slice(0, key.lastIndexOf('.')), scalars.step);
      return steps;
    }
    if (typeof scalars.paramSteps !== 'object' || scalars.paramSteps === null || Array.isArray(scalars.paramSteps)) {
      throw new ShapeError(`optimizer state: paramSteps must map parameter names to step counts, got ${describeValue(scalars.paramSteps)}`);
    }
    for (const [name, t] of Object.entries(scalars.paramSteps)) {
      if (!this.params.some((q) => q.name === name)) throw new ShapeError(`optimizer state: the step count of '${name}' belongs to no parameter of this optimiser`);
      if (!Number.isInteger(t) || t < 0 || t > scalars.step) {
        throw new ShapeError(`optimizer state: the step count of '${name}' must be a whole number from 0 to the optimiser's ${scalars.step} steps, got ${describeValue(t)}`);
      }
      steps.set(name, t);
    }
    return steps;
  }

  dispose(): void {
    for (const t of this.state.values()) t.dispose();
    this.state.clear();
    this.paramSteps.clear();
  }
}

/**
 * The parameters an optimiser (named `op` in errors) is given, as { name, tensor } entries, each
 * checked: live tensors made on this device (a disposed one would be skipped at every step, one
 * from before a shutdown fail there), leaves (PyTorch's rule: an op's output gets no .grad, so it
 * would never move), each listed once and named uniquely. The Keras builders check under their
 * own names before building.
 */
export function checkParams(op: string, params: unknown): NamedParameter[] {
  if (!Array.isArray(params)) {
    throw new ArgumentError(`${op}: params must be an array of Tensors or { name, tensor } (model.parameters() gives one), got ${describeValue(params)}`);
  }
  // It would step nothing and the run would train nothing, silently (PyTorch raises here too).
  if (params.length === 0) {
    throw new ArgumentError(
      `${op}: got an empty parameter list, so it would train nothing. A model with no trainable parameters, every parameter frozen ` +
        '(requiresGrad false: trainableParameters() leaves it out), or a filter that matched nothing? Give it the tensors to train (model.trainableParameters())',
    );
  }
  const named = params.map((p: unknown) => !(p instanceof Tensor));
  // State is kept by parameter name, so names must be unique. A module's parameters() are named
  // by their leaf ('weight', 'bias': every layer alike), so a bare tensor keeps its name only
  // where no other entry has it, and is otherwise named by its position.
  const nameCount = new Map<string | undefined, number>();
  for (const p of params as unknown[]) if (p instanceof Tensor) nameCount.set(p.name, (nameCount.get(p.name) ?? 0) + 1);
  const out = params.map((p: unknown, i) => {
    if (p instanceof Tensor) return { name: p.name !== undefined && nameCount.get(p.name) === 1 ? p.name : `param${i}`, tensor: p };
    const entry = p as Partial<NamedParameter> | null;
    if (typeof entry?.name === 'string' && entry.tensor instanceof Tensor) return entry as NamedParameter;
    throw new ArgumentError(`${op}: params[${i}] must be a Tensor or { name, tensor }, got ${describeValue(p)}`);
  });
  // A tensor listed twice would take two updates a step, silently (PyTorch warns of it).
  const seen = new Map<Tensor, number>();
  out.forEach((p, i) => {
    const first = seen.get(p.tensor);
    if (first !== undefined) throw new ArgumentError(`${op}: params[${i}] is params[${first}] again (${named[i] ? `'${p.name}' and '${out[first].name}'` : p.tensor.describe()}); list each parameter once`);
    seen.set(p.tensor, i);
  });
  const byName = new Map<string, number>();
  out.forEach((p, i) => {
    const first = byName.get(p.name);
    if (first !== undefined) throw new ArgumentError(`${op}: params[${i}] and params[${first}] are both named '${p.name}'; the optimiser keeps its state by name (model.namedParameters() gives unique ones)`);
    byName.set(p.name, i);
  });
  out.forEach((p, i) => {
    expectTensor(op, `params[${i}]`, p.tensor);
    if (p.tensor.node) throw new ArgumentError(`${op}: params[${i}] ${p.tensor.describe()} is the output of an op (${p.tensor.node.op}), not a leaf: it gets no gradient, so it would never move; give the tensors made with requiresGrad (model.parameters())`);
  });
  return out;
}
