// CPU adapters (Mesa's lavapipe, SwiftShader, WARP) run a dispatch on a few threads; a GPU needs
// thousands of workgroups in flight. Kernels that choose how widely to spread work (the conv
// family, reductions' row chunks) ask which one they run on.

import type { AdapterReport } from './device.js';

/** A name (vendor, architecture, device, description) that says the adapter runs on the CPU. */
export const isCpuAdapterName = (name: string): boolean => /llvmpipe|lavapipe|swiftshader|software|warp|\bcpu\b/i.test(name);

/** The adapter runs on the CPU: by its reported architecture or its name. */
export function isCpuAdapterReport(report: AdapterReport): boolean {
  return report.architecture === 'software' || isCpuAdapterName([report.vendor, report.architecture, report.device, report.description].join(' '));
}
