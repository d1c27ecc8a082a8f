// CPU adapters (Mesa's lavapipe, SwiftShader, WARP) run a dispatch on a few threads; a GPU needs
// thousands of workgroups in flight. Kernels that choose how widely to spread work (the conv
// family, reductions' row chunks) ask which one they run on.

import type { AdapterReport } from './device.js';

/** A name (vendor, architecture, device, description) that says the adapter runs on the CPU. */
export const isCpuAdapterName = (name: string): boolean => /llvmpipe|lavapipe|swiftshader|software|warp|\bcpu\b/i.test(name);

const known = new WeakMap<AdapterReport, boolean>();

/**
 * The adapter runs on the CPU: by its reported architecture or its name. Remembered per report:
 * reductions and convs ask on every call.
 */
export function isCpuAdapterReport(report: AdapterReport): boolean {
  let cpu = known.get(report);
  if (cpu === undefined) {
    cpu = report.architecture === 'software' || isCpuAdapterName([report.vendor, report.architecture, report.device, report.description].join(' '));
    known.set(report, cpu);
  }
  return cpu;
}

/**
 * The adapter is SwiftShader (Chromium's CPU adapter), where Dawn zeroes a workgroup's memory at
 * every workgroup's start at a cost that grows with the array (1.3 ms a workgroup for 16 KiB):
 * kernels that can do without workgroup memory (the histogram's counts) ask.
 */
export function isSwiftShaderReport(report: AdapterReport): boolean {
  return /swiftshader/i.test([report.vendor, report.architecture, report.device, report.description].join(' '));
}
