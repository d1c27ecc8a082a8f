// TensorFlow.js's WebGPU backend as the peer, on the same Dawn GPU object (so the same adapter) in
// the same process. What tfjs needs in Node:
//  - `navigator.gpu` at the moment tfjs-backend-webgpu is imported: it registers the 'webgpu'
//    backend only when it sees one. Node 20 has no `navigator`; Node 21+ has one without `gpu`.
//  - the WebGPU enum globals (GPUBufferUsage, GPUMapMode, GPUShaderStage, ...): dawnet's device
//    code already copies Dawn's `globals` onto globalThis.
//  - nothing else for compute (no OffscreenCanvas: only tf.browser/fromPixels paths use it).
// Gradients: Node loads tfjs-core's CommonJS bundle (dist/tf-core.node.js), which holds no gradient
// registrations (the union package @tensorflow/tfjs imports them; tfjs-core alone does not), so
// tf.grads and tf.variableGrads fail with "gradient function not found for Conv2D". The
// registrations exist only as tfjs-core's unbundled ES modules (dist/register_all_gradients.js and
// the ops it imports), written for bundlers: extensionless relative imports in a package Node reads
// as CommonJS. loadGradients() registers a module hook scoped to tfjs-core's dist/ that resolves
// './x' to './x.js' and reads those files as ES modules, then imports the registrations. That second
// copy of tfjs-core shares the engine, the kernel registry and the gradient registry with the first
// through tfjs's global namespace, so the gradients land where tf.variableGrads looks.
// The kernel cases need none of this: backward convs call the backend kernels
// Conv2DBackpropInput / Conv2DBackpropFilter directly through the engine.
//
// tfjs forwards ops on small CPU-resident tensors to a CPU implementation (WEBGPU_CPU_FORWARD);
// that is switched off so every timed op runs on the GPU.
//
// GPU time: tfjs-backend-webgpu's own factory asks for 'timestamp-query' whenever the adapter has
// it (4.22: base.js), so no flag is needed; its device has it or the adapter lacks it, and
// `gpuClock` is null in the second case. tf.time(f).kernelMs then sums one timestamped pass per
// kernel (bench/timing.ts says what that counts); without the feature it would be 0, not an error.
//
// GPU memory: tf.memory() reports numBytesInGPU, the backend's buffer manager's bytes in buffers
// handed out (tensors, plus uniform and staging buffers until the next submit), and
// numBytesInGPUAllocated, which adds the free buffers it keeps for reuse (it never gives them
// back). Both are snapshots; memoryPeak() watches numBytesInGPU through one step for its peak, the
// counterpart of dawnet's pool.peakBytesInUse. tf.profile(f).peakBytes is not used: it counts
// tensor bytes in tfjs's engine, not buffers waiting on the queue, and profiling times every kernel.

import { patientAwait } from '../src/gpu/patient-wait.js';
import type { Tfjs } from './case.js';
import type { GpuClock } from './timing.js';

/** The parts of tfjs's WebGPUBackend the harness uses (not in its public types). */
interface WebGpuBackend {
  device: GPUDevice;
  bufferManager: BufferManager;
  queue: GPUQueue;
  adapterInfo?: { vendor?: string; architecture?: string };
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** tfjs-backend-webgpu's buffer manager: the counters and the method memoryPeak() watches. */
interface BufferManager {
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
}

/** tfjs's GPU memory over one step, from its WebGPU buffer manager (exact sizes, no rounding). */
export interface TfjsMemory {
  /** Peak of numBytesInGPU during the step: bytes in buffers handed out (tensors, uniforms, staging). */
  peakBytes: number;
  /** numBytesInGPU before the step: weights, optimiser state, the batch. */
  baselineBytes: number;
  /** numBytesInGPUAllocated after the step: what the manager holds, free buffers kept for reuse included. */
  allocatedBytes: number;
}

export interface TfjsPeer {
  tf: Tfjs;
  version: string;
  adapter: string;
  /** Submits what tfjs has encoded and waits for the GPU. */
  sync(): Promise<void>;
  /** tf.time's kernelMs as a clock; null when tfjs's device has no 'timestamp-query'. */
  gpuClock: GpuClock | null;
  /** Runs `step` once, waits, and reports the peak of tfjs's GPU bytes in use during it. */
  memoryPeak(step: () => void): Promise<TfjsMemory>;
  /** Loads tfjs's gradient registrations once; says how, or throws saying why not. */
  gradients(): Promise<string>;
  /** Releases tfjs's device and the navigator shim. */
  unload(): void;
}

// Variables, not literals: bundlers leave the import to run time, so dawnet's CLI bundle does not
// contain tfjs and works without it installed (tfjs is a devDependency).
const CORE = '@tensorflow/tfjs-core';
const WEBGPU = '@tensorflow/tfjs-backend-webgpu';

function installNavigator(gpu: GPU): () => void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const before = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  if (g.navigator?.gpu === gpu) return () => {};
  // Node 21+ defines `navigator` as a getter without a setter: redefine instead of assigning.
  Object.defineProperty(globalThis, 'navigator', {
    value: { ...(g.navigator ?? {}), gpu },
    configurable: true,
    writable: true,
  });
  return () => {
    if (before) Object.defineProperty(globalThis, 'navigator', before);
    else delete (globalThis as { navigator?: unknown }).navigator;
  };
}

