// The tfjs peer's errors (bench/peer-tfjs.ts): tfjs opens no error scope, so a kernel WebGPU refuses
// is only logged and its command buffer dropped. The peer's sync() must throw such an error, once,
// so that the bench records the side as failed instead of timing a step that did not all run.

import { describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers/gpu.js';
import { useTfjsPeer } from '../helpers/tfjs-peer.js';

useGpu();

const peer = useTfjsPeer();

describe("the tfjs peer's device errors", () => {
  it('a clean op syncs; one bound past maxStorageBufferBindingSize throws its message once', async () => {
    const { tf } = peer();
    tf.dispose(tf.tidy(() => tf.relu(tf.fill([1024], -1))));
    await expect(peer().sync()).resolves.toBeUndefined();
    // A tensor one vec4 past what one binding may hold: tfjs binds it whole.
    const floats = runtime().limits.maxStorageBufferBindingSize / 4 + 4;
    const big = tf.fill([floats], 1);
    tf.dispose(tf.relu(big));
    tf.dispose(big);
    await expect(peer().sync()).rejects.toThrow(/tfjs's WebGPU device reported \d+ error\(s\), so its work did not all run; the first: .*(binding size|Binding size)/);
    await expect(peer().sync(), 'thrown once').resolves.toBeUndefined();
  }, 60_000);
});
