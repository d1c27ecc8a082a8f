// The page's entry point: bring WebGPU up (or say plainly why not), then wire the two panels.
// Built by scripts/build-web.mjs into dist/web/app.js; served by `dawnet serve`.

import { startGpu } from './gpu-status.js';
import { pageState, setStage } from './page-state.js';
import { setupSegmentPanel } from './segment.js';
import { setupTrainPanel } from './train.js';

window.__dawnet = pageState;

async function main(): Promise<void> {
  const ok = await startGpu();
  setupSegmentPanel(ok);
  setupTrainPanel(ok);
  setStage('page', 'ready');
}

main().catch((e: Error) => {
  const banner = document.getElementById('no-webgpu');
  if (banner) {
    banner.textContent = `The page failed to start: ${e.message}`;
    banner.hidden = false;
  }
  setStage('page', 'failed');
});
