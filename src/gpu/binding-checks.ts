// A dispatch's bindings, checked in TypeScript before encoding so that an oversized or misaligned
// binding is an error naming the kernel, not a validation error surfacing at submit.

import { LimitError } from '../errors.js';
import type { BufferSlice, KernelSpec, Runtime } from './runtime.js';

/**
 * The limits a binding is checked against: the runtime itself is passed (its storage limits may
 * be lowered by setBindingLimit), so a dispatch builds nothing to check them.
 */
export type BindingLimits = Pick<Runtime, 'bindingLimit' | 'offsetAlignment' | 'limits'>;

/** Sizes and offsets of `storage` (inputs, then outputs) against the limits of their binding type. */
export function checkBindings(spec: KernelSpec, storage: BufferSlice[], limits: BindingLimits): void {
  const name = spec.name;
  storage.forEach((b, i) => {
    const uniform = spec.uniformInputs?.includes(i) ?? false;
    const limit = uniform ? limits.limits.maxUniformBufferBindingSize : limits.bindingLimit;
    const align = uniform ? limits.limits.minUniformBufferOffsetAlignment : limits.offsetAlignment;
    const kind = uniform ? 'uniform' : 'storage';
    const offset = b.offset ?? 0;
    if (b.size > limit) {
      throw new LimitError(`${name}: binding ${i} of ${b.size} bytes exceeds the ${kind} binding limit of ${limit} bytes (${uniform ? 'maxUniformBufferBindingSize' : 'maxStorageBufferBindingSize'})`);
    }
    if (offset % align !== 0) {
      throw new LimitError(`${name}: binding ${i} starts at byte ${offset}, not a multiple of ${uniform ? 'minUniformBufferOffsetAlignment' : 'minStorageBufferOffsetAlignment'} (${align})`);
    }
    if (offset !== 0 && (offset < 0 || offset + Math.ceil(b.size / 4) * 4 > b.buffer.size)) {
      throw new RangeError(`${name}: binding ${i} (bytes ${offset}..${offset + b.size}) lies outside its buffer of ${b.buffer.size} bytes`);
    }
  });
}
