// The buffer pool: steady-state training creates no GPU buffers. Buffers are keyed on usage and a
// rounded size (powers of two below 4 KiB, then steps of 1/8 of the power of two, so at most 12.5%
// is wasted while shapes that differ slightly still share buckets).
//
// A buffer released while commands that read it are still being encoded must not be handed out
// again before those commands are submitted: queue.writeBuffer on the new owner would run ahead of
// the unsubmitted reads. Released buffers wait in `pending` until `onSubmit()` (the tfjs rule).
//
// A free list hands out its oldest buffer first (the lowest creation serial), whatever order
// buffers came back in. So a step that repeats the same allocations from the same free buffers,
// as every training step does, gets the very same buffers each time, and the runtime's bind
// groups for its dispatches (src/gpu/bind-group-cache.ts) are found again instead of recreated.
//
// A free buffer left unused for `maxIdleSubmits` submits is destroyed: a long training whose shapes
// vary (a smaller last batch, validation at another size, random crops) would otherwise keep a
// buffer of every size class it ever used, many times the memory any step needs. A step takes a
// few submits, so what every step reuses never ages out.

import { LimitError } from '../errors.js';

export interface PoolStats {
  /** Bytes in buffers currently owned by tensors or kernels. */
  bytesInUse: number;
  /** Bytes in all buffers the pool has created and not destroyed. */
  bytesAllocated: number;
  /** Highest bytesInUse seen since the last resetPeak(). */
  peakBytesInUse: number;
  buffersCreated: number;
  buffersInUse: number;
}

export function roundBufferSize(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 4) * 4);
  if (b <= 4096) return 2 ** Math.ceil(Math.log2(b));
  const pow = 2 ** Math.floor(Math.log2(b));
  const step = pow / 8;
  return Math.ceil(b / step) * step;
}

/** The largest request that roundBufferSize keeps within `limit` bytes: the largest size class not above it. */
export function largestBufferSize(limit: number): number {
  if (limit < 16) return 0;
  const pow = 2 ** Math.floor(Math.log2(limit));
  if (pow < 4096) return pow;
  const step = pow / 8;
  return Math.floor(limit / step) * step;
}

/** An acquire's `what`, made only when an error needs it. */
const requestOf = (what: string | (() => string)): string => (typeof what === 'function' ? what() : what);

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private pending: { key: string; buffer: GPUBuffer }[] = [];
  private sizes = new Map<GPUBuffer, number>();
  /** Creation order of every live buffer: free lists pop the lowest. */
  private serials = new Map<GPUBuffer, number>();
  private nextSerial = 0;
  /** Submits so far, and for each free buffer the submit that freed it. */
  private submits = 0;
  private freedAt = new Map<GPUBuffer, number>();

  /** Free buffers unused for this many submits are destroyed (checked every 32 submits). */
  maxIdleSubmits = 256;
  private stats: PoolStats = { bytesInUse: 0, bytesAllocated: 0, peakBytesInUse: 0, buffersCreated: 0, buffersInUse: 0 };

  /**
   * Called before an allocation over the budget is refused: the runtime submits what is encoded,
   * so that buffers released since the last submit become free and can be trimmed.
   */
  onPressure: (() => void) | null = null;

  /** Called before a buffer is destroyed (the runtime drops the bind groups that bind it). */
  onDestroy: ((buffer: GPUBuffer) => void) | null = null;

  constructor(
    private device: GPUDevice,
    private limit: number,
    private budget = Number.POSITIVE_INFINITY,
  ) {}

  /** The largest buffer acquire() creates: the device's maxBufferSize, or less under setMaxBufferSize(). */
  get maxBufferSize(): number {
    return this.limit;
  }

  /** For tests (Runtime.setBufferLimit): refuse buffers over `bytes` as if the device did. */
  setMaxBufferSize(bytes: number): void {
    this.limit = bytes;
  }

  /**
   * `label` names the buffer (WebGPU's label); `what`, the request in an error message, where the
   * caller can say more than a pooled buffer's label should (the readback names its tensors). A
   * function is called only for an error: every readback passes one, and most never fail.
   */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string, what: string | (() => string) = label): GPUBuffer {
    const size = roundBufferSize(bytes);
    if (size > this.limit) {
      throw new LimitError(`${requestOf(what)}: needs a buffer of ${bytes} bytes but the device's maxBufferSize is ${this.limit}`);
    }
    const key = `${usage}:${size}`;
    let buffer = this.free.get(key)?.pop();
    if (!buffer && this.stats.bytesAllocated + size > this.budget && this.pending.length) {
      this.onPressure?.();
      buffer = this.free.get(key)?.pop();
    }
    if (buffer) this.freedAt.delete(buffer);
    else {
      if (this.stats.bytesAllocated + size > this.budget) this.trim();
      if (this.stats.bytesAllocated + size > this.budget) {
        throw new LimitError(
          `${requestOf(what)}: allocating ${size} bytes would exceed the memory budget of ${this.budget} bytes ` +
            `(${this.stats.bytesInUse} in use)`,
        );
      }
      buffer = this.device.createBuffer({ size, usage, label });
      this.sizes.set(buffer, size);
      this.serials.set(buffer, this.nextSerial++);
      this.stats.bytesAllocated += size;
      this.stats.buffersCreated++;
    }
    this.stats.bytesInUse += size;
    this.stats.buffersInUse++;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    return buffer;
  }

  /** Gives a buffer back; it becomes reusable after the next submit. */
  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error('BufferPool.release: buffer not from this pool');
    this.stats.bytesInUse -= size;
    this.stats.buffersInUse--;
    this.pending.push({ key: `${buffer.usage}:${size}`, buffer });
  }

  /** Called by the queue after each submit: released buffers may be handed out again. */
  onSubmit(): void {
    this.submits++;
    const touched = new Set<GPUBuffer[]>();
    for (const { key, buffer } of this.pending) {
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buffer);
      touched.add(list);
      this.freedAt.set(buffer, this.submits);
    }
    this.pending = [];
    // Highest serial first, so pop() gives the oldest.
    const serial = (b: GPUBuffer) => this.serials.get(b) ?? 0;
    for (const list of touched) list.sort((x, y) => serial(y) - serial(x));
    if (this.submits % 32 === 0) this.destroyIdle();
  }

  /** Destroys the free buffers unused for more than maxIdleSubmits submits. */
  private destroyIdle(): void {
    const idle = (b: GPUBuffer) => this.submits - (this.freedAt.get(b) ?? this.submits) > this.maxIdleSubmits;
    for (const [key, list] of this.free) {
      const stale = list.filter(idle);
      if (!stale.length) continue;
      const kept = list.filter((b) => !idle(b));
      if (kept.length) this.free.set(key, kept);
      else this.free.delete(key);
      for (const buffer of stale) this.destroy(buffer);
    }
  }

  /** Destroys every free buffer (not the pending ones: unsubmitted commands may use them). */
  trim(): void {
    for (const list of this.free.values()) for (const buffer of list) this.destroy(buffer);
    this.free.clear();
  }

  private destroy(buffer: GPUBuffer): void {
    this.stats.bytesAllocated -= this.sizes.get(buffer) ?? 0;
    this.sizes.delete(buffer);
    this.serials.delete(buffer);
    this.freedAt.delete(buffer);
    this.onDestroy?.(buffer);
    buffer.destroy();
  }

  setBudget(bytes: number): void {
    this.budget = bytes;
  }

  resetPeak(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }
}
