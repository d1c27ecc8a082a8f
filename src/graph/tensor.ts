// Tensor: a shape over a float32 GPU buffer, plus what autograd needs (requiresGrad, grad and the
// node that produced it). Storage is reference-counted so reshape() views and tensors saved for
// backward keep a buffer alive after the user disposes the original; the buffer returns to the
// pool when the last reference goes. Nothing relies on garbage collection.

import { ArgumentError, DawnetError, DisposedError, NoDeviceError, ShapeError } from '../errors.js';
import { describeValue, expectKnownOptions, expectOptionalBoolean, expectOptions } from './args.js';
import { hostData } from './host-data.js';
import { isCurrentRuntime, runtime, type BufferSlice, type Runtime } from '../gpu/runtime.js';
import { backward, releaseNode, type TapeNode } from './autograd.js';
import { trackInScope } from './scope.js';

export type Shape = readonly number[];

// STORAGE | UNIFORM | COPY_SRC | COPY_DST (constants for the browser too). UNIFORM: a kernel may bind
// a small tensor as a uniform buffer (KernelSpec.uniformInputs).
export const TENSOR_USAGE = 0x80 | 0x40 | 0x4 | 0x8;

interface Storage {
  buffer: GPUBuffer;
  bytes: number;
  refs: number;
  /**
   * The runtime whose device holds the buffer. After dn.shutdown() (or a lost device) and a new
   * init(), the buffer belongs to a device that is gone: using it is refused, and disposing it
   * gives nothing back to the new runtime's pool.
   */
  owner: Runtime;
}

let nextId = 1;
/** The id the next tensor will get: ids only grow, so a tensor with a smaller one existed before. */
export function nextTensorId(): number {
  return nextId;
}

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

