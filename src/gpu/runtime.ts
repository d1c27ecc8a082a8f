// The runtime: one device, its buffer pool, its pipeline cache and the command encoder that
// collects dispatches until a readback (or a bounded number of dispatches) submits them.
//
// Errors: WebGPU reports WGSL and validation errors asynchronously. Pipeline creation runs inside
// an error scope named after the kernel; submits run inside one too. Their results are awaited at
// the next readback or sync(), which rethrows the first as a KernelError naming the kernel.

import { ArgumentError, KernelError, LimitError, NoDeviceError } from '../errors.js';
import { BufferPool, largestBufferSize } from './buffer-pool.js';
import { BindGroupCache } from './bind-group-cache.js';
import { checkBindings } from './binding-checks.js';
import { blame, ErrorChecks } from './error-checks.js';
import { acquireDevice, checkInitOptions, lostOr, type GpuContext, type InitOptions } from './device.js';
import { GpuTimer } from './gpu-timer.js';
import { patientAwait } from './patient-wait.js';
import { describeSources, stagingGroups, type ReadSource } from './readback.js';

export interface KernelSpec {
  /** Op and direction, e.g. 'conv2d.forward'; also the label of everything created for it. */
  name: string;
  /** Compile-time constants that select a variant (tile sizes, flags): part of the cache key. */
  key: string;
  /** Read-only storage bindings, at @binding(0..inputs-1). */
  inputs: number;
  /**
   * Inputs bound as uniform buffers instead (their indices): small operands every invocation reads
   * at the same address, which GPUs serve from a constant cache (conv2d-uniform-weights.ts). Each
   * must fit maxUniformBufferBindingSize and start at a multiple of minUniformBufferOffsetAlignment.
   */
  uniformInputs?: readonly number[];
  /** Read-write storage bindings, after the inputs. */
  outputs: number;
  /** WGSL source; called once per (name, key). A uniform `params` binding follows the outputs. */
  wgsl: () => string;
}

export interface BufferSlice {
  buffer: GPUBuffer;
  /** Bytes bound; the pool's buffers are rounded up, the kernel sees only what the tensor holds. */
  size: number;
  /**
   * First byte bound (default 0): kernels that split their work bind one chunk of a tensor. A
   * multiple of `offsetAlignment` (minStorageBufferOffsetAlignment).
   */
  offset?: number;
}

interface CachedKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Submit once this many dispatches are queued, so released buffers become reusable. */
const DISPATCHES_PER_SUBMIT = 96;

