// GPU time of the work enqueued between begin() and end(), from timestamp queries. While a timing
// runs, every compute pass the runtime begins writes the GPU's clock at its start and at its end
// into a query set (two queries per pass); end() submits what is queued, resolves the queries,
// reads them back and sums end - start over the passes. Passes on one queue run one after
// another, so the sum is the time the GPU spent in dawnet's compute passes: copies between passes,
// queue writes (uniform params, uploads) and the gaps of submission are not in it.
//
// Without the 'timestamp-query' feature begin() and end() still pair up, but end() gives null.
// When no timing runs, passes get no timestampWrites and no query set exists: the timer is free.
// begin({ perKernel: true }) gives every dispatch its own pass and `lastProfile` the GPU time per
// kernel name: where a training step's time goes (more passes than usual, so slightly more time).
// Query sets come in chunks of QUERIES_PER_SET, made on first need and kept for later timings.
// Dawn rounds timestamps down to 2^16 ns (65.5 us) unless the device was created with
// 'disable-dawn-features=timestamp_quantization' (InitOptions.dawnOptions): each span is then off
// by up to that much, which matters only for passes far shorter than a millisecond. Some drivers
// let a timestamp go backwards; such a span counts as 0 and is counted in `backwardSpans`.

import { KernelError } from '../errors.js';
import { patientAwait } from './patient-wait.js';

/** Queries per query set: 128 passes. A timing with more passes takes another set. */
const QUERIES_PER_SET = 256;

const NS_PER_MS = 1_000_000;

interface QueryChunk {
  set: GPUQuerySet;
  /** Where resolveQuerySet writes the u64 timestamps. */
  resolved: GPUBuffer;
  /** Mappable copy of `resolved`. */
  staging: GPUBuffer;
}

/** What the timer needs from the runtime that owns the command encoder. */
export interface GpuTimerHooks {
  /** Ends the open compute pass, so the passes begun after begin() are the timed ones. */
  closePass(): void;
  /** Submits everything encoded so far, so the queries written can be resolved. */
  flush(): void;
  /** Throws when the device is lost or the runtime shut down. */
  checkAlive(): void;
  /** Runs a wait on the GPU that shutdown must let settle before it destroys the device. */
  counted<T>(wait: () => Promise<T>): Promise<T>;
  /** What a failed map throws: the DeviceLostError when the device is lost, else the error. */
  lostOr(e: unknown): Promise<unknown>;
}

/**
 * Sum of end - start over (start, end) pairs of nanosecond timestamps, in ms, subtracted as BigInts
 * (a u64 may exceed 2^53); a span that goes backwards counts as 0 and is counted in `backward`.
 */
export function sumSpans(values: BigUint64Array[]): { ms: number; backward: number } {
  let total = 0n;
  let backward = 0;
  for (const v of values) {
    for (let i = 0; i + 1 < v.length; i += 2) {
      const span = v[i + 1] - v[i];
      if (span < 0n) backward++;
      else total += span;
    }
  }
  return { ms: Number(total) / NS_PER_MS, backward };
}

interface UsedChunk {
  chunk: QueryChunk;
  /** Queries written into it by this timing. */
  count: number;
}

type State = 'idle' | 'timing' | 'reading';

/** GPU time of one kernel over a per-kernel timing: its dispatches and their summed spans. */
export interface KernelTime {
  name: string;
  dispatches: number;
  ms: number;
}

/** Sums spans by the name of the pass they came from, largest first. */
export function profileByName(values: BigUint64Array[], names: readonly string[]): KernelTime[] {
  const byName = new Map<string, KernelTime>();
  let pass = 0;
  for (const v of values) {
    for (let i = 0; i + 1 < v.length; i += 2, pass++) {
      const span = v[i + 1] - v[i];
      const name = names[pass] ?? '(unnamed)';
      const entry = byName.get(name) ?? { name, dispatches: 0, ms: 0 };
      entry.dispatches++;
      entry.ms += span > 0n ? Number(span) / NS_PER_MS : 0;
      byName.set(name, entry);
    }
  }
  return [...byName.values()].sort((a, b) => b.ms - a.ms);
}

export class GpuTimer {
  private chunks: QueryChunk[] = [];
  private queries = 0;
  private state: State = 'idle';
  /** Query sets created over the timer's life (none until a timing runs on a capable device). */
  querySetsCreated = 0;
  /** Passes timed by the last end(). */
  lastPasses = 0;
  /** Spans whose end came before their start, over the timer's life (each counted as 0 ms). */
  backwardSpans = 0;
  /** Per kernel name, from the last end() of a begin({ perKernel: true }); empty otherwise. */
  lastProfile: KernelTime[] = [];
  private perKernelNames: string[] | null = null;

  constructor(
    private readonly device: GPUDevice,
    /** The device has 'timestamp-query': end() gives a time rather than null. */
    readonly available: boolean,
    private readonly hooks: GpuTimerHooks,
  ) {}

  get active(): boolean {
    return this.state !== 'idle';
  }

