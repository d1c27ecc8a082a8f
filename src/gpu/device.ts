// Device acquisition: the only place that touches `navigator.gpu` or the `webgpu` package.
// In Node, Dawn's bindings are loaded lazily so the browser bundle never references them.
// The limits large models need are requested explicitly (a device only gets the defaults
// otherwise: 128 MiB storage bindings, 16 KiB workgroup memory).

import { ArgumentError, DeviceLostError, NoDeviceError } from '../errors.js';

export interface InitOptions {
  /** 'high-performance' (default) or 'low-power'. */
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles / options passed to `create()` in Node, e.g. ['backend=vulkan']. */
  dawnOptions?: string[];
  /** Upper bound on bytes the buffer pool may hold; default: no bound beyond the device's. */
  memoryBudget?: number;
  /**
   * A device of your own (a WebGPU app's, or one from Dawn's `create()` in Node) for dawnet to run
   * on instead of acquiring one: its buffers then mix with yours. dawnet never destroys it:
   * shutdown() frees dawnet's buffers and lets go. Its features and limits are what it was
   * requested with; dawnet uses subgroups and timestamp queries where they are there.
   */
  device?: GPUDevice;
}

const INIT_OPTIONS = ['powerPreference', 'dawnOptions', 'memoryBudget', 'device'];

/**
 * init's options, checked whether or not a device is already held: a misspelt key or a budget
 * given as text would otherwise be dropped without a word (a second init() ignores them anyway,
 * and a first would run unbounded).
 */
export function checkInitOptions(options: unknown): asserts options is InitOptions {
  const shown = (v: unknown) => (typeof v === 'string' ? `the string '${v}'` : Array.isArray(v) ? `an array of ${v.length}` : String(v));
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentError(`init: options must be an object such as { memoryBudget: 2 ** 30 }, got ${shown(options)}`);
  }
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !INIT_OPTIONS.includes(k));
  if (unknown.length) throw new ArgumentError(`init: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; the options are ${INIT_OPTIONS.join(', ')}`);
  if (o.powerPreference !== undefined && o.powerPreference !== 'high-performance' && o.powerPreference !== 'low-power') {
    throw new ArgumentError(`init: powerPreference must be 'high-performance' or 'low-power', got ${shown(o.powerPreference)}`);
  }
  if (o.dawnOptions !== undefined && !(Array.isArray(o.dawnOptions) && o.dawnOptions.every((d) => typeof d === 'string'))) {
    throw new ArgumentError(`init: dawnOptions must be an array of strings such as ['backend=vulkan'], got ${shown(o.dawnOptions)}`);
  }
  if (o.device !== undefined) {
    const d = o.device as Partial<GPUDevice> | null;
    if (typeof d !== 'object' || d === null || typeof d.createBuffer !== 'function' || typeof d.queue !== 'object' || !(d.lost instanceof Promise)) {
      throw new ArgumentError(`init: device must be a GPUDevice, got ${shown(o.device)}`);
    }
    const acquiring = ['powerPreference', 'dawnOptions'].filter((k) => o[k] !== undefined);
    if (acquiring.length) throw new ArgumentError(`init: ${acquiring.join(' and ')} ${acquiring.length > 1 ? 'choose' : 'chooses'} the device dawnet acquires, and a device was given`);
  }
  const budget = o.memoryBudget;
  if (budget !== undefined && !(typeof budget === 'number' && Number.isFinite(budget) && budget > 0)) {
    throw new ArgumentError(`init: memoryBudget must be a positive number of bytes, got ${shown(budget)}`);
  }
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: 'dawn-node' | 'browser';
  features: string[];
  limits: Record<string, number>;
}

export interface GpuContext {
  device: GPUDevice;
  /** The adapter's info (subgroup sizes among it); null where a given device does not say. */
  adapterInfo: GPUAdapterInfo | null;
  /** A device given to init(): never destroyed by dawnet. */
  borrowed: boolean;
  report: AdapterReport;
  /** Set once the device is lost; every later call throws it. */
  lost: DeviceLostError | null;
  /** Resolves with `lost` when it is set. */
  whenLost: Promise<DeviceLostError>;
  /** Dawn's GPU object in Node: it keeps the process alive while referenced. */
  nodeGpu: GPU | null;
}