const GRADIENTS = `${CORE}/dist/register_all_gradients.js`;

// Runs in Node's loader thread, so it is source text; it touches only tfjs-core's dist/ files.
const GRADIENT_HOOKS = `
const DIST = '/@tensorflow/tfjs-core/dist/';
const BUNDLE = /\\/tf-core[^/]*\\.js$/;
export async function resolve(specifier, context, next) {
  if (context.parentURL?.includes(DIST) && specifier.startsWith('.') && !/\\.[cm]?js$/.test(specifier)) {
    try {
      return await next(specifier + '.js', context);
    } catch {
      return next(specifier + '/index.js', context);
    }
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.includes(DIST) && !BUNDLE.test(url)) return next(url, { ...context, format: 'module' });
  return next(url, context);
}`;

let gradientsLoaded: Promise<string> | null = null;

/** Makes tf.variableGrads work in Node (see the header); resolves to how, rejects with why not. */
export function loadGradients(tf: Tfjs): Promise<string> {
  gradientsLoaded ??= (async () => {
    if (tf.getGradient('Conv2D')) return 'already registered';
    // Imported here, not at the top: the browser bench (bench/web.ts) shares this module.
    const nodeModule = await import('node:module');
    const register = (nodeModule as { register?: (url: string) => void }).register;
    if (typeof register !== 'function') throw new Error(`node ${process.version} has no module.register (needs 20.6+)`);
    register(`data:text/javascript,${encodeURIComponent(GRADIENT_HOOKS)}`);
    await import(/* @vite-ignore */ GRADIENTS);
    const missing = ['Conv2D', 'Conv2DBackpropInput', 'MaxPool', 'Concat', 'FusedBatchNorm', 'Relu', 'Sigmoid', 'Mean'].filter(
      (k) => !tf.getGradient(k),
    );
    if (missing.length) throw new Error(`tfjs gradients still missing for ${missing.join(', ')}`);
    return "tfjs-core's ESM gradient registrations, loaded through a module hook";
  })();
  return gradientsLoaded;
}

/** tf.time around a sample: kernelMs is the GPU time, anything but a finite number is no reading. */
function kernelClock(tf: Tfjs, sync: () => Promise<void>): GpuClock {
  return {
    perturbsWall: true,
    measure: async (enqueue) => {
      const t0 = performance.now();
      // Napping while tf.time awaits its queries: a spinning JS thread would slow lavapipe's
      // kernels and so lengthen the very spans being measured.
      const info = await patientAwait(tf.time(enqueue));
      await sync();
      const k: unknown = info.kernelMs;
      return { wallMs: performance.now() - t0, gpuMs: typeof k === 'number' && Number.isFinite(k) ? k : null };
    },
  };
}

/** Wraps the buffer manager's acquireBuffer on the instance for one step: numBytesUsed only rises there. */
async function memoryPeak(backend: WebGpuBackend, sync: () => Promise<void>, step: () => void): Promise<TfjsMemory> {
  const manager = backend.bufferManager;
  await sync(); // buffers of earlier work waiting on a submit are released now
  const baselineBytes = manager.numBytesUsed;
  let peakBytes = baselineBytes;
  const acquire = manager.acquireBuffer;
  manager.acquireBuffer = function (this: BufferManager, ...args: Parameters<BufferManager['acquireBuffer']>) {
    const buffer = acquire.apply(this, args);
    peakBytes = Math.max(peakBytes, this.numBytesUsed);
    return buffer;
  };
  try {
    step();
    await sync();
  } finally {
    delete (manager as Partial<BufferManager>).acquireBuffer;
    if (manager.acquireBuffer !== acquire) manager.acquireBuffer = acquire;
  }
  return { peakBytes, baselineBytes, allocatedBytes: manager.numBytesAllocated };
}

