// The bad-input sweep's harness: a row is one malformed call of a public function, and it must be
// refused with a DawnetError whose message names the op first and then the argument at fault, and
// refused before anything reaches the GPU: no buffer kept, no dispatch encoded. A row's call may
// return a promise (the io and train functions); a rejection counts as the refusal.

import { afterAll, beforeAll, expect } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';

type ErrorClass = new (...args: never[]) => Error;

export interface BadRow {
  /** The public name the message starts with ('conv2d', 'Conv2d', 'io.loadWeights' reads 'loadWeights'). */
  op: string;
  /** What the row feeds, for the test's title: 'x: disposed'. */
  what: string;
  call: () => unknown;
  /** A word or phrase the message must hold: the argument (or option) at fault. */
  names: string;
  /** The class expected; DawnetError (any subclass) by default. */
  cls?: ErrorClass;
}

/** Runs a row's call, returning what it threw or rejected with (undefined if it did neither). */
async function thrownBy(call: () => unknown): Promise<unknown> {
  try {
    const r = call();
    if (r instanceof Promise) await r;
  } catch (e) {
    return e;
  }
  return undefined;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The row's call is refused as the house rule says, and leaves the pool and the queue as they were. */
export async function expectRefused(row: BadRow): Promise<void> {
  const rt = runtime();
  const before = { ...dn.memory(), dispatches: rt.dispatchCount };
  const thrown = await thrownBy(row.call);
  const label = `${row.op} (${row.what})`;
  expect(thrown, `${label}: nothing thrown`).toBeDefined();
  expect(thrown, `${label}: ${String(thrown)}`).toBeInstanceOf(row.cls ?? dn.DawnetError);
  const message = (thrown as Error).message;
  // The op, or the layer that called it, first ("Conv2d 3→8, 3x3: conv2d: ..." for a layer alone).
  expect(message, label).toMatch(new RegExp(`^${escape(row.op)}[:. ]`));
  // The argument as a word: 'x' must not be found inside 'expected'.
  expect(message, label).toMatch(new RegExp(`(^|[^A-Za-z0-9_])${escape(row.names)}($|[^A-Za-z0-9_])`));
  const after = { ...dn.memory(), dispatches: rt.dispatchCount };
  expect(after.bytesInUse, `${label}: bytes in use`).toBe(before.bytesInUse);
  expect(after.buffersInUse, `${label}: buffers in use`).toBe(before.buffersInUse);
  expect(after.dispatches, `${label}: dispatches encoded`).toBe(before.dispatches);
}

/** The values every tensor argument is tried with, with the class each must raise. */
export interface Fixtures {
  /** A tensor disposed before the sweep. */
  disposed: dn.Tensor;
  /** A tensor made before a shutdown() and init(). */
  stale: dn.Tensor;
}

/** Stand-ins for a required tensor argument: [label, value, class]. */
export function badTensors(f: Fixtures, opts: { nullable?: boolean; numbers?: boolean } = {}): [string, () => unknown, ErrorClass][] {
  const rows: [string, () => unknown, ErrorClass][] = [
    ['disposed', () => f.disposed, dn.DisposedError],
    ['from before shutdown', () => f.stale, dn.NoDeviceError],
    ['a nested array', () => [[1, 2], [3, 4]], dn.ArgumentError],
    ['a Float32Array', () => new Float32Array(4), dn.ArgumentError],
    ['a string', () => 'x', dn.ArgumentError],
    ['an object', () => ({ shape: [2, 2] }), dn.ArgumentError],
  ];
  if (!opts.nullable) rows.push(['undefined', () => undefined, dn.ArgumentError], ['null', () => null, dn.ArgumentError]);
  if (!opts.numbers) rows.push(['a number', () => 3, dn.ArgumentError]);
  return rows;
}

/** The spec of one op: a valid call and which argument positions to sweep. */
export interface OpSpec {
  op: string;
  fn: (...args: never[]) => unknown;
  /** The valid arguments; made fresh per row (fixtures only: nothing allocated). */
  args: () => unknown[];
  /** Tensor positions and the name the message gives them. */
  tensors?: Record<number, string>;
  /** Optional tensor positions (null and undefined are fine there). */
  optional?: Record<number, string>;
  /** Positions where a number is a valid operand (add(x, 2)). */
  numbers?: number[];
  /** The options position, swept with an unknown key and a non-object. */
  options?: number;
  /** Other rows: [what, arguments replaced at positions, the name the message gives]. */
  rows?: [string, Record<number, unknown>, string, ErrorClass?][];
  /** The control: the shape of what the valid call returns (of each tensor, for several). */
  out?: number[] | number[][];
}

/** The shapes of the tensors a call returned: one, an array of them, or an object of them. */
function shapesOf(r: unknown): number[][] {
  if (r instanceof dn.Tensor) return [[...r.shape]];
  if (Array.isArray(r)) return r.flatMap(shapesOf);
  if (r && typeof r === 'object') return Object.values(r).flatMap(shapesOf);
  return [];
}

/**
 * The controls: each spec's valid call runs (in a scope, so it keeps nothing) and returns tensors
 * of the shapes its `out` says; all failures are listed together.
 */
export function expectControls(specs: OpSpec[]): void {
  const failures: string[] = [];
  for (const spec of specs.filter((s) => s.out)) {
    const want = Array.isArray(spec.out![0]) ? spec.out : [spec.out];
    try {
      const got = dn.scope(() => shapesOf((spec.fn as (...a: unknown[]) => unknown)(...spec.args())));
      if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${spec.op}: shapes ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    } catch (e) {
      failures.push(`${spec.op}: ${String(e)}`);
    }
  }
  expect(failures).toEqual([]);
}

/** Every row of an op: each tensor position with each stand-in, the options, then its own rows. */
export function rowsOf(spec: OpSpec, f: Fixtures): BadRow[] {
  const out: BadRow[] = [];
  const withArg = (at: Record<number, unknown>) => () => {
    const args = spec.args();
    for (const [i, v] of Object.entries(at)) args[Number(i)] = v;
    return (spec.fn as (...a: unknown[]) => unknown)(...args);
  };
  const sweep = (positions: Record<number, string> | undefined, nullable: boolean) => {
    for (const [i, name] of Object.entries(positions ?? {})) {
      const numbers = spec.numbers?.includes(Number(i)) ?? false;
      for (const [label, value, cls] of badTensors(f, { nullable, numbers })) {
        out.push({ op: spec.op, what: `${name}: ${label}`, names: name, cls, call: () => withArg({ [i]: value() })() });
      }
    }
  };
  sweep(spec.tensors, false);
  sweep(spec.optional, true);
  if (spec.options !== undefined) {
    const at = spec.options;
    out.push({ op: spec.op, what: 'options: an unknown key', names: 'bogusOption', cls: dn.ArgumentError, call: withArg({ [at]: { bogusOption: 1 } }) });
    out.push({ op: spec.op, what: 'options: a string', names: 'options', cls: dn.ArgumentError, call: withArg({ [at]: 'same' }) });
  }
  for (const [what, at, names, cls] of spec.rows ?? []) out.push({ op: spec.op, what, names, cls, call: withArg(at) });
  return out;
}

/**
 * A sweep file's GPU: init, a tensor made and then orphaned by shutdown() and a second init, one
 * disposed; the file's tensors from `make` (fixtures, disposed at the end), and the leak check of
 * useGpu (bytes in use back where they started once the file is done).
 */
export function useSweep<T extends Record<string, dn.Tensor>>(make: () => T): Fixtures & { t: T } {
  const f = { t: {} as T } as Fixtures & { t: T };
  let startBytes = 0;
  beforeAll(async () => {
    await dn.init();
    f.stale = dn.tensor([1, 2, 3, 4], [2, 2]);
    dn.shutdown();
    await dn.init();
    f.disposed = dn.tensor([1, 2, 3, 4], [2, 2]);
    f.disposed.dispose();
    startBytes = dn.memory().bytesInUse;
    f.t = make();
  }, 60_000);
  afterAll(async () => {
    try {
      for (const t of Object.values(f.t)) t.dispose();
      await dn.sync();
      expect(dn.memory().bytesInUse, 'buffer pool bytes in use after the sweep (leak)').toBe(startBytes);
    } finally {
      dn.shutdown();
    }
  });
  return f;
}

/** Deterministic values in [lo, hi) for a fixture: no zeros, no ties. */
export function filled(shape: number[], lo = 0.1, hi = 0.9, options: dn.TensorOptions = {}): dn.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Float32Array.from({ length: n }, (_, i) => lo + ((i * 0.6180339887) % 1) * (hi - lo));
  return dn.tensor(v, shape, options);
}

/** Every row refused; the failures are listed together, one line each, so a sweep shows them all. */
export async function expectAllRefused(rows: BadRow[]): Promise<void> {
  const failures: string[] = [];
  for (const row of rows) {
    try {
      await expectRefused(row);
    } catch (e) {
      failures.push((e as Error).message.split('\n')[0]);
    }
  }
  expect(failures, `${failures.length} of ${rows.length} rows`).toEqual([]);
}
