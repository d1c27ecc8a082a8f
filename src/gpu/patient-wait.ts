// Waiting for the GPU without spinning a CPU core, in Node.
//
// dawn.node resolves its promises (onSubmittedWorkDone, mapAsync, popErrorScope) from a tick that
// re-queues itself with setImmediate for as long as any of them is pending: while the GPU works,
// the JS thread spins at 100% of a core. With a GPU that only costs a core; with a CPU adapter
// (lavapipe runs the kernels on the same 2 cores) it takes half the machine away from the kernels:
// measured here, ten 3x3 convolutions took 21 ms awaited plainly and 11 ms with the JS thread
// asleep. patientAwait sleeps the thread (Atomics.wait: no CPU) between single ticks instead,
// with naps that grow with the time already waited (a sixteenth of it, 20 µs to 1 ms): a wait
// overshoots the GPU by at most a sixteenth (and 1 ms), and costs one ~20 µs tick per nap.
//
// Only where blocking the thread is allowed and Dawn ticks this way: Node's main thread or a
// worker. In a browser the page's event loop waits without spinning, and Atomics.wait is refused
// on the main thread, so the promise is simply awaited.

const MIN_NAP_MS = 0.02;
const MAX_NAP_MS = 1;
const NAP_FRACTION = 1 / 16;

let cell: Int32Array | null = null;

/** Whether this thread may block in Atomics.wait and has setImmediate to yield one tick with. */
function canNap(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; setImmediate?: unknown };
  return typeof g.process?.versions?.node === 'string' && typeof g.setImmediate === 'function' && typeof SharedArrayBuffer === 'function';
}

function nap(ms: number): void {
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}

const oneTick = (): Promise<void> => new Promise((resolve) => (globalThis as unknown as { setImmediate(f: () => void): void }).setImmediate(resolve));

/**
 * Awaits a promise that dawn.node resolves from its tick, sleeping between ticks instead of
 * spinning. Returns (or throws) what the promise does.
 */
export function patientAwait<T>(pending: Promise<T>, enabled = true): Promise<T> {
  return enabled && canNap() ? napUntilSettled(pending) : pending;
}

async function napUntilSettled<T>(pending: Promise<T>): Promise<T> {
  let settled = false;
  pending.then(
    () => (settled = true),
    () => (settled = true),
  );
  const start = performance.now();
  // One microtask turn: a promise that had already settled (an empty error-check list, say) has
  // run its callback by then, and returns without waiting a tick.
  await null;
  while (!settled) {
    const waited = performance.now() - start;
    nap(Math.min(MAX_NAP_MS, Math.max(MIN_NAP_MS, waited * NAP_FRACTION)));
    await oneTick();
  }
  return pending;
}
