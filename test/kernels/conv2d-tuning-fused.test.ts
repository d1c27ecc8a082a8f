// tuneConvs and the fused Winograd kernel (src/kernels/conv2d-tuning.ts, conv2d-winograd-fused.ts):
// its channel groups and tiles as candidates, each timed as it says, and a tuned choice is what the
// kernel then takes for that conv, computing the same conv. The rest of tuning: conv2d-tuning.test.ts.

import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { conv2dGeometry, forwardGemm } from '../../src/kernels/conv2d.js';
import { defaultConvFamily } from '../../src/kernels/conv2d-launch.js';
import { fusedCandidates } from '../../src/kernels/conv2d-tuning.js';
import { currentFusedLayout, fusedGroups, fusedTile, setFusedGroups, setFusedTile } from '../../src/kernels/conv2d-winograd-fused.js';
import { DEFAULT_FUSED_TILE, parseFusedTile } from '../../src/kernels/conv2d-winograd-fused-layout.js';
import { conv2dForwardRef } from '../../src/reference/conv.js';
import { nd } from '../../src/reference/array.js';
import { expectClose, winogradTolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

afterEach(() => {
  dn.clearConvTuning();
});

describe('the fused kernel\'s channel groups and tiles', () => {
  const atTiles = (groups?: number) => ['16b4x8', '16b4x8s', '32b8x8', '16b8x16s'].map((t) => ({ algorithm: 'winograd-fused', ...(groups ? { groups } : {}), ...(t === '16b4x8' ? {} : { fusedTile: t }) }));
  it('are candidates where they give another workgroup, each at every tuning tile, unless setFusedGroups or setFusedTile forces them', () => {
    expect(fusedCandidates(32)).toEqual([...atTiles(), ...atTiles(4)]);
    expect(fusedCandidates(16), '4 vec4s: 8 groups and 4 are one workgroup').toEqual(atTiles());
    setFusedGroups(2);
    try {
      expect(fusedCandidates(32)).toEqual(atTiles());
    } finally {
      setFusedGroups(null);
    }
    setFusedTile({ ...DEFAULT_FUSED_TILE, splitStaging: true });
    try {
      expect(fusedCandidates(32)).toEqual([{ algorithm: 'winograd-fused' }, { algorithm: 'winograd-fused', groups: 4 }]);
    } finally {
      setFusedTile(null);
    }
  });

  it('are each timed at their own number', async () => {
    const [X, W] = [[1, 9, 10, 8], [3, 3, 8, 32]];
    const g = conv2dGeometry(X, W, { padding: 'same' });
    const [x, w] = [fromNd(uniform(9 * 10 * 8, 13), X), fromNd(uniform(9 * 8 * 32, 14), W)];
    try {
      const [t] = await dn.tuneConvs(() => forwardGemm(g, x, w, null, defaultConvFamily()).dispose(), { reps: 1, algorithms: ['direct', 'winograd-fused'] });
      const timed = t.timed!.filter((c) => c.algorithm === 'winograd-fused');
      expect(timed.map(({ groups, fusedTile }) => ({ algorithm: 'winograd-fused', ...(groups ? { groups } : {}), ...(fusedTile ? { fusedTile } : {}) }))).toEqual([...atTiles(), ...atTiles(4)]);
      const fused = runtime().compiledKernels().filter((k) => k.startsWith('conv2d.winogradFused|'));
      // The kernel's key names its channel subtiles a workgroup (4 of 8 channels at 8 groups, 2 at
      // 4) and its staging: each candidate ran as it says.
      for (const groups of [8, 4]) {
        for (const tile of ['16b4x8', '16b4x8s', '32b8x8', '16b8x16s']) {
          const { nb4, sn, splitStaging } = currentFusedLayout(8, groups, 9, parseFusedTile(tile));
          expect(fused.some((k) => k.includes(`nb${nb4}sn${sn}ck`) && k.includes('split') === splitStaging), `${groups} groups, ${tile} in ${fused}`).toBe(true);
        }
      }
    } finally {
      x.dispose();
      w.dispose();
    }
  });

  it('a tuned number is what the fused kernel takes for that conv, and it computes the same conv', async () => {
    const [X, W] = [[1, 9, 10, 8], [3, 3, 8, 32]];
    const g = conv2dGeometry(X, W, { padding: 'same' });
    const family = defaultConvFamily();
    expect(fusedGroups('forward', g, family)).toBe(8);
    dn.applyConvTuning({ format: 'dawnet-conv-tuning', version: 1, adapter: dn.info().name, convs: [{ direction: 'forward', geometry: g, family, algorithm: 'winograd-fused', groups: 4, ms: {}, clock: 'gpu' }] });
    expect(fusedGroups('forward', g, family)).toBe(4);
    expect(fusedGroups('backwardInput', g, family), 'another direction').toBe(8);
    setFusedGroups(2);
    expect(fusedGroups('forward', g, family), 'setFusedGroups wins').toBe(2);
    setFusedGroups(null);
    const xd = uniform(9 * 10 * 8, 11);
    const wd = uniform(9 * 8 * 32, 12);
    const [x, w] = [fromNd(xd, X), fromNd(wd, W)];
    const y = forwardGemm(g, x, w, null, family);
    try {
      expectClose('conv2d forward by fused Winograd at 4 channel groups', await y.toArray(), conv2dForwardRef(nd(xd, X), nd(wd, W), null, { padding: 'same' }).data, winogradTolerance(8 * 9));
    } finally {
      for (const t of [x, w, y]) t.dispose();
    }
  });

  it('a tuned tile is what the fused kernel takes for that conv (setFusedTile wins), and it computes the same conv', async () => {
    const [X, W] = [[1, 9, 10, 8], [3, 3, 8, 32]];
    const g = conv2dGeometry(X, W, { padding: 'same' });
    const family = defaultConvFamily();
    expect(fusedTile('forward', g, family)).toEqual(DEFAULT_FUSED_TILE);
    dn.applyConvTuning({ format: 'dawnet-conv-tuning', version: 1, adapter: dn.info().name, convs: [{ direction: 'forward', geometry: g, family, algorithm: 'winograd-fused', fusedTile: '32b8x8us', ms: {}, clock: 'gpu' }] });
    expect(fusedTile('forward', g, family)).toEqual({ blocks: 32, threadBlocks: 8, threadChannels: 8, sharedU: true, splitStaging: true });
    expect(fusedTile('backwardInput', g, family), 'another direction').toEqual(DEFAULT_FUSED_TILE);
    setFusedTile(DEFAULT_FUSED_TILE);
    expect(fusedTile('forward', g, family), 'setFusedTile wins').toEqual(DEFAULT_FUSED_TILE);
    setFusedTile(null);
    const xd = uniform(9 * 10 * 8, 15);
    const wd = uniform(9 * 8 * 32, 16);
    const [x, w] = [fromNd(xd, X), fromNd(wd, W)];
    const y = forwardGemm(g, x, w, null, family);
    try {
      expect(runtime().compiledKernels().some((k) => k.startsWith('conv2d.winogradFused|') && k.includes('susplit')), 'U staged, split').toBe(true);
      expectClose('conv2d forward by fused Winograd at a tuned tile', await y.toArray(), conv2dForwardRef(nd(xd, X), nd(wd, W), null, { padding: 'same' }).data, winogradTolerance(8 * 9));
    } finally {
      for (const t of [x, w, y]) t.dispose();
    }
  });
});
