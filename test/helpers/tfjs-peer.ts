// TensorFlow.js's WebGPU backend as the bench's peer (bench/peer-tfjs.ts), on the same Dawn GPU
// object as dawnet in this file's tests: loaded before them, unloaded after.

import { afterAll, beforeAll } from 'vitest';
import { loadTfjs, type TfjsPeer } from '../../bench/peer-tfjs.js';
import { runtime } from '../../src/gpu/runtime.js';

/** Call at the top of a file after useGpu(); the getter gives the peer once beforeAll has run. */
export function useTfjsPeer(): () => TfjsPeer {
  let peer: TfjsPeer | null = null;
  beforeAll(async () => {
    peer = await loadTfjs(runtime().ctx.nodeGpu!);
  }, 60_000);
  afterAll(() => peer?.unload());
  return () => {
    if (!peer) throw new Error('tfjs peer used before it loaded (call useTfjsPeer() at the top of the file)');
    return peer;
  };
}
