// scope(fn): every tensor created while fn runs is disposed when it returns, except the ones it
// returns (at any depth of arrays, objects, Maps and Sets) and the ones passed to keep(). Tensors
// the scope returns are handed to the enclosing scope, so nested scopes compose.

import { ArgumentError } from '../errors.js';
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

// Duck-typed: tensor.ts imports this file, so Tensor is not a value here.
const isTensor = (v: object): v is Tensor => 'shape' in v && 'dispose' in v && 'id' in v;

/**
 * Adds every tensor reachable from `value` to `out`. `seen` guards against cycles (a returned
 * object that refers to itself), so there is no depth limit to cut off a deeply nested tensor.
 */
function collect(value: unknown, out: Set<Tensor>, seen: Set<object>): void {
  if (!value || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  // A typed array holds numbers only: no need to visit a million of them.
  if (ArrayBuffer.isView(value)) return;
  const items = value instanceof Map ? [...value.keys(), ...value.values()] : value instanceof Set || Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collect(v, out, seen);
}

const isThenable = (v: unknown): boolean => typeof (v as { then?: unknown } | null)?.then === 'function';

const SYNC_ONLY = 'scope: fn must be synchronous: its tensors are disposed when it returns, before an await resumes (await outside the scope, or scope each synchronous step)';

export function scope<T>(fn: () => T): T {
  expectFunction('scope', 'fn', fn);
  // An async function is refused before it runs, so it creates nothing.
  if (fn.constructor?.name === 'AsyncFunction') throw new ArgumentError(SYNC_ONLY);
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
  if (isThenable(result)) return refuseAsync(result as PromiseLike<unknown>, mine);
  const kept = new Set<Tensor>();
  collect(result, kept, new Set());
  for (const t of mine) {
    if (kept.has(t)) trackInScope(t);
    else t.dispose();
  }
  return result;
}

/**
 * A plain function that returned a promise: what it made before its first await is disposed, as
 * on any error. The rest of its body still runs, and may fail on those tensors; that rejection
 * is swallowed, since the caller, who gets this ArgumentError, never sees the promise.
 */
function refuseAsync(result: PromiseLike<unknown>, mine: Set<Tensor>): never {
  for (const t of mine) t.dispose();
  Promise.resolve(result).catch(() => undefined);
  throw new ArgumentError(SYNC_ONLY);
}
