// Checks on what a public op, layer or optimiser is handed, for callers in plain JavaScript, where
// nothing stops a number going where a Tensor goes or options going where the bias goes: without
// them such a slip fails deep inside as "Cannot read properties of undefined". Each check throws
// an ArgumentError that names the op and the argument and says what it got. They cost a type test
// per argument, nothing on the GPU.

import { ArgumentError, DisposedError, ShapeError } from '../errors.js';
import { staleError, Tensor } from './tensor.js';

/** What a value is, for messages: "the number 2", "an array of 3", "an object with padding". */
export function describeValue(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string '${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (typeof v === 'function') return 'a function';
  if (v instanceof Tensor) return v.describe();
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(v as object);
    return keys.length ? `an object with ${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', ...' : ''}` : 'an empty object';
  }
  return `a ${(v as object).constructor?.name ?? 'value'}`;
}

/** A live Tensor: ArgumentError for anything else, DisposedError (naming the op) for a disposed one. */
export function expectTensor(op: string, role: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) throw new ArgumentError(`${op}: ${role} must be a Tensor, got ${describeValue(v)}`);
  if (v.disposed) throw new DisposedError(`${op}: ${role} ${v.describe()} was used after dispose()`);
  // Made before a shutdown: named here, at every op's entry, rather than as a missing device later.
  if (v.stale) throw staleError(v, op, role);
}

/**
 * A Tensor, null or undefined (an optional operand such as a bias). `hint` follows the message
 * when an options object comes in its place, the slip a call like conv2d(x, w, { padding }) makes.
 */
export function expectOptionalTensor(op: string, role: string, v: unknown, hint = ''): asserts v is Tensor | null | undefined {
  if (v === null || v === undefined) return;
  if (v instanceof Tensor) return expectTensor(op, role, v);
  const options = isPlainObject(v) && hint ? ` (${hint})` : '';
  throw new ArgumentError(`${op}: ${role} must be a Tensor or null, got ${describeValue(v)}${options}`);
}

/**
 * What a user's function returned where dawnet takes a Tensor or a non-empty array of them
 * (customOp's forward, checkpoint's fn): the list, each a live Tensor. `role` names the function.
 */
export function expectReturnedTensors(op: string, role: string, result: unknown): Tensor[] {
  const list = Array.isArray(result) ? result : [result];
  if (list.length === 0) throw new ArgumentError(`${op}: ${role} must return a Tensor or a non-empty array of Tensors, got an empty array`);
  list.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${role} must return a Tensor or an array of Tensors; ${Array.isArray(result) ? `item ${i} is` : 'it returned'} ${describeValue(t)}`);
    expectTensor(op, `${role}'s output ${i}`, t);
  });
  return list as Tensor[];
}

/** A non-empty array of live Tensors. */
export function expectTensorList(op: string, role: string, v: unknown): asserts v is Tensor[] {
  if (!Array.isArray(v) || v.length === 0) throw new ArgumentError(`${op}: ${role} must be a non-empty array of Tensors, got ${describeValue(v)}`);
  v.forEach((t, i) => expectTensor(op, `${role}[${i}]`, t));
}

/**
 * Host values (a metric's scores, a mask): an array or a typed array of numbers. A tensor is
 * named as such: those functions run on the host, so it is read back first.
 */
export function expectHostArray(op: string, role: string, v: unknown): asserts v is ArrayLike<number> {
  const numbers = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array));
  if (numbers) return;
  const read = typeof (v as { toArray?: unknown } | null)?.toArray === 'function' ? ' (a tensor: read it with await t.toArray() first)' : '';
  throw new ArgumentError(`${op}: ${role} must be an array or typed array of numbers, got ${describeValue(v)}${read}`);
}

/** A function (the body of scope, noGrad, profile or tuneConvs). */
export function expectFunction(op: string, role: string, v: unknown): void {
  if (typeof v !== 'function') throw new ArgumentError(`${op}: ${role} must be a function, got ${describeValue(v)}`);
}

/** An options object, or undefined where `required` is false. `example` shows the expected form. */
export function expectOptions(op: string, v: unknown, example: string, required = false): void {
  if (v === undefined && !required) return;
  if (!isPlainObject(v)) throw new ArgumentError(`${op}: options must be an object such as ${example}, got ${describeValue(v)}`);
}

export interface NumberRule {
  integer?: boolean;
  /** false lets NaN and the infinities through (an op's constant: x * Infinity is x * Infinity). */
  finite?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
}

