// The 3-D U-Net's tfjs peer (bench/cases/unet3d-tfjs.ts): the bench's case shrunk (features 4,
// depth 2, batch 2 of 8³), run through the e2e check on both engines. The real step passes, and
// the check still catches a dawnet step that does nothing. With its bias adds at rank 5 instead of
// on the 4-D view, tfjs's step fails this check (update error 9 here, 5e2 at the bench's size:
// bench/repro/tfjs-webgpu-rank5.mjs says why).

import { describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import type { DawnetSide, E2eCase, E2eEnv } from '../../bench/e2e.js';
import { runE2eCase } from '../../bench/e2e.js';
import { unet3dTrainCases } from '../../bench/cases/unet3d-train.js';
import { useGpu } from '../helpers/gpu.js';
import { useTfjsPeer } from '../helpers/tfjs-peer.js';

useGpu();

const peer = useTfjsPeer();

function env(): E2eEnv {
  return { timing: { warmup: 0, reps: 1, minSampleMs: 0, maxInner: 1 }, peak: null, tfjs: peer(), check: true, memory: false, clocks: { dawnet: 'wall', tfjs: 'wall' } };
}

describe('the 3-D U-Net step against tfjs', () => {
  const [c] = unet3dTrainCases(128, { features: 4, depth: 2 });

  it('8³ at features 4, depth 2: the real step passes the check, one that does nothing fails it', async () => {
    expect(c.shape).toBe('2x8x8x8x3 f4 d2');
    const real = await runE2eCase(c, env(), () => runtime().sync());
    expect(real.check, 'compared').not.toBeNull();
    expect(real.check!.ok, `${real.check!.output}: ${real.check!.maxRelErr}`).toBe(true);
    const noOp: E2eCase = { ...c, dawnet: () => ({ ...c.dawnet(), step: () => {} }) as DawnetSide };
    const none = await runE2eCase(noOp, env(), () => runtime().sync());
    expect(none.check!.ok).toBe(false);
  }, 120_000);
});
