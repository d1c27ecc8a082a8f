// scope(fn): every tensor created while fn runs is disposed when it returns, except the ones it
// returns (in any nesting of arrays and plain objects) and the ones passed to keep(). Tensors the
// scope returns are handed to the enclosing scope, so nested scopes compose.

import { expectFunction } from './args.js';
import type { Tensor } from './tensor.js';

const stack: Set<Tensor>[] = [];

export function trackInScope(t: Tensor): void {
  stack[stack.length - 1]?.add(t);
}

/** Exempts a tensor from the scopes it was created in. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (!value || typeof value !== 'object' || depth > 4) return;
  if ('shape' in value && 'dispose' in value && 'id' in value) {
    out.add(value as Tensor);
    return;
  }
  const items = Array.isArray(value) ? value : Object.values(value as object);
  for (const v of items) collect(v, out, depth + 1);
}

export function scope<T>(fn: () => T): T {
  expectFunction('scope', 'fn', fn);
  const mine = new Set<Tensor>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) throw new TypeError('scope: fn must be synchronous (await outside the scope)');
  const kept = new Set<Tensor>();
  collect(result, kept);
  for (const t of mine) {
    if (kept.has(t)) trackInScope(t);
    else t.dispose();
  }
  return result;
}