/** A number (finite unless the rule says otherwise) within the rule's bounds. */
export function expectNumber(op: string, role: string, v: unknown, rule: NumberRule = {}): asserts v is number {
  const what = rule.integer ? 'an integer' : rule.finite === false ? 'a number' : 'a finite number';
  const bounds = [
    rule.min !== undefined ? `>= ${rule.min}` : '',
    rule.above !== undefined ? `> ${rule.above}` : '',
    rule.max !== undefined ? `<= ${rule.max}` : '',
    rule.below !== undefined ? `< ${rule.below}` : '',
  ].filter(Boolean);
  const ok =
    typeof v === 'number' &&
    (rule.finite === false || Number.isFinite(v)) &&
    (!rule.integer || Number.isInteger(v)) &&
    (rule.min === undefined || v >= rule.min) &&
    (rule.max === undefined || v <= rule.max) &&
    (rule.above === undefined || v > rule.above) &&
    (rule.below === undefined || v < rule.below);
  if (!ok) throw new ArgumentError(`${op}: ${role} must be ${what}${bounds.length ? ` ${bounds.join(' and ')}` : ''}, got ${describeValue(v)}`);
}

/** expectNumber where the value is given; undefined passes (the default applies). */
export function expectOptionalNumber(op: string, role: string, v: unknown, rule: NumberRule = {}): void {
  if (v !== undefined) expectNumber(op, role, v, rule);
}

/** One of a few strings (a mode, a padding name); undefined passes where `optional`. */
export function expectChoice<T extends string>(op: string, role: string, v: unknown, choices: readonly T[], optional = true): asserts v is T | undefined {
  if (v === undefined && optional) return;
  if (!choices.includes(v as T)) throw new ArgumentError(`${op}: ${role} must be ${choices.map((c) => `'${c}'`).join(' or ')}, got ${describeValue(v)}`);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * The known option an unknown `key` most likely means: one of `spellings` (another library's names
 * for it, in order of preference) or the key's camelCase (Keras's and PyTorch's snake_case,
 * restore_best_weights for restoreBestWeights); undefined when none is known.
 */
export function meantOption(key: string, known: readonly string[], spellings: readonly string[] = []): string | undefined {
  const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return [...spellings, camel].find((k) => k !== key && known.includes(k));
}

/**
 * Options outside `known` are ArgumentErrors: an option no one reads would leave its default in
 * place silently (RMSprop.keras({ lr }), PyTorch's name where Keras's learningRate goes, would
 * train at the default rate; Conv2d's { kernel_size: 5 } build a 3x3 kernel).
 */
export function expectKnownOptions(
  op: string,
  opts: object,
  known: readonly string[],
  hints?: { spellings?: Readonly<Record<string, readonly string[]>>; say?: (key: string, meant: string) => string },
): void {
  // With `hints`, a key that is another library's spelling of a known one (in `spellings`, or its
  // camelCase) is named with what it means: { learningRate } to Adam, { restore_best_weights } to
  // EarlyStopping.
  for (const key of hints ? Object.keys(opts) : []) {
    const meant = known.includes(key) ? undefined : meantOption(key, known, hints!.spellings?.[key]);
    if (meant) throw new ArgumentError(`${op}: unknown option '${key}' (did you mean ${hints!.say?.(key, meant) ?? meant}?); the options are ${known.join(', ')}`);
  }
  const unknown = Object.keys(opts).filter((k) => !known.includes(k));
  if (unknown.length) throw new ArgumentError(`${op}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; the options are ${known.join(', ')}`);
}

/** A boolean or undefined (the default applies). */
export function expectOptionalBoolean(op: string, role: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') throw new ArgumentError(`${op}: ${role} must be true or false, got ${describeValue(v)}`);
}

/**
 * What to add to an error about an [N, H, W, C] input whose channels do not match: when its axis 1
 * has the channels expected and its last axis does not, the data is likely NCHW, PyTorch's layout
 * (a port's tensors, or its habit of writing [N, C, H, W]), and the message says how to convert it.
 */
export function nchwHint(shape: readonly number[], channels: number): string {
  if (shape.length !== 4 || shape[1] !== channels || shape[3] === channels) return '';
  return `; activations are NHWC: if this is NCHW data (PyTorch's layout), dn.transpose(x, [0, 2, 3, 1]) makes it [N, H, W, C]`;
}

/**
 * An axis of a tensor of `rank` axes, negative counting from the end, as an index; a ShapeError
 * naming the op and `what` (the tensor) where it is not one of them.
 */
export function normaliseAxis(op: string, axis: number, rank: number, what: string): number {
  const ax = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= rank) throw new ShapeError(`${op}: axis ${axis} is out of range for ${what}`);
  return ax;
}
