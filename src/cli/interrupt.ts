// Ctrl-C during a training command: the first finishes the current batch (with --accumulate, the
// group of batches it belongs to, so the resumed run takes the same steps) and saves a checkpoint
// (the run resumes from it), a second quits at once.

/** Installs the handler; `then` is added to the message (what continues the run). */
export function catchInterrupt(then = ''): { signal: { stop: boolean }; release: () => void } {
  const signal = { stop: false };
  const onSigint = () => {
    if (signal.stop) process.exit(130);
    signal.stop = true;
    console.error(`\ninterrupt: finishing the current batch (or --accumulate group) and saving a checkpoint (Ctrl-C again to quit at once)${then}`);
  };
  process.on('SIGINT', onSigint);
  return { signal, release: () => process.off('SIGINT', onSigint) };
}
