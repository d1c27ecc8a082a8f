// ModuleList: PyTorch's nn.ModuleList. A plain array of modules in a field is refused (nothing
// names what it holds, so its weights would be neither trained nor saved); a ModuleList names
// them by position, as PyTorch's state dict does (`blocks.0.weight`).

import { ArgumentError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import type { Tensor } from '../graph/tensor.js';
import { Module } from './module.js';

/**
 * Modules held under their index ('0', '1', ...): iterate it (`for (const b of this.blocks)`),
 * index it (`at(i)`, negative from the end), `append` to it. Not a layer: a model's own forward
 * decides how its modules run, so its forward refuses (Sequential runs them in turn).
 */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(modules: readonly M[] = []) {
    super();
    if (!Array.isArray(modules)) throw new ArgumentError(`ModuleList: modules must be an array of Modules, got ${describeValue(modules)}`);
    for (const m of modules) this.append(m);
  }

  /** Adds `m` under the next index; returns the list, as PyTorch's append does. */
  append(m: M): this {
    if (!(m instanceof Module)) throw new ArgumentError(`ModuleList: item ${this.items.length} must be a Module, got ${describeValue(m)}`);
    this.addModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  /** The module at `i` (negative counts from the end, as Array.prototype.at). */
  at(i: number): M {
    const k = Number.isInteger(i) && i < 0 ? this.items.length + i : i;
    if (!Number.isInteger(k) || k < 0 || k >= this.items.length) {
      throw new ArgumentError(`ModuleList: index ${typeof i === 'number' ? i : describeValue(i)} is outside a list of ${this.items.length}`);
    }
    return this.items[k];
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  forward(_x: Tensor): Tensor {
    throw new ArgumentError('ModuleList: not a layer, it has no forward of its own: run its modules in your forward (for (const m of this.blocks) x = m.forward(x)), or use nn.Sequential');
  }
}
