// Error checks by class and by the start of the message: the class is the contract, the start
// names the op and the argument, so a refusal from the wrong check (or a raw TypeError from deep
// inside) fails the test.

import { expect } from 'vitest';

/** fn throws an instance of `cls` whose message starts with `start`. */
export function expectThrows(fn: () => unknown, cls: new (...args: never[]) => Error, start: string, what = start): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `${what}: nothing thrown`).toBeDefined();
  expect(thrown, `${what}: ${String(thrown)}`).toBeInstanceOf(cls);
  const message = (thrown as Error).message;
  expect(message.startsWith(start), `${what}: message "${message}" should start with "${start}"`).toBe(true);
}

/** What `p` rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}
