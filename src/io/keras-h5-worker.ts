// The Keras HDF5 reader in a worker thread (keras-h5.ts's readKerasH5 starts it in Node): a
// damaged file can stall h5wasm inside WebAssembly, where no timer of the main thread would fire;
// here the main thread can give up on it and terminate the thread.

import { parentPort } from 'node:worker_threads';
import { FormatError } from '../errors.js';
import { readKerasH5Here } from './keras-h5.js';

parentPort!.on('message', async ({ bytes, source, path }: { bytes: Uint8Array; source: string; path: string }) => {
  try {
    // The scratch file's path comes from the main thread, which removes it if this one is stopped.
    const entries = [...(await readKerasH5Here(bytes, source, path))];
    parentPort!.postMessage({ entries }, entries.map(([, t]) => t.data.buffer as ArrayBuffer));
  } catch (e) {
    parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e), format: e instanceof FormatError });
  }
});
