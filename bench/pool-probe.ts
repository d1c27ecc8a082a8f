// Watches dawnet's buffer pool through one step: the peak of bytes in use (the pool's own count,
// runtime().pool.getStats().peakBytesInUse) and which buffers were live at that moment, grouped by
// label ('conv2d.y', 'batchnorm.y', ...). It wraps the pool's acquire and release on the instance
// for the duration of the step and puts them back after; nothing in src/ changes.

import { roundBufferSize, type BufferPool } from '../src/gpu/buffer-pool.js';
import { runtime } from '../src/gpu/runtime.js';

export interface LiveGroup {
  label: string;
  count: number;
  bytes: number;
}

export interface PoolPeak {
  /** peakBytesInUse over the step, from the pool's accounting. */
  peakBytes: number;
  /** Bytes in use when the step began: parameters, optimiser state, the batch. */
  baselineBytes: number;
  /** Buffers acquired during the step and live at the peak, largest groups first. */
  atPeak: LiveGroup[];
  /** Kernel dispatches the step encoded. */
  dispatches: number;
}

type Acquire = BufferPool['acquire'];
type Release = BufferPool['release'];

/** Runs `step`, waits for the GPU, and reports the pool's peak and what was live at it. */
export async function probePeak(step: () => void): Promise<PoolPeak> {
  const rt = runtime();
  const pool = rt.pool;
  await rt.sync();
  pool.resetPeak();
  const baselineBytes = pool.getStats().bytesInUse;
  const live = new Map<GPUBuffer, { label: string; bytes: number }>();
  let high = baselineBytes;
  let snapshot: Map<string, LiveGroup> = new Map();
  const acquire: Acquire = pool.acquire;
  const release: Release = pool.release;
  const own = Object.hasOwn(pool, 'acquire') || Object.hasOwn(pool, 'release');
  pool.acquire = function (this: BufferPool, bytes, usage, label) {
    const buffer = acquire.call(this, bytes, usage, label);
    live.set(buffer, { label, bytes: roundBufferSize(bytes) });
    const inUse = this.getStats().bytesInUse;
    if (inUse > high) {
      high = inUse;
      snapshot = group(live);
    }
    return buffer;
  };
  pool.release = function (this: BufferPool, buffer) {
    live.delete(buffer);
    release.call(this, buffer);
  };
  const dispatchesBefore = rt.dispatchCount;
  try {
    step();
    await rt.sync();
  } finally {
    if (own) {
      pool.acquire = acquire;
      pool.release = release;
    } else {
      // The methods live on the prototype: dropping the wrappers restores them.
      delete (pool as Partial<BufferPool>).acquire;
      delete (pool as Partial<BufferPool>).release;
    }
  }
  const atPeak = [...snapshot.values()].sort((a, b) => b.bytes - a.bytes);
  return { peakBytes: pool.getStats().peakBytesInUse, baselineBytes, atPeak, dispatches: rt.dispatchCount - dispatchesBefore };
}

function group(live: Map<GPUBuffer, { label: string; bytes: number }>): Map<string, LiveGroup> {
  const out = new Map<string, LiveGroup>();
  for (const { label, bytes } of live.values()) {
    const g = out.get(label) ?? { label, count: 0, bytes: 0 };
    g.count++;
    g.bytes += bytes;
    out.set(label, g);
  }
  return out;
}
