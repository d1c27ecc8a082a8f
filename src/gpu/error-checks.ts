// The runtime's pending error checks: the popErrorScope of every submit and pipeline compile, and
// the device's uncaptured errors. A readback or sync() waits for the checks made so far and throws
// the first error found, in the order the checks were made.
//
// Each check leaves the set as soon as it settles, keeping only the first error it found. A list
// of promises emptied only by a readback grew by one promise per submit for as long as nothing
// read back: a loop that reads its loss every few hundred steps, or profile() called again and
// again (its readback is the timer's own), held thousands of them between reads.

export class ErrorChecks {
  private pending = new Set<Promise<void>>();
  /** The first error found since the last take(), by the order its check was made in. */
  private first: { order: number; error: Error } | null = null;
  private made = 0;

  /** Checks not settled yet. */
  get size(): number {
    return this.pending.size;
  }

  /** A check: resolves to the error it found, or null. A rejection counts as the error found. */
  add(result: Promise<Error | null>): void {
    const order = this.made++;
    const found = (error: Error | null) => {
      if (error && (!this.first || order < this.first.order)) this.first = { order, error };
    };
    const settled: Promise<void> = result
      .then(found, (reason: unknown) => found(reason instanceof Error ? reason : new Error(String(reason))))
      .finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  /**
   * Waits (through `wait`, the runtime's patient wait) for every check made so far, then returns
   * the first error found and forgets it: each error is thrown once.
   */
  async take(wait: (all: Promise<unknown>) => Promise<unknown>): Promise<Error | null> {
    if (this.pending.size) await wait(Promise.all([...this.pending]));
    const first = this.first;
    this.first = null;
    return first?.error ?? null;
  }
}

/** Names the kernel a validation message is about: its label appears in Dawn's messages. */
export function blame(message: string, candidates: string[] = []): string {
  const labelled = /"([a-zA-Z0-9_.]+)(\[[^\]]*\])?(\.params)?"/.exec(message);
  if (labelled) return labelled[1];
  return candidates.length ? candidates.join(', ') : 'unknown kernel';
}
