// Tensors to and from WebGPU code of one's own, on dawnet's device: tfjs's dataToGPU and its
// tensor-from-GPU-data, for a renderer that draws a prediction without a trip through the host,
// or a pipeline of one's own whose output dawnet trains on.
//
// Both directions copy, and submit the copy at once, so each is a snapshot taken in queue order:
// - toGPUBuffer: the copy follows every dawnet op encoded before it, and a submission of the
//   user's made afterwards sees it complete. The buffer is the caller's (destroy() it when done):
//   not in dawnet's pool, untouched by dispose() of the tensor or by dawnet's reuse of its memory.
// - fromGPUBuffer: the copy follows every submission of the user's made before the call, and
//   what they write to the buffer afterwards does not reach the tensor.
// A tensor's own buffer is never handed out: the pool recycles it after dispose(), and dawnet
// encodes its work lazily (runtime.ts), so a buffer read or written outside that order would race.
// The buffers must be made on dn.gpuDevice(): WebGPU offers no way to ask a buffer for its device,
// so a buffer of another device is refused by WebGPU itself, as a KernelError at the next sync.

import { ArgumentError, ShapeError } from '../errors.js';
import { runtime } from '../gpu/runtime.js';
import { describeValue, expectNumber, expectTensor } from './args.js';
import { assertLive, checkShapeArg, checkTensorOptions, emptyTensor, formatShape, shapeSize, type Shape, type Tensor, type TensorOptions } from './tensor.js';

// GPUBufferUsage's values (spelled out: Node has no GPUBufferUsage global before init).
const MAP_READ = 0x1;
const MAP_WRITE = 0x2;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const STORAGE = 0x80;

/** The device dawnet runs on, for buffers and pipelines of one's own beside its tensors. */
export function gpuDevice(): GPUDevice {
  return runtime('gpuDevice').device;
}

export interface GPUBufferCopy {
  /** The caller's buffer: STORAGE | COPY_SRC | COPY_DST and any `usage` asked for; destroy() it when done. */
  buffer: GPUBuffer;
  /** The bytes of the tensor's float32 values, row-major: size × 4 (the buffer holds at least 4). */
  bytes: number;
}

/** A copy of the tensor's values in a new GPUBuffer of the caller's; `usage` adds flags (VERTEX, UNIFORM). */
export function toGPUBuffer(t: Tensor, options: { usage?: number } = {}): GPUBufferCopy {
  const op = 'toGPUBuffer';
  expectTensor(op, 'tensor', t);
  assertLive(op, t);
  const { usage = 0 } = options ?? {};
  expectNumber(op, 'usage', usage, { integer: true, min: 0 });
  if (usage & (MAP_READ | MAP_WRITE)) {
    throw new ArgumentError(`${op}: usage ${usage} asks for MAP_READ or MAP_WRITE, which WebGPU allows only beside COPY_DST or COPY_SRC, not STORAGE: copy the buffer into a mappable one of your own to read it`);
  }
  const r = runtime(op);
  const bytes = t.size * 4;
  const buffer = r.device.createBuffer({ size: Math.max(4, bytes), usage: STORAGE | COPY_SRC | COPY_DST | usage, label: `${op}(${t.describe()})` });
  if (bytes > 0) r.copy(t.buffer, 0, buffer, 0, bytes);
  r.submit();
  return { buffer, bytes };
}

export interface FromGPUBufferOptions extends TensorOptions {
  /** Where the values start in the buffer, in bytes (a multiple of 4); default 0. */
  offset?: number;
}

/** A new tensor of `shape` holding a copy of float32 values from a GPUBuffer of the caller's (COPY_SRC). */
export function fromGPUBuffer(buffer: GPUBuffer, shape: Shape, options: FromGPUBufferOptions = {}): Tensor {
  const op = 'fromGPUBuffer';
  const b = buffer as Partial<GPUBuffer> | null;
  if (typeof b !== 'object' || b === null || typeof b.size !== 'number' || typeof b.usage !== 'number' || typeof b.destroy !== 'function') {
    throw new ArgumentError(`${op}: buffer must be a GPUBuffer made on dn.gpuDevice(), got ${describeValue(buffer)}`);
  }
  checkShapeArg(op, shape);
  const { offset = 0, ...tensorOptions } = options ?? {};
  checkTensorOptions(op, tensorOptions);
  expectNumber(op, 'offset', offset, { integer: true, min: 0 });
  if (offset % 4 !== 0) throw new ArgumentError(`${op}: offset ${offset} must be a multiple of 4 (WebGPU copies whole 4-byte words)`);
  if (!(buffer.usage & COPY_SRC)) {
    throw new ArgumentError(`${op}: the buffer's usage (${buffer.usage}) lacks GPUBufferUsage.COPY_SRC, which copying it into a tensor needs`);
  }
  if (buffer.mapState !== undefined && buffer.mapState !== 'unmapped') {
    throw new ArgumentError(`${op}: the buffer is ${buffer.mapState}: unmap() it first (a mapped buffer cannot be copied)`);
  }
  const bytes = shapeSize(shape) * 4;
  if (offset + bytes > buffer.size) {
    throw new ShapeError(`${op}: ${formatShape(shape)} needs ${bytes} bytes from offset ${offset}, and the buffer holds ${buffer.size}`);
  }
  const t = emptyTensor(shape, tensorOptions.name ?? op, op);
  t.requiresGrad = tensorOptions.requiresGrad ?? false;
  t.name = tensorOptions.name;
  const r = runtime(op);
  if (bytes > 0) r.copy(buffer, offset, t.buffer, 0, bytes);
  r.submit();
  return t;
}