/** Limits worth raising to the adapter's maximum: big activations and bigger tiles. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

async function getGpu(options: InitOptions): Promise<{ gpu: GPU; nodeGpu: GPU | null }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode && nav?.gpu) return { gpu: nav.gpu, nodeGpu: null };
  if (!isNode) {
    // A page over plain http from another host has no navigator.gpu either: that is the page's doing.
    const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext !== false;
    throw new NoDeviceError(
      secure
        ? 'init: this browser has no WebGPU (navigator.gpu is missing); use a recent Chrome, Edge or Safari with WebGPU enabled'
        : 'init: the page is not a secure context, so the browser hides WebGPU (navigator.gpu is missing): serve it over https or from localhost',
    );
  }
  const moduleName = 'webgpu';
  const webgpu = (await import(/* @vite-ignore */ moduleName)) as {
    create(opts: string[]): GPU;
    globals: Record<string, unknown>;
  };
  // GPUBufferUsage, GPUShaderStage, ... are needed as globals by WebGPU code.
  for (const [k, v] of Object.entries(webgpu.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = webgpu.create(options.dawnOptions ?? []);
  return { gpu, nodeGpu: gpu };
}

export async function acquireDevice(options: InitOptions = {}): Promise<GpuContext> {
  if (options.device) return contextOf(options.device, (options.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo ?? null, null, true);
  const { gpu, nodeGpu } = await getGpu(options);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoDeviceError(
      nodeGpu
        ? 'init: no WebGPU adapter found. On Debian 12 run `bash scripts/ensure-env.sh` as root (installs Mesa lavapipe from bookworm-backports).'
        : 'init: the browser has WebGPU but offers no adapter (its GPU disabled or blocklisted: see chrome://gpu, or about:support in Firefox)',
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    label: 'dawnet',
    requiredLimits,
    requiredFeatures,
  });
  // One wait on the new device's queue before it is used. In dawn.node (npm webgpu), an instance
  // whose device was destroyed before any queue wait crashed the process when the instance was
  // garbage-collected ("futex facility returned an unexpected error code", SIGSEGV or
  // std::system_error): init() then shutdown() with nothing read in between, as a test or a CLI
  // run refused early does. The raw API showed it in 3 runs of 3, and none in 8 with this wait.
  if (nodeGpu) await device.queue.onSubmittedWorkDone();
  return contextOf(device, adapter.info ?? null, nodeGpu, false);
}

/** What the runtime keeps of a device, acquired (nodeGpu: Dawn's GPU object in Node) or given. */
function contextOf(device: GPUDevice, adapterInfo: GPUAdapterInfo | null, nodeGpu: GPU | null, borrowed: boolean): GpuContext {
  const info = adapterInfo ?? ({} as GPUAdapterInfo);
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  const limits: Record<string, number> = {};
  for (const key in device.limits) {
    const v = (device.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const ctx: GpuContext = {
    device,
    adapterInfo,
    borrowed,
    nodeGpu,
    lost: null,
    whenLost: device.lost.then((info) => {
      const lost = new DeviceLostError(
        `GPU device lost (${info.reason}): ${info.message}. The tensors, models and optimiser state on ` +
          'it are gone; files already saved are not: call `await dn.init()` for a new device, build the ' +
          'models and optimisers again (the old ones cannot be loaded into) and load the weights or the last checkpoint',
      );
      lossCauses.set(lost, `${info.reason}: ${info.message}`);
      return (ctx.lost = lost);
    }),
    report: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      backend: isNode ? 'dawn-node' : 'browser',
      features: [...device.features].sort(),
      limits,
    },
  };
  return ctx;
}

const lossCauses = new WeakMap<DeviceLostError, string>();

/**
 * The same loss told in the caller's words (fit says where it stopped and how to go on): a new
 * DeviceLostError whose deviceLossCause() is the original's, and the original as its `cause`.
 */
export function restatedLoss(e: DeviceLostError, message: (cause: string | null) => string): DeviceLostError {
  const cause = deviceLossCause(e);
  const restated = Object.assign(new DeviceLostError(message(cause)), { cause: e });
  if (cause !== null) lossCauses.set(restated, cause);
  return restated;
}

/** How long a failed wait on the GPU waits for device.lost before its error counts as its own. */
export const LOSS_GRACE_MS = 1000;

/**
 * What a failed wait on the GPU (mapAsync, onSubmittedWorkDone) throws: the device's
 * DeviceLostError if it is lost now or within LOSS_GRACE_MS, else `error` itself. A wait can fail
 * on a lost device (an AbortError from mapAsync) before device.lost resolves: deciding at once
 * would hand the raw WebGPU error to a caller who checks for DeviceLostError to re-init.
 * `wait` awaits the race (the runtime's patient wait, which lets Dawn tick).
 */
export async function lostOr(ctx: GpuContext, error: unknown, wait: <T>(p: Promise<T>) => Promise<T>): Promise<unknown> {
  if (ctx.lost) return ctx.lost;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), LOSS_GRACE_MS)));
  try {
    return (await wait(Promise.race([ctx.whenLost, timeout]))) ?? error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What the driver said of a lost device ('destroyed: device was destroyed'), for callers whose
 * advice differs from the library's (a training run says --resume, not dn.init()); null for an
 * error that did not come from a device's loss here.
 */
export function deviceLossCause(e: unknown): string | null {
  return e instanceof DeviceLostError ? (lossCauses.get(e) ?? null) : null;
}

export function adapterName(report: AdapterReport): string {
  const parts = [report.vendor, report.architecture, report.device, report.description].filter((s) => s);
  return parts.join(' ') || 'unknown adapter';
}
