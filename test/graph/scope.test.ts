import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { expectThrows } from '../helpers/errors.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('scope', () => {
  it('keeps a returned tensor at any depth of objects and arrays', () => {
    const deep = dn.scope(() => ({ a: { b: { c: { d: { e: { f: { g: dn.tensor([1, 2]) } } } } } } }));
    const nested = dn.scope(() => [[[[[[[dn.tensor([3])]]]]]]]);
    const t1 = deep.a.b.c.d.e.f.g;
    const t2 = nested[0][0][0][0][0][0][0];
    expect(t1.disposed).toBe(false);
    expect(t2.disposed).toBe(false);
    t1.dispose();
    t2.dispose();
  });

  it('keeps tensors returned in a Map or a Set, and disposes the rest', () => {
    let temp: dn.Tensor | undefined;
    const { map, set } = dn.scope(() => {
      temp = dn.tensor([0]);
      return { map: new Map([['w', dn.tensor([1])]]), set: new Set([dn.tensor([2])]) };
    });
    const kept = [map.get('w')!, ...set];
    expect(kept.map((t) => t.disposed)).toEqual([false, false]);
    expect(temp!.disposed).toBe(true);
    for (const t of kept) t.dispose();
  });

  it('a returned value that refers to itself neither loops nor loses its tensors', () => {
    const result = dn.scope(() => {
      const node: { self?: unknown; list: unknown[]; t: dn.Tensor } = { list: [], t: dn.tensor([1]) };
      node.self = node;
      node.list.push(node, [node]);
      return node;
    });
    expect(result.t.disposed).toBe(false);
    result.t.dispose();
  });

  it('refuses an async function with ArgumentError before it runs, leaking nothing', async () => {
    const before = dn.memory().bytesInUse;
    let ran = false;
    const body = async (): Promise<dn.Tensor> => {
      ran = true;
      return dn.tensor([1, 2]);
    };
    expectThrows(() => dn.scope(body as never), dn.ArgumentError, 'scope: fn must be synchronous');
    expect(ran).toBe(false);
    expect(dn.memory().bytesInUse).toBe(before);
  });

  it('a plain function that returns a promise: ArgumentError, and what it made before its await is disposed', async () => {
    const before = dn.memory().bytesInUse;
    let made: dn.Tensor | undefined;
    let later: Promise<void> | undefined;
    const body = (): Promise<void> => {
      made = dn.tensor([1, 2, 3]);
      later = Promise.resolve().then(() => {
        // Runs after scope has thrown: reading the disposed tensor fails, and nobody is left to see it.
        made!.buffer;
      });
      return later;
    };
    expectThrows(() => dn.scope(body as never), dn.ArgumentError, 'scope: fn must be synchronous');
    expect(made!.disposed).toBe(true);
    expect(dn.memory().bytesInUse).toBe(before);
    await expect(later).rejects.toThrow(dn.DisposedError);
  });

  it('the refused promise\'s own failure is not left as an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      expectThrows(() => dn.scope((() => Promise.reject(new Error('late'))) as never), dn.ArgumentError, 'scope: fn must be synchronous');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });
});