export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  /** Opt-in GPU time of the compute passes between begin() and end() (timestamp queries). */
  readonly gpuTimer: GpuTimer;
  private kernels = new Map<string, CachedKernel>();
  /** Bind groups reused by dispatches that bind the same buffer ranges (src/gpu/bind-group-cache.ts). */
  readonly bindGroups: BindGroupCache;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private queued = 0;
  private queuedNames = new Set<string>();
  /** Error scopes and uncaptured errors not yet thrown (src/gpu/error-checks.ts). */
  readonly checks = new ErrorChecks();
  private destroyed = false;
  private released = false;
  /** Reads and syncs in flight (see destroy()). */
  private waiting = 0;
  private bindingOverride: number | null = null;
  private alignmentOverride: number | null = null;
  dispatchCount = 0;
  submitCount = 0;

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
    const limits = ctx.device.limits;
    this.pool = new BufferPool(ctx.device, limits.maxBufferSize);
    this.bindGroups = new BindGroupCache(ctx.device);
    this.pool.onDestroy = (buffer) => this.bindGroups.forget(buffer);
    this.pool.onPressure = () => this.submit();
    this.gpuTimer = new GpuTimer(ctx.device, ctx.device.features.has('timestamp-query'), {
      closePass: () => this.endPass(),
      flush: () => this.submit(),
      checkAlive: () => this.checkAlive(),
      counted: (wait) => this.counted(wait),
      lostOr: (e) => this.lostOr(e),
    });
    ctx.device.addEventListener('uncapturederror', this.onUncapturedError);
  }

  private readonly onUncapturedError = (ev: Event): void => {
    const error = (ev as GPUUncapturedErrorEvent).error;
    this.checks.add(Promise.resolve(new KernelError(blame(error.message), error.message)));
  };

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /**
   * The largest storage binding a dispatch may use: the device's maxStorageBufferBindingSize, or
   * less under setBindingLimit(). Kernels split their work to stay under it (kernels/chunking.ts).
   */
  get bindingLimit(): number {
    const device = this.limits.maxStorageBufferBindingSize;
    return this.bindingOverride === null ? device : Math.min(device, this.bindingOverride);
  }

  /** What a binding's byte offset must be a multiple of: the device's, or stricter under setBindingLimit(). */
  get offsetAlignment(): number {
    const device = this.limits.minStorageBufferOffsetAlignment;
    return this.alignmentOverride === null ? device : Math.max(device, this.alignmentOverride);
  }

  /**
   * For tests: behave as if the adapter allowed bindings of only `bytes` (null restores the
   * device's limit), so the splitting code runs on small tensors. `offsetAlignment` (a power of
   * two) can also be made stricter than the device's, until the next call.
   */
  setBindingLimit(bytes: number | null, options: { offsetAlignment?: number } = {}): void {
    if (bytes !== null && !(Number.isInteger(bytes) && bytes >= 4 && bytes % 4 === 0)) {
      throw new RangeError(`setBindingLimit: expected a positive multiple of 4 bytes or null, got ${bytes}`);
    }
    const a = options.offsetAlignment;
    if (a !== undefined && !(Number.isInteger(a) && a > 0 && (a & (a - 1)) === 0)) {
      throw new RangeError(`setBindingLimit: offsetAlignment must be a power of two, got ${a}`);
    }
    this.bindingOverride = bytes;
    this.alignmentOverride = bytes === null ? null : a ?? null;
  }

  /**
   * For tests: behave as if the adapter allowed buffers of only `bytes` (null restores the
   * device's maxBufferSize), so that what splits past it (readMany's staging) runs on small tensors.
   */
  setBufferLimit(bytes: number | null): void {
    if (bytes !== null && !(Number.isInteger(bytes) && bytes >= 16)) {
      throw new RangeError(`setBufferLimit: expected a whole number of bytes, at least 16, or null, got ${bytes}`);
    }
    const device = this.limits.maxBufferSize;
    this.pool.setMaxBufferSize(bytes === null ? device : Math.min(device, bytes));
  }

  /** Whether this runtime was shut down or its device lost: its buffers are gone. */
  get ended(): boolean {
    return this.destroyed || this.ctx.lost !== null;
  }

  checkAlive(): void {
    if (this.ctx.lost) throw this.ctx.lost;
    if (this.destroyed) throw new NoDeviceError('dawnet was shut down; call init() again');
  }

  /** The kernel variants compiled so far, as 'name|key' (diagnostics: which variants a run needed). */
  compiledKernels(): string[] {
    return [...this.kernels.keys()];
  }

  private kernel(spec: KernelSpec): CachedKernel {
    const cacheKey = `${spec.name}|${spec.key}`;
    const hit = this.kernels.get(cacheKey);
    if (hit) return hit;
    const entries: GPUBindGroupLayoutEntry[] = [];
    for (let i = 0; i < spec.inputs + spec.outputs; i++) {
      entries.push({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: i >= spec.inputs ? 'storage' : spec.uniformInputs?.includes(i) ? 'uniform' : 'read-only-storage' },
      });
    }
    entries.push({ binding: spec.inputs + spec.outputs, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    const label = `${spec.name}[${spec.key}]`;
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label, code: spec.wgsl() });
    const layout = this.device.createBindGroupLayout({ label, entries });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ label, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    this.checks.add(
      this.device.popErrorScope().then((e) => {
        if (!e) return null;
        // Forget the broken pipeline so the next use reports the compile error again.
        this.kernels.delete(cacheKey);
        return new KernelError(spec.name, `failed to compile: ${e.message}`);
      }),
    );
    const cached = { pipeline, layout };
    this.kernels.set(cacheKey, cached);
    return cached;
  }

  /** Encodes one dispatch. Bindings: inputs, then outputs, then the params block. */
  dispatch(
    spec: KernelSpec,
    bindings: { inputs: BufferSlice[]; outputs: BufferSlice[]; params: ArrayBuffer },
    workgroups: [number, number?, number?],
  ): void {
    this.checkAlive();
    const storage = [...bindings.inputs, ...bindings.outputs];
    checkBindings(spec, storage, this);
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new LimitError(`${spec.name}: dispatch [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension (${maxGroups})`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const { pipeline, layout } = this.kernel(spec);
    const uniform = this.pool.acquire(bindings.params.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${spec.name}.params`);
    this.device.queue.writeBuffer(uniform, 0, bindings.params);
    const ranges = storage.map((b) => ({ buffer: b.buffer, offset: b.offset ?? 0, size: Math.ceil(b.size / 4) * 4 }));
    ranges.push({ buffer: uniform, offset: 0, size: bindings.params.byteLength });
    const bindGroup = this.bindGroups.get(layout, spec.name, ranges);
    const pass = this.computePass(spec.name);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.gpuTimer.perKernel) this.endPass();
    this.pool.release(uniform);
    this.queuedNames.add(spec.name);
    this.queued++;
    this.dispatchCount++;
    if (this.queued >= DISPATCHES_PER_SUBMIT) this.submit();
  }

  private computePass(kernel: string): GPUComputePassEncoder {
    if (!this.pass) {
      // Only while the GPU timer runs does a pass write timestamps.
      const timestampWrites = this.gpuTimer.passWrites(kernel);
      this.pass = this.commandEncoder().beginComputePass(timestampWrites ? { label: 'dawnet', timestampWrites } : { label: 'dawnet' });
    }
    return this.pass;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'dawnet' });
    return this.encoder;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.queued++;
  }

  /**
   * Zeroes `bytes` of a buffer on the GPU (a multiple of 4), encoded in order with the dispatches:
   * no host array, no upload, and unlike write() no submit of what is queued.
   */
  clear(buffer: GPUBuffer, offset: number, bytes: number): void {
    this.checkAlive();
    this.endPass();
    this.commandEncoder().clearBuffer(buffer, offset, bytes);
    this.queued++;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything encoded so far. Cheap when nothing is queued. */
  submit(): void {
    this.endPass();
    if (this.encoder) {
      const names = [...this.queuedNames];
      this.device.pushErrorScope('validation');
      this.device.queue.submit([this.encoder.finish()]);
      this.checks.add(
        this.device.popErrorScope().then((e) => (e ? new KernelError(blame(e.message, names), e.message) : null)),
      );
      this.encoder = null;
      this.queued = 0;
      this.queuedNames.clear();
      this.submitCount++;
    }
    this.pool.onSubmit();
  }

  /** Writes host data into a buffer. Flushes first so the write cannot overtake queued reads. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.checkAlive();
    if (this.encoder) this.submit();
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copies `bytes` of a buffer back to the host; submits what is queued. `label` names it in errors. */
  async read(buffer: GPUBuffer, bytes: number, label?: string): Promise<ArrayBuffer> {
    return (await this.readMany([{ buffer, bytes, label }]))[0];
  }

  /**
   * Copies several buffers back with one submit and one wait: a training step that needs its loss
   * and a metric waits for the GPU once, not once per value. They share a staging buffer while it
   * stays within maxBufferSize, and take as many as they need past it, so any set of buffers that
   * could each be read alone can be read together (a whole model's weights, to save them).
   */
  async readMany(sources: ReadSource[]): Promise<ArrayBuffer[]> {
    this.checkAlive();
    return this.counted(() => this.readManyNow(sources));
  }

  private async readManyNow(sources: ReadSource[]): Promise<ArrayBuffer[]> {
    const groups = stagingGroups(sources, largestBufferSize(this.pool.maxBufferSize));
    const staging: GPUBuffer[] = [];
    try {
      for (const g of groups) {
        const what = () => `readback of ${describeSources(g.parts.map((p) => sources[p.source]))}`;
        staging.push(this.pool.acquire(g.bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback', what));
      }
    } catch (e) {
      for (const b of staging) this.pool.release(b);
      throw e;
    }
    groups.forEach((g, k) => {
      for (const p of g.parts) if (p.bytes) this.copy(sources[p.source].buffer, 0, staging[k], p.offset, p.bytes);
    });
    this.submit();
    try {
      // Settled, all of them, so that none is left to map after its buffer went back to the pool.
      const maps = await this.gpuWait(Promise.allSettled(staging.map((b, k) => b.mapAsync(GPUMapMode.READ, 0, groups[k].bytes))));
      const failed = maps.find((m): m is PromiseRejectedResult => m.status === 'rejected');
      if (failed) {
        staging.forEach((b, k) => maps[k].status === 'fulfilled' && b.unmap());
        throw failed.reason;
      }
      const out: ArrayBuffer[] = new Array(sources.length);
      groups.forEach((g, k) => {
        const mapped = staging[k].getMappedRange(0, g.bytes);
        for (const p of g.parts) out[p.source] = mapped.slice(p.offset, p.offset + sources[p.source].bytes);
        staging[k].unmap();
      });
      return out;
    } catch (e) {
      throw await this.lostOr(e);
    } finally {
      for (const b of staging) this.pool.release(b);
      await this.throwPendingErrors();
    }
  }

  /** Awaits one of Dawn's promises; in Node without spinning a core while the GPU works. */
  private gpuWait<T>(pending: Promise<T>): Promise<T> {
    return patientAwait(pending, this.ctx.report.backend === 'dawn-node');
  }

  /** What a failed GPU wait throws: DeviceLostError if the device is (or soon says it is) lost. */
  private lostOr(e: unknown): Promise<unknown> {
    return lostOr(this.ctx, e, (p) => this.gpuWait(p));
  }

  /**
   * Runs a wait on the GPU (a read, a sync) counted, so that destroy() leaves the device up until
   * every wait in flight, its error checks included, has settled.
   */
  private async counted<T>(wait: () => Promise<T>): Promise<T> {
    this.waiting++;
    try {
      return await wait();
    } finally {
      if (--this.waiting === 0 && this.destroyed) this.release();
    }
  }

  /** Waits for the GPU to finish everything submitted and rethrows any kernel error. */
  async sync(): Promise<void> {
    this.submit();
    await this.counted(async () => {
      await this.gpuWait(this.device.queue.onSubmittedWorkDone()).catch(async (e) => {
        throw await this.lostOr(e);
      });
      await this.throwPendingErrors();
    });
  }

  private async throwPendingErrors(): Promise<void> {
    const first = await this.checks.take((all) => this.gpuWait(all));
    if (this.ctx.lost) throw this.ctx.lost;
    // A popErrorScope that rejected (not a KernelError) may be the device's loss, not yet told.
    if (first) throw first instanceof KernelError ? first : await this.lostOr(first);
  }

  /**
   * Ends this runtime: nothing new may be enqueued. Work not yet submitted is dropped. A read or
   * sync already waiting on the GPU (an un-awaited toArray() at shutdown()) still settles: the
   * device is destroyed once the last such wait has, since destroying Dawn's device and instance
   * under a pending map crashed the process (SIGSEGV or abort, in dawn.node).
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    if (this.waiting === 0) this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.gpuTimer.destroy();
    // A device given to init() stays its owner's: only dawnet's free buffers go (a live tensor's
    // buffer goes when the tensor is disposed, graph/tensor.ts).
    if (this.ctx.borrowed) this.pool.trim();
    else this.device.destroy();
    // dawn.node holds a device that has listeners from the native side: this listener's closure
    // (the runtime, and through it the device) kept every shut-down device, its pool's buffers
    // and its Dawn instance alive for the life of the process, about 2 MB of RSS per init().
    this.device.removeEventListener('uncapturederror', this.onUncapturedError);
    this.ctx.nodeGpu = null;
  }
}

let current: Runtime | null = null;
/**
 * The device being acquired: init() calls made meanwhile (two libraries starting at once) share it
 * instead of each acquiring a device, of which all but the last would be left running unreferenced.
 */
let acquiring: Promise<Runtime> | null = null;
/** Counts shutdowns, so a device that arrives after one is released instead of becoming current. */
let shutdowns = 0;
/** Whether a shutdown() released a device (or one being acquired): what a call without one is told. */
let released = false;

export function initRuntime(options: InitOptions = {}): Promise<Runtime> {
  checkInitOptions(options);
  const given = options.device;
  const onGiven = (r: Runtime): Runtime => {
    if (given && given !== r.device) throw new ArgumentError('init: dawnet already runs on another device; call dn.shutdown() first to move it to the one given');
    return r;
  };
  if (current && !current.ctx.lost) return Promise.resolve(onGiven(current));
  // An init() still acquiring: a device given meanwhile must be the one it ends with.
  if (acquiring) return given ? acquiring.then(onGiven) : acquiring;
  // A lost device's runtime is ended as shutdown() ends one: left as it was, it stayed reachable
  // from its device's listener (see release()) with all it held, once per loss of a long run.
  current?.destroy();
  const generation = shutdowns;
  const pending = acquireDevice(options)
    .then((ctx) => {
      if (shutdowns !== generation) {
        if (!ctx.borrowed) ctx.device.destroy();
        throw new NoDeviceError('init: shutdown() was called before the device was acquired');
      }
      current = new Runtime(ctx);
      if (options.memoryBudget) current.pool.setBudget(options.memoryBudget);
      return current;
    })
    .finally(() => {
      if (acquiring === pending) acquiring = null;
    });
  acquiring = pending;
  return pending;
}

/**
 * The current runtime. `op`, the public call that needs the device (dn.tensor, an op's output),
 * leads the error when there is none, so a call made before init() names itself.
 */
export function runtime(op = 'dawnet'): Runtime {
  if (!current) {
    const why = acquiring
      ? 'init() has not finished: `await dn.init()`'
      : released
        ? 'dn.shutdown() released the device: call `await dn.init()` again'
        : 'no device yet: call `await dn.init()`';
    throw new NoDeviceError(`${op}: ${why} before using tensors or ops`);
  }
  current.checkAlive();
  return current;
}

export function isCurrentRuntime(r: Runtime): boolean {
  return r === current;
}

export function hasRuntime(): boolean {
  return current !== null;
}

export function shutdownRuntime(): void {
  shutdowns++;
  if (current || acquiring) released = true;
  acquiring = null;
  current?.destroy();
  current = null;
}