  /** One pass per dispatch, named by its kernel (the runtime ends the pass after each dispatch). */
  get perKernel(): boolean {
    return this.perKernelNames !== null;
  }

  /**
   * Starts timing the passes begun from now on. One timing at a time. perKernel: one pass per
   * dispatch, and end() also fills `lastProfile`.
   */
  begin(options: { perKernel?: boolean } = {}): void {
    this.hooks.checkAlive();
    if (this.state !== 'idle') {
      throw new Error(
        `gpuTimer.begin: a timing is already ${this.state === 'timing' ? 'running' : 'being read'}; await gpuTimer.end() before beginning another`,
      );
    }
    this.hooks.closePass();
    this.queries = 0;
    this.lastProfile = [];
    this.perKernelNames = options.perKernel ? [] : null;
    this.state = 'timing';
  }

  /** The timestampWrites of a compute pass about to begin (for kernel `name`); undefined when nothing is timed. */
  passWrites(name = ''): GPUComputePassTimestampWrites | undefined {
    if (this.state !== 'timing' || !this.available) return undefined;
    this.perKernelNames?.push(name);
    const chunk = this.chunks[Math.floor(this.queries / QUERIES_PER_SET)] ?? this.addChunk();
    const start = this.queries % QUERIES_PER_SET;
    this.queries += 2;
    return { querySet: chunk.set, beginningOfPassWriteIndex: start, endOfPassWriteIndex: start + 1 };
  }

  /**
   * Submits what is queued and resolves to the GPU milliseconds of the passes begun since
   * begin() (waiting for them to finish), or null without 'timestamp-query'.
   */
  async end(): Promise<number | null> {
    if (this.state !== 'timing') {
      throw new Error(`gpuTimer.end: ${this.state === 'idle' ? 'no timing is running (call begin() first)' : 'this timing is already being read'}`);
    }
    this.state = 'reading';
    try {
      this.hooks.flush();
      this.lastPasses = this.queries / 2;
      if (!this.available) return null;
      if (this.queries === 0) return 0;
      const { used, error } = this.resolveUsed();
      const values = await this.hooks.counted(() => this.readBack(used, error));
      if (this.perKernelNames) this.lastProfile = profileByName(values, this.perKernelNames);
      return this.addSpans(values);
    } finally {
      this.perKernelNames = null;
      this.state = 'idle';
    }
  }

  private addChunk(): QueryChunk {
    const bytes = QUERIES_PER_SET * 8;
    const label = `gpuTimer.${this.chunks.length}`;
    const chunk: QueryChunk = {
      set: this.device.createQuerySet({ label, type: 'timestamp', count: QUERIES_PER_SET }),
      resolved: this.device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      staging: this.device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    };
    this.chunks.push(chunk);
    this.querySetsCreated++;
    return chunk;
  }

  /** Encodes and submits the resolve of every query written: each chunk with its query count. */
  private resolveUsed(): { used: UsedChunk[]; error: Promise<GPUError | null> } {
    const used: UsedChunk[] = [];
    for (let i = 0; i * QUERIES_PER_SET < this.queries; i++) {
      used.push({ chunk: this.chunks[i], count: Math.min(QUERIES_PER_SET, this.queries - i * QUERIES_PER_SET) });
    }
    this.device.pushErrorScope('validation');
    const encoder = this.device.createCommandEncoder({ label: 'gpuTimer' });
    for (const { chunk, count } of used) {
      encoder.resolveQuerySet(chunk.set, 0, count, chunk.resolved, 0);
      encoder.copyBufferToBuffer(chunk.resolved, 0, chunk.staging, 0, count * 8);
    }
    this.device.queue.submit([encoder.finish()]);
    return { used, error: this.device.popErrorScope() };
  }

  private async readBack(used: UsedChunk[], resolveError: Promise<GPUError | null>): Promise<BigUint64Array[]> {
    try {
      const error = await patientAwait(resolveError);
      if (error) throw new KernelError('gpuTimer', `resolving the timestamp queries failed: ${error.message}`);
      await patientAwait(Promise.all(used.map(({ chunk, count }) => chunk.staging.mapAsync(GPUMapMode.READ, 0, count * 8))));
      return used.map(({ chunk, count }) => {
        const values = new BigUint64Array(chunk.staging.getMappedRange(0, count * 8).slice(0));
        chunk.staging.unmap();
        return values;
      });
    } catch (e) {
      // A staging buffer left mapped would fail the next timing's copy into it.
      for (const { chunk } of used) if (chunk.staging.mapState === 'mapped') chunk.staging.unmap();
      this.hooks.checkAlive();
      throw await this.hooks.lostOr(e);
    }
  }

  private addSpans(values: BigUint64Array[]): number {
    const { ms, backward } = sumSpans(values);
    this.backwardSpans += backward;
    return ms;
  }

  /** Frees the query sets and their buffers (the runtime calls this on shutdown). */
  destroy(): void {
    for (const c of this.chunks) {
      c.set.destroy();
      c.resolved.destroy();
      c.staging.destroy();
    }
    this.chunks = [];
    this.state = 'idle';
  }
}
