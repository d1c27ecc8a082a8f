// Node ends a process whose event loop has nothing referenced left, even while a promise is
// pending, and then exits with status 0. The decode workers are unreferenced while idle (so an idle
// pool never keeps Node alive), and `Worker.terminate()` settles on the worker's 'exit' event: a
// command awaiting its loader's close() could see Node exit in the middle, with status 0 and its
// files unwritten (`dawnet lr-find` did, one run in two on lavapipe). A referenced timer for as long
// as the command runs keeps the loop open until the command settles.

/** Awaits `pending` with Node's event loop held open until it settles. */
export async function holdOpenWhile<T>(pending: Promise<T>): Promise<T> {
  // The longest delay a timer takes (2^31 - 1 ms); it never fires before it is cleared.
  const timer = setInterval(() => undefined, 2 ** 31 - 1);
  try {
    return await pending;
  } finally {
    clearInterval(timer);
  }
}