function checkShape(shape: Shape, what: string): void {
  shape.forEach((d: unknown, i) => {
    if (typeof d !== 'number') throw new ArgumentError(`${what}: shape[${i}] must be a number, got ${describeValue(d)}`);
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what}: invalid shape ${formatShape(shape)}: size ${i} is ${d}, sizes are whole numbers >= 0`);
  });
}

/** The options of dn.tensor, zeros and full; another key ({ requires_grad }) is refused, not ignored. */
const TENSOR_OPTIONS = ['requiresGrad', 'name'];

export interface TensorOptions {
  requiresGrad?: boolean;
  name?: string;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly size: number;
  requiresGrad: boolean;
  grad: Tensor | null = null;
  /** @internal The op that produced this tensor, when it was made with gradients enabled. */
  node: TapeNode | null = null;
  name: string | undefined;
  private storage: Storage | null;

  /** Internal: use dn.tensor(), dn.zeros() or an op. */
  constructor(storage: Storage, shape: Shape, options: TensorOptions = {}) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.requiresGrad = options.requiresGrad ?? false;
    this.name = options.name;
    trackInScope(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** A label for error messages: the tensor's name, or its id and shape. */
  describe(): string {
    return `${this.name ?? `tensor#${this.id}`} ${formatShape(this.shape)}`;
  }

  /** @internal The GPUBuffer holding the values (the pool rounds its size up); refused after dispose(). */
  get buffer(): GPUBuffer {
    if (!this.storage) throw new DisposedError(`${this.describe()} was used after dispose()`);
    if (this.storage.owner.ended) throw staleError(this);
    return this.storage.buffer;
  }

  /** @internal The loss of this tensor's device while its runtime is still the current one, else null. */
  ownerLost(): DawnetError | null {
    const owner = this.storage?.owner;
    return owner && owner.ctx.lost && isCurrentRuntime(owner) ? owner.ctx.lost : null;
  }

  /** @internal Made on a device that dn.shutdown() or a device loss has since ended (see Storage.owner). */
  get stale(): boolean {
    return this.storage !== null && this.storage.owner.ended;
  }

  /** @internal The binding a kernel sees: exactly this tensor's bytes (the pool rounds buffers up). */
  get slice(): BufferSlice {
    return { buffer: this.buffer, size: Math.max(4, this.size * 4) };
  }

  /**
   * @internal A binding over `bytes` of this tensor from byte `offsetBytes`: one chunk, for kernels that split
   * their work to stay under the binding limit. The offset must suit the device's alignment
   * (runtime().offsetAlignment); dispatch checks it.
   */
  sliceRange(offsetBytes: number, bytes: number): BufferSlice {
    const buffer = this.buffer;
    if (!Number.isInteger(offsetBytes) || !Number.isInteger(bytes) || offsetBytes < 0 || bytes < 4 || offsetBytes + bytes > this.size * 4) {
      throw new RangeError(`sliceRange: bytes ${offsetBytes}..${offsetBytes + bytes} are outside ${this.describe()} (${this.size * 4} bytes)`);
    }
    return { buffer, offset: offsetBytes, size: bytes };
  }

  async toArray(): Promise<Float32Array> {
    assertLive('toArray', this);
    const buffer = this.buffer;
    if (this.size === 0) return new Float32Array(0);
    return new Float32Array(await runtime('toArray').read(buffer, this.size * 4, this.describe()));
  }

  /**
   * Reads the values as nested arrays in the tensor's shape (a number for rank 0), as tfjs's
   * array() and PyTorch's tolist() give them: what dn.tensor(data) takes back.
   */
  async toNested(): Promise<NestedNumbers> {
    assertLive('toNested', this);
    return nest(await this.toArray(), this.shape);
  }

  /** Reads a one-element tensor. */
  async item(): Promise<number> {
    assertLive('item', this);
    if (this.size !== 1) throw new ShapeError(`item: ${this.describe()} has ${this.size} elements, expected 1`);
    return (await this.toArray())[0];
  }

  /**
   * @internal A new tensor over the same storage (no copy, no gradient link). The shape is checked whole:
   * sizes such as [-2, -2] multiply to the right count but describe no tensor.
   */
  share(shape: Shape = this.shape): Tensor {
    if (!this.storage) throw new DisposedError(`${this.describe()} was used after dispose()`);
    checkShape(shape, 'share');
    if (shapeSize(shape) !== this.size) {
      throw new ShapeError(`reshape: cannot view ${this.describe()} as ${formatShape(shape)}`);
    }
    this.storage.refs++;
    return new Tensor(this.storage, shape, { name: this.name });
  }

  /**
   * Backpropagates from this tensor (a scalar, or any shape with `dy`), accumulating `.grad` on
   * every leaf that requires it.
   */
  backward(dy?: Tensor | { retainGraph?: boolean }, options: { retainGraph?: boolean } = {}): void {
    // Checked here as well as dy is in autograd: a misspelt key would otherwise drop retainGraph.
    expectOptions('backward', options, '{ retainGraph: true }');
    expectKnownOptions('backward', options ?? {}, ['retainGraph']);
    backward(this, dy, options?.retainGraph ?? false);
  }

  /** Detaches and disposes the gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    if (--s.refs === 0) {
      if (!s.owner.ended) s.owner.pool.release(s.buffer);
      // A device given to init() outlives dawnet's use of it: its buffers are freed one by one.
      else if (s.owner.ctx.borrowed) s.buffer.destroy();
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    if (this.node) releaseNode(this.node);
  }

  toString(): string {
    return `Tensor(${this.describe()}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/**
 * Throws DisposedError if any input was disposed. Ops call it before allocating outputs, so a
 * failed call leaves nothing allocated.
 */
export function assertLive(op: string, ...tensors: (Tensor | null | undefined)[]): void {
  for (const t of tensors) {
    if (t && t.disposed) throw new DisposedError(`${op}: input ${t.describe()} was used after dispose()`);
    if (t?.stale) throw staleError(t, op, 'input');
  }
}

/** The error for a tensor made under a device that has ended; `role` names it within `op`'s arguments. */
export function staleError(t: Tensor, op?: string, role = 'input'): DawnetError {
  // A device lost under the current runtime: what every other call now throws, until init().
  const lost = t.ownerLost();
  if (lost) return lost;
  return new NoDeviceError(
    `${op ? `${op}: ${role} ` : ''}${t.describe()} was made on a device that has since ended (dn.shutdown() or a lost device); ` +
      'tensors do not carry over to the next init(): make them again (a model: build it and load its weights again)',
  );
}

/**
 * Reads several tensors back with one GPU round trip (Runtime.readMany). The tensors are checked
 * first, so a disposed or stale one is named rather than a missing device.
 */
export async function readTensors(tensors: Tensor[]): Promise<Float32Array[]> {
  const sources = tensors.map((t) => ({ buffer: t.buffer, bytes: t.size * 4, label: t.describe() }));
  const buffers = await runtime('readTensors').readMany(sources);
  return buffers.map((b) => new Float32Array(b));
}

/**
 * An uninitialised tensor: every kernel output starts here. `label` names its buffer; `op`, the
 * call an error names (without a device, before init()): the label, an op's output such as
 * 'concat.out', unless said.
 */
export function emptyTensor(shape: Shape, label = 'tensor', op = label): Tensor {
  checkShape(shape, label);
  const bytes = Math.max(4, shapeSize(shape) * 4);
  const owner = runtime(op);
  const buffer = owner.pool.acquire(bytes, TENSOR_USAGE, label);
  return new Tensor({ buffer, bytes, refs: 1, owner }, shape);
}

/** A new tensor of the public constructors: its buffer (labelled by its name, else `op`) and its options set. */
function created(shape: Shape, options: TensorOptions, op: string): Tensor {
  const t = emptyTensor(shape, options.name ?? op, op);
  t.requiresGrad = options.requiresGrad ?? false;
  t.name = options.name;
  return t;
}

/** Nested arrays of numbers: [[1, 2], [3, 4]] is a [2, 2] tensor. */
export type NestedNumbers = number | readonly NestedNumbers[];

/**
 * dn.tensor(data, shape?, {requiresGrad, name}): uploads host data, a typed array, a flat array
 * or nested arrays (see host-data.ts). Without a shape, the nesting gives it ([length] if flat).
 */
export function tensor(data: ArrayLike<number> | readonly NestedNumbers[], shape?: Shape, options: TensorOptions = {}): Tensor {
  const { values, shape: nested } = hostData('tensor', data);
  if (shape !== undefined) checkShapeArg('tensor', shape);
  checkTensorOptions('tensor', options);
  const s = shape ?? nested;
  if (shapeSize(s) !== values.length) {
    throw new ShapeError(`tensor: ${values.length} values do not fill shape ${formatShape(s)}`);
  }
  const t = created(s, options, 'tensor');
  if (values.length) runtime().write(t.buffer, values);
  return t;
}

/** Flat values in row-major order to nested arrays of `shape` (a number for rank 0). */
export function nest(values: ArrayLike<number>, shape: Shape): NestedNumbers {
  if (shape.length === 0) return values[0];
  const build = (axis: number, offset: number): NestedNumbers[] => {
    const inner = shapeSize(shape.slice(axis + 1));
    return Array.from({ length: shape[axis] }, (_, i) => (axis === shape.length - 1 ? values[offset + i] : build(axis + 1, offset + i * inner)));
  };
  return build(0, 0);
}

/** A shape argument: an array (not dn.zeros(3) for dn.zeros([3])) of whole sizes >= 0. */
export function checkShapeArg(op: string, shape: unknown): asserts shape is Shape {
  if (!Array.isArray(shape)) throw new ArgumentError(`${op}: shape must be an array of sizes, got ${describeValue(shape)}`);
  checkShape(shape, op);
}

/**
 * The options of tensor, zeros and full, by key and by type: { requiresGrad: 'false' } would
 * otherwise be truthy and record gradients, and a name that is not a string would label buffers
 * and errors with whatever it is.
 */
export function checkTensorOptions(op: string, options: unknown): asserts options is TensorOptions {
  expectOptions(op, options, "{ requiresGrad: true, name: 'w' }");
  expectKnownOptions(op, options as object, TENSOR_OPTIONS, {});
  const { requiresGrad, name } = options as Record<string, unknown>;
  expectOptionalBoolean(op, 'requiresGrad', requiresGrad);
  if (name !== undefined && typeof name !== 'string') throw new ArgumentError(`${op}: name must be a string, got ${describeValue(name)}`);
}

/**
 * dn.zeros(shape): cleared on the GPU (pool buffers are reused, so never zero by themselves), with
 * no host array: an Adam moment or a gradient accumulator of VGG16's size costs no upload, and a
 * shape past the device's buffer limit is the pool's LimitError, not the host's allocation failure.
 */
export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  checkShapeArg('zeros', shape);
  checkTensorOptions('zeros', options);
  const t = created(shape, options, 'zeros');
  runtime().clear(t.buffer, 0, Math.max(4, t.size * 4));
  return t;
}

/** dn.full(shape, value): zeros for 0; another value is uploaded, the device's buffer checked first. */
export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  checkShapeArg('full', shape);
  if (typeof value !== 'number') throw new ArgumentError(`full: value must be a number, got ${describeValue(value)}`);
  checkTensorOptions('full', options);
  if (value === 0 && !Object.is(value, -0)) return zeros(shape, options);
  const t = created(shape, options, 'full');
  if (t.size) runtime().write(t.buffer, new Float32Array(t.size).fill(value));
  return t;
}
