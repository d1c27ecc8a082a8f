// The end-to-end cases' check and sample order (bench/e2e.ts): the check runs the timed step
// itself, so a dawnet step that does nothing fails it while the real step passes (a small U-Net,
// and VGG16's forward); the two sides' samples are interleaved, warm-ups first, with the order
// swapped every other round, as the kernel cases' are. Not a speed test.

import { describe, expect, it } from 'vitest';
import { runtime } from '../../src/gpu/runtime.js';
import type { DawnetSide, E2eCase, E2eEnv, E2eSide } from '../../bench/e2e.js';
import { runE2eCase } from '../../bench/e2e.js';
import { unetTrainCases } from '../../bench/cases/unet-train.js';
import { vggForwardCases } from '../../bench/cases/vgg-forward.js';
import type { TfjsPeer } from '../../bench/peer-tfjs.js';
import { GraphBuilder } from '../../bench/memory.js';
import { useGpu } from '../helpers/gpu.js';
import { useTfjsPeer } from '../helpers/tfjs-peer.js';

useGpu();

const peer = useTfjsPeer();

const ONE_SAMPLE = { warmup: 0, reps: 1, minSampleMs: 0, maxInner: 1 };

function env(over: Partial<E2eEnv> = {}): E2eEnv {
  return { timing: ONE_SAMPLE, peak: null, tfjs: peer(), check: true, memory: false, clocks: { dawnet: 'wall', tfjs: 'wall' }, ...over };
}

/** The case with dawnet's step replaced by one that does nothing. */
function noOpDawnet(c: E2eCase): E2eCase {
  return {
    ...c,
    dawnet: () => {
      const s = c.dawnet();
      return { ...s, step: () => {} } as DawnetSide;
    },
  };
}

describe('end-to-end check', () => {
  // Features 8, depth 2 at 32x32, batch 1: the bench's network shrunk, the same code on both sides.
  const [unet] = unetTrainCases(32, { features: 8, depth: 2 }).filter((c) => c.batch === 1);

  it('a U-Net training step: the real step passes, one that does nothing fails', async () => {
    const real = await runE2eCase(unet, env(), () => runtime().sync());
    expect(real.check, 'compared').not.toBeNull();
    expect(real.check!.ok, `${real.check!.output}: ${real.check!.maxRelErr}`).toBe(true);
    const none = await runE2eCase(noOpDawnet(unet), env(), () => runtime().sync());
    expect(none.check!.ok).toBe(false);
    expect(none.check!.maxRelErr).toBeGreaterThan(unet.tolerance);
  });

  it('a U-Net step that runs two updates per step fails', async () => {
    const twice: E2eCase = {
      ...unet,
      dawnet: () => {
        const s = unet.dawnet();
        return { ...s, step: () => (s.step(), s.step()) } as DawnetSide;
      },
    };
    const row = await runE2eCase(twice, env(), () => runtime().sync());
    expect(row.check!.ok).toBe(false);
  });

  it("VGG16's forward: the real step passes, one that does nothing fails", async () => {
    const [vgg] = vggForwardCases(32).filter((c) => c.batch === 1);
    const real = await runE2eCase(vgg, env(), () => runtime().sync());
    expect(real.check!.ok, `${real.check!.output}: ${real.check!.maxRelErr}`).toBe(true);
    const none = await runE2eCase(noOpDawnet(vgg), env(), () => runtime().sync());
    expect(none.check!.ok).toBe(false);
  });
});

describe('end-to-end sample order', () => {
  it('warm-ups first, then one sample of each side per round, the order swapped every other round', async () => {
    let seq = '';
    const fakeSide = (mark: string): E2eSide => ({
      step: () => {
        seq += mark;
      },
      last: async () => Float32Array.of(1),
      dispose: () => {},
    });
    const fake: E2eCase = {
      id: 'fake/b1',
      group: 'e2e',
      shape: '1',
      batch: 1,
      mode: 'inference',
      graph: new GraphBuilder('fake', [['x', [1, 1, 1, 1]]]).graph,
      dawnet: () => ({ ...fakeSide('D'), weights: async () => new Map() }),
      tfjs: async () => fakeSide('T'),
      checkSteps: 2,
      tolerance: 0,
    };
    const fakePeer = { sync: async () => {}, gpuClock: null } as unknown as TfjsPeer;
    const row = await runE2eCase(fake, env({ timing: { warmup: 2, reps: 4, minSampleMs: 0, maxInner: 1 }, tfjs: fakePeer }), async () => {});
    expect(row.check!.ok).toBe(true);
    // The check's 2 steps, the warm-ups (2 each), then 4 rounds: DT, TD, DT, TD. After them only
    // dawnet's own extra steps (its per-kernel profile) may follow.
    expect(seq.slice(0, 4 + 4 + 8)).toBe('DTDT' + 'DDTT' + 'DTTDDTTD');
    expect(seq.slice(16)).toMatch(/^D*$/);
    expect(row.dawnet && 'timing' in row.dawnet && row.dawnet.timing.samplesMs).toHaveLength(4);
    expect(row.tfjs && 'timing' in row.tfjs && row.tfjs.timing.samplesMs).toHaveLength(4);
  });
});
