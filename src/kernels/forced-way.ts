// A kernel choice that tests and the bench can force for the length of a call, so that two ways of
// computing the same op (gather's gradient by scanning or sorting, topk by passes or a sort) are
// compared on the same inputs; nested calls restore the outer choice.

export interface ForcedWay<W extends string> {
  /** The way forced now, or null: the op's own rule decides. */
  readonly current: W | null;
  /** Runs fn with `way` forced. */
  with<T>(way: W, fn: () => T): T;
}

export function forcedWay<W extends string>(): ForcedWay<W> {
  let current: W | null = null;
  return {
    get current() {
      return current;
    },
    with(way, fn) {
      const before = current;
      current = way;
      try {
        return fn();
      } finally {
        current = before;
      }
    },
  };
}
