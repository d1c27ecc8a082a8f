// CPU adapters (Mesa's lavapipe, SwiftShader, WARP) run a dispatch on a few threads; a GPU needs
// thousands of workgroups in flight. Kernels that choose how widely to spread work (the conv
// family, reductions' row chunks) ask which one they run on.

import type { AdapterReport } from './device.js';

/** A name (vendor, architecture, device, description) that says the adapter runs on the CPU. */
export const isCpuAdapterName = (name: string): boolean => /llvmpipe|lavapipe|swiftshader|software|warp|\bcpu\b/i.test(name);

/** Everything an adapter report names it by: vendor, architecture, device and description. */
const adapterName = (report: AdapterReport): string => [report.vendor, report.architecture, report.device, report.description].join(' ');

/** A test of an adapter report, remembered per report: kernels ask on every call. */
function perReport(test: (report: AdapterReport) => boolean): (report: AdapterReport) => boolean {
  const known = new WeakMap<AdapterReport, boolean>();
  return (report) => {
    let answer = known.get(report);
    if (answer === undefined) {
      answer = test(report);
      known.set(report, answer);
    }
    return answer;
  };
}

/** The adapter runs on the CPU: by its reported architecture or its name. */
export const isCpuAdapterReport = perReport((report) => report.architecture === 'software' || isCpuAdapterName(adapterName(report)));

/**
 * The adapter is SwiftShader (Chromium's CPU adapter), where Dawn zeroes a workgroup's memory at
 * every workgroup's start at a cost that grows with the array (1.3 ms a workgroup for 16 KiB):
 * kernels that can do without workgroup memory (the histogram's counts) ask.
 */
export const isSwiftShaderReport = perReport((report) => /swiftshader/i.test(adapterName(report)));
