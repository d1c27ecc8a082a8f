// CPU adapters (Mesa's lavapipe, SwiftShader, WARP) run a dispatch on a few threads; a GPU needs
// thousands of workgroups in flight. Kernels that choose how widely to spread work (the conv
// family, reductions' row chunks) ask which one they run on.

import type { AdapterReport } from './device.js';

/** The adapter runs on the CPU: by its reported architecture or its name. */
export function isCpuAdapterReport(report: AdapterReport): boolean {
  if (report.architecture === 'software') return true;
  const text = [report.vendor, report.architecture, report.device, report.description].join(' ');
  return /llvmpipe|lavapipe|swiftshader|software|warp|\bcpu\b/i.test(text);
}