/**
 * The errors tfjs's device reports without an error scope. tfjs opens none, so a kernel WebGPU
 * refuses (a binding past maxStorageBufferBindingSize: on lavapipe, 128 MiB, which the U-Net's
 * decoder passes at batch 16 of 256x256) is only logged, its command buffer dropped, and the step
 * would be timed without that work. throwIfAny() (after each sync) throws the first message and
 * how many came, once, so that the side is recorded as an error instead of a time.
 */
function deviceErrors(device: GPUDevice): { throwIfAny(): void; detach(): void } {
  let count = 0;
  let first = '';
  const listener = (e: Event) => {
    const error = (e as GPUUncapturedErrorEvent).error;
    if (count++ === 0) first = error?.message ?? String(error);
  };
  device.addEventListener('uncapturederror', listener);
  return {
    throwIfAny() {
      if (count === 0) return;
      const message = `tfjs's WebGPU device reported ${count} error(s), so its work did not all run; the first: ${first.split('\n')[0]}`;
      count = 0;
      first = '';
      throw new Error(message);
    },
    detach: () => device.removeEventListener('uncapturederror', listener),
  };
}

function namespace<T>(mod: T & { default?: T }, probe: string): T {
  return probe in (mod as object) ? mod : (mod.default ?? mod);
}

/** Loads tfjs on `gpu` (Dawn's GPU object) and makes 'webgpu' its backend. */
export async function loadTfjs(gpu: GPU): Promise<TfjsPeer> {
  const restore = installNavigator(gpu);
  try {
    const tf = namespace((await import(/* @vite-ignore */ CORE)) as Tfjs & { default?: Tfjs }, 'setBackend');
    await import(/* @vite-ignore */ WEBGPU);
    return await tfjsPeer(tf, restore, () => loadGradients(tf));
  } catch (e) {
    restore();
    throw e;
  }
}

/**
 * The peer from a tfjs whose WebGPU backend module is loaded (in a browser page, bundled with
 * it); `restore` undoes what loading needed, `gradients` makes tf.variableGrads work.
 */
export async function tfjsPeer(tf: Tfjs, restore: () => void, gradients: () => Promise<string>): Promise<TfjsPeer> {
  if (!tf.findBackendFactory('webgpu')) {
    throw new Error('bench: tfjs-backend-webgpu did not register (navigator.gpu was not visible at import)');
  }
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('bench: tf.setBackend("webgpu") failed');
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackend;
  if (typeof backend.submitQueue !== 'function' || typeof backend.endComputePassEncoder !== 'function') {
    throw new Error(`bench: tfjs ${tf.version_core}'s WebGPU backend lacks submitQueue(); update peer-tfjs.ts`);
  }
  const info = backend.adapterInfo ?? {};
  const errors = deviceErrors(backend.device);
  const sync = async () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    // The same wait as dawnet's runtime.sync(): without it dawn.node's tick spins a core that
    // lavapipe's kernels need, and the two sides would not be timed alike.
    await patientAwait(backend.queue.onSubmittedWorkDone());
    errors.throwIfAny();
  };
  return {
    tf,
    version: tf.version_core,
    adapter: [info.vendor, info.architecture].filter((s) => s).join(' ') || 'unknown',
    gradients,
    sync,
    gpuClock: backend.device.features.has('timestamp-query') ? kernelClock(tf, sync) : null,
    memoryPeak: (step) => memoryPeak(backend, sync, step),
    unload: () => {
      // removeBackend() also drops the factory; put it back so a later loadTfjs() can set it again.
      const factory = tf.findBackendFactory('webgpu');
      tf.removeBackend('webgpu');
      if (factory) tf.registerBackend('webgpu', factory, 3);
      errors.detach();
      backend.device.destroy();
      restore();
    },
  };
}

