// Brings WebGPU up for the page and says plainly, in a visible banner, when it cannot: no
// navigator.gpu (browser without WebGPU, or not a secure context), no adapter (GPU blocklisted or
// disabled), or a device request that failed.

import * as dn from '../src/index.js';
import { byId, pageState, setStage, showMessage } from './page-state.js';

export async function startGpu(): Promise<boolean> {
  const status = byId('gpu-status');
  const banner = byId('no-webgpu');
  const problem = await findProblem();
  if (problem) {
    pageState.gpuProblem = problem;
    showMessage(banner, problem);
    status.textContent = 'WebGPU unavailable: the Segment and Train panels are disabled.';
    setStage('gpu', 'missing');
    return false;
  }
  try {
    await dn.init();
  } catch (e) {
    const message = `WebGPU could not start: ${(e as Error).message}`;
    pageState.gpuProblem = message;
    showMessage(banner, message);
    status.textContent = 'WebGPU unavailable: the Segment and Train panels are disabled.';
    setStage('gpu', 'missing');
    return false;
  }
  const info = dn.info();
  const name = info.name === 'unknown adapter' ? 'WebGPU adapter (the browser does not name it)' : info.name;
  pageState.adapter = name;
  status.textContent = `Running on ${name}.`;
  setStage('gpu', 'ready');
  return true;
}

async function findProblem(): Promise<string | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    const why = window.isSecureContext
      ? 'this browser has no WebGPU (navigator.gpu is missing)'
      : 'the page is not in a secure context (open it over https or from localhost)';
    return `No WebGPU: ${why}. dawnet runs its U-Net on WebGPU only; try a recent Chrome, Edge or Safari with WebGPU enabled.`;
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return 'No WebGPU adapter: the browser has WebGPU but found no GPU it may use (it may be disabled or blocklisted).';
  return null;
}
