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

/** The adapter is SwiftShader (Chromium's CPU adapter). */
export const isSwiftShaderReport = perReport((report) => /swiftshader/i.test(adapterName(report)));

/**
 * Whether Dawn's zeroing of workgroup memory (WGSL gives every workgroup its memory zeroed, at
 * every workgroup's start) is slow enough on this adapter that kernels with a way that does
 * without workgroup memory should take it: the histogram's direct counts, batch norm's lane
 * partials, the short column sums. So far SwiftShader: for a workgroup of 256 threads 0.055 ms
 * with a 1 KiB array and 1.3 ms with 16 KiB, gone with Dawn's disable_workgroup_init toggle;
 * lavapipe shows none of it (bench/README, "Workgroup memory on SwiftShader").
 */
export const zeroesWorkgroupMemorySlowly = (report: AdapterReport): boolean => isSwiftShaderReport(report);
