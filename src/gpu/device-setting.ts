// A value kept per GPU device: the knobs a benchmark or a test forces on the device it runs
// (a kernel's pixels a thread, a slice depth), each restored to its default by setting null. Keyed
// weakly, so a device that is dropped takes its settings with it.

import { runtime } from './runtime.js';

export interface DeviceSetting<T> {
  /** The value set on the current device, or undefined where none is. */
  get(): T | undefined;
  /** Sets it on the current device; null removes it. */
  set(value: T | null): void;
}

export function deviceSetting<T>(): DeviceSetting<T> {
  const values = new WeakMap<GPUDevice, T>();
  return {
    get: () => values.get(runtime().device),
    set: (value) => {
      const device = runtime().device;
      if (value === null) values.delete(device);
      else values.set(device, value);
    },
  };
}
