import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { FormatError, LimitError } from '../../src/errors.js';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { runtime } from '../../src/gpu/runtime.js';
import { backwardWeightGemm, conv2dGeometry, forwardGemm, type ConvGeometry } from '../../src/kernels/conv2d.js';
import { defaultConvFamily } from '../../src/kernels/conv2d-launch.js';
import { choose, defaultMargin, ruleCandidate, runsPerSample, stillRunning } from '../../src/kernels/conv2d-tuning.js';
import { applyConvTuning } from '../../src/kernels/conv2d-tuning-saved.js';
import { convKey } from '../../src/kernels/conv2d-tuned.js';
import { convTile, setConvTile } from '../../src/kernels/conv2d-launch.js';
import { formatGemmTile, parseGemmTile, tiledTileFor } from '../../src/kernels/conv2d-tiled.js';
import { ruleGemmTile } from '../../src/kernels/conv2d-tile-rule.js';
import { convAlgorithm, ruleConvAlgorithm, setConvAlgorithm, setWinogradWorkspace, winogradChunkBytes } from '../../src/kernels/conv2d-winograd-run.js';
import { roundBufferSize } from '../../src/gpu/buffer-pool.js';
import { probePeak } from '../../bench/pool-probe.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import { nd } from '../../src/reference/array.js';
import { expectClose, winogradTolerance, winogradWeightGradTolerance } from '../helpers/close.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

// A step with three convs: a 3x3 stride-1 one (forward, backward input and weight gradient each
// have a choice of algorithm), a 1x1 and a 3x3 at stride 2 (no choice: always direct, never timed).
const X = [2, 12, 12, 8];
const W3 = [3, 3, 8, 8];
const g3 = (): ConvGeometry => conv2dGeometry(X, W3, { padding: 'same' });

function makeStep() {
  const x = fromNd(uniform(2 * 12 * 12 * 8, 1), X, true);
  const w3 = fromNd(uniform(3 * 3 * 8 * 8, 2), W3, true);
  const w1 = fromNd(uniform(8 * 4, 3), [1, 1, 8, 4], true);
  const ws = fromNd(uniform(3 * 3 * 8 * 4, 4), [3, 3, 8, 4], true);
  let runs = 0;
  const step = () => {
    runs++;
    dn.scope(() => {
      const y = dn.conv2d(x, w3, null, { padding: 'same' });
      const loss = dn.add(dn.sum(dn.conv2d(y, w1)), dn.sum(dn.conv2d(y, ws, null, { stride: 2 })));
      loss.backward();
    });
  };
  const dispose = () => {
    for (const t of [x, w3, w1, ws]) {
      t.grad?.dispose();
      t.dispose();
    }
  };
  return { step, runs: () => runs, dispose };
}

const winogradKernels = (p: dn.Profile | null): string[] => (p?.kernels ?? []).map((k) => k.name).filter((n) => n.includes('winograd'));

afterEach(() => {
  dn.clearConvTuning();
  setWinogradWorkspace(null);
});

describe('tuneConvs', () => {
  it('runs the step once, times each conv that has a choice, and runs it by the choice afterwards', async () => {
    const s = makeStep();
    try {
      const tuned = await dn.tuneConvs(s.step, { reps: 2 });
      expect(s.runs()).toBe(1);
      const cpu = isCpuAdapterReport(runtime().ctx.report);
      // The 3x3 conv's three directions by Winograd or direct; on GPUs also the forwards of the
      // 1x1 and the stride-2 conv, by uniform weights or direct (CPU adapters leave those kernels out).
      const winograd = tuned.filter((t) => t.geometry.kh === 3 && t.geometry.sh === 1);
      expect(winograd.map((t) => t.direction).sort()).toEqual(['backwardInput', 'backwardWeight', 'forward']);
      expect(tuned.length).toBe(cpu ? 3 : 5);
      for (const t of tuned.filter((u) => !winograd.includes(u))) {
        expect(t.direction).toBe('forward');
        // The 1x1 (K·Cin = 8) by the channel-lanes kernel too; the stride-2 3x3 (72) is past it.
        const channelLanes = t.geometry.kh === 1 ? ['channel-lanes'] : [];
        expect(Object.keys(t.ms).sort()).toEqual([...channelLanes, 'direct', 'uniform-weights']);
      }
      for (const t of winograd) {
        expect(t.geometry).toEqual(g3());
        // CPU adapters leave the fused kernel out by default; GPUs time it too (8 output channels),
        // but not for the weight gradient, which it has not.
        // So are Winograd with uniform-weights GEMMs (8 x 8 channels: a 256-byte U[ξ]) and, for
        // the forward, the uniform-weights kernel itself.
        const gpuWays = ['direct', ...(t.direction === 'forward' ? ['uniform-weights'] : []), 'winograd', 'winograd-fused', 'winograd-uniform'];
        expect(Object.keys(t.ms).sort()).toEqual(cpu || t.direction === 'backwardWeight' ? ['direct', 'winograd'] : gpuWays);
        for (const ms of Object.values(t.ms)) expect(ms).toBeGreaterThan(0);
        expect({ algorithm: t.algorithm, ...(t.tile ? { tile: t.tile } : {}) }).toEqual(choose(t.timed!, ruleCandidate(t), defaultMargin(t.clock)));
        for (const [a, ms] of Object.entries(t.ms)) expect(ms).toBe(Math.min(...t.timed!.filter((c) => c.algorithm === a).map((c) => c.ms)));
        expect(convAlgorithm(t.direction, g3())).toBe(t.algorithm);
      }
      expect(dn.convTuning().convs).toEqual(tuned);
      expect(dn.convTuning().adapter).toBe(dn.info().name);
    } finally {
      s.dispose();
    }
  });

  it('a tuned choice is what runs, and it computes the same conv', async () => {
    const g = g3();
    const rule = convAlgorithm('forward', g);
    const other = rule === 'direct' ? 'winograd' : 'direct';
    const entry = { direction: 'forward', geometry: g, family: defaultConvFamily(), algorithm: other, ms: {}, clock: 'gpu' };
    expect(dn.applyConvTuning({ format: 'dawnet-conv-tuning', version: 1, adapter: dn.info().name, convs: [entry] })).toBe(1);
    expect(convAlgorithm('forward', g)).toBe(other);
    expect(convAlgorithm('backwardInput', g), 'only the tuned direction changes').toBe(rule);
    const xd = uniform(2 * 12 * 12 * 8, 5);
    const wd = uniform(3 * 3 * 8 * 8, 6);
    const [x, w] = [fromNd(xd, X), fromNd(wd, W3)];
    let y: dn.Tensor | undefined;
    const p = await dn.profile(() => {
      y = dn.conv2d(x, w, null, { padding: 'same' });
    });
    try {
      if (p) expect(winogradKernels(p).length > 0).toBe(other === 'winograd');
      const want = conv2dForwardRef(nd(xd, X), nd(wd, W3), null, { padding: 'same' }).data;
      expectClose('tuned conv2d forward', await y!.toArray(), want, winogradTolerance(8 * 9));
      // setConvAlgorithm still wins over a tuning.
      const before = setConvAlgorithm(rule);
      expect(convAlgorithm('forward', g)).toBe(rule);
      setConvAlgorithm(before);
    } finally {
      for (const t of [x, w, y]) t?.dispose();
    }
  });

  it('leaves out an algorithm that cannot run the conv, and tunes nothing with one left', async () => {
    setWinogradWorkspace(64); // no sample's V and M fit: Winograd throws a LimitError
    const s = makeStep();
    try {
      expect(await dn.tuneConvs(s.step, { reps: 1, algorithms: ['direct', 'winograd'] })).toEqual([]);
      expect(await dn.tuneConvs(s.step, { reps: 1, algorithms: ['direct'] })).toEqual([]);
      expect(dn.convTuning().convs).toEqual([]);
    } finally {
      s.dispose();
    }
  });

  it('leaves a conv untuned where its timing tensors find no room, and the step still ran', async () => {
    const s = makeStep();
    const pool = runtime().pool;
    const acquire = pool.acquire;
    try {
      // Fault injection: once the step has run, every allocation fails as a full device's would.
      const tuned = await dn.tuneConvs(() => {
        s.step();
        pool.acquire = (bytes, _usage, label) => {
          throw new LimitError(`${label}: no room for ${bytes} bytes (test)`);
        };
      });
      expect(s.runs()).toBe(1);
      expect(tuned).toEqual([]);
    } finally {
      pool.acquire = acquire;
      s.dispose();
    }
  });

  it('stops recording when the step throws, and refuses bad reps and margins before the step runs', async () => {
    await expect(dn.tuneConvs(() => { throw new Error('boom'); })).rejects.toThrow('boom');
    const s = makeStep();
    try {
      await expect(dn.tuneConvs(s.step, { reps: 0 })).rejects.toThrow(dn.ArgumentError);
      await expect(dn.tuneConvs(s.step, { margin: 1 })).rejects.toThrow(dn.ArgumentError);
      await expect(dn.tuneConvs(s.step, { margin: -0.1 })).rejects.toThrow(dn.ArgumentError);
      expect((await dn.tuneConvs(s.step, { reps: 1 })).length, 'a new tuning records again').toBe(isCpuAdapterReport(runtime().ctx.report) ? 3 : 5);
    } finally {
      s.dispose();
    }
  });

  it('times on the wall clock on CPU adapters and inside a profile, whose timer it leaves alone', async () => {
    const s = makeStep();
    try {
      const cpu = isCpuAdapterReport(runtime().ctx.report);
      const stamps = runtime().gpuTimer.available;
      for (const t of await dn.tuneConvs(s.step, { reps: 1 })) expect(t.clock).toBe(cpu || !stamps ? 'wall' : 'gpu');
      if (stamps) for (const t of await dn.tuneConvs(s.step, { reps: 1, clock: 'gpu' })) expect(t.clock).toBe('gpu');
      let tuned: dn.TunedConv[] = [];
      await dn.profile(async () => {
        tuned = await dn.tuneConvs(s.step, { reps: 1, clock: 'gpu' });
      });
      expect(tuned.length).toBe(cpu ? 3 : 5);
      for (const t of tuned) expect(t.clock).toBe('wall');
    } finally {
      s.dispose();
    }
  });
});

describe('the table', () => {
  it('keys a conv by family, direction and its whole geometry, batch included', () => {
    const g = g3();
    const keys = [convKey('forward', g, 'tiled'), convKey('backwardInput', g, 'tiled'), convKey('forward', g, 'subgroup'), convKey('forward', { ...g, n: 3 }, 'tiled'), convKey('forward', { ...g, padLeft: 0 }, 'tiled')];
    expect(new Set(keys).size).toBe(keys.length);
    expect(convKey('forward', { ...g }, 'tiled')).toBe(keys[0]);
  });

  it('records one step at a time', async () => {
    await expect(dn.tuneConvs(() => dn.tuneConvs(() => undefined))).rejects.toThrow(/already recording/);
    expect(await dn.tuneConvs(() => undefined), 'and records again after').toEqual([]);
  });
});

describe('choose', () => {
  it('asks for 5% on GPU timestamps and 20% on the wall clock by default', () => {
    expect(defaultMargin('gpu')).toBe(0.05);
    expect(defaultMargin('wall')).toBe(0.2);
    // A way timed 1.2x faster than the rule's replaces it on a GPU's clock, not on the wall clock.
    const timed = [{ algorithm: 'direct' as const, ms: 12 }, { algorithm: 'winograd' as const, ms: 10 }];
    expect(choose(timed, { algorithm: 'direct' }, defaultMargin('gpu'))).toEqual({ algorithm: 'winograd' });
    expect(choose(timed, { algorithm: 'direct' }, defaultMargin('wall'))).toEqual({ algorithm: 'direct' });
  });

  it('takes the fastest unless the rule is within the margin', () => {
    const d = (ms: number, tile?: string) => ({ algorithm: 'direct' as const, ms, ...(tile ? { tile } : {}) });
    const wi = (ms: number, tile?: string) => ({ algorithm: 'winograd' as const, ms, ...(tile ? { tile } : {}) });
    expect(choose([d(10), wi(8)], { algorithm: 'direct' }, 0.05)).toEqual({ algorithm: 'winograd' });
    expect(choose([d(10), wi(9.6)], { algorithm: 'direct' }, 0.05)).toEqual({ algorithm: 'direct' });
    expect(choose([d(10), wi(9.6)], { algorithm: 'direct' }, 0)).toEqual({ algorithm: 'winograd' });
    expect(choose([d(10), { algorithm: 'winograd-fused', ms: 5 }], { algorithm: 'winograd' }, 0.05), 'rule not timed').toEqual({ algorithm: 'winograd-fused' });
    expect(choose([], { algorithm: 'winograd' }, 0.05)).toEqual({ algorithm: 'winograd' });
    // Tiles: the rule is its algorithm at its tile, not the algorithm at any tile.
    const rule = { algorithm: 'direct' as const, tile: '128x32x8/8x4' };
    expect(choose([d(10, '128x32x8/8x4'), d(9.7, '256x32x8/8x4')], rule, 0.05)).toEqual(rule);
    expect(choose([d(10, '128x32x8/8x4'), d(9, '256x32x8/8x4')], rule, 0.05)).toEqual({ algorithm: 'direct', tile: '256x32x8/8x4' });
    expect(choose([d(8, '256x32x8/8x4'), wi(10, '128x32x8/8x4')], { algorithm: 'winograd', tile: '128x32x8/8x4' }, 0.05)).toEqual({ algorithm: 'direct', tile: '256x32x8/8x4' });
    // The fused kernel's channel groups tell its candidates apart like tiles.
    const fused = [{ algorithm: 'winograd-fused' as const, ms: 10 }, { algorithm: 'winograd-fused' as const, groups: 4, ms: 8 }];
    expect(choose(fused, { algorithm: 'winograd-fused' }, 0.05)).toEqual({ algorithm: 'winograd-fused', groups: 4 });
    expect(choose(fused, { algorithm: 'winograd-fused' }, 0.25)).toEqual({ algorithm: 'winograd-fused' });
    expect(choose([...fused].reverse(), { algorithm: 'winograd-fused' }, 0.05), 'the rule found by its groups too').toEqual({ algorithm: 'winograd-fused', groups: 4 });
    // So do its tiles.
    const tiles = [{ algorithm: 'winograd-fused' as const, ms: 10 }, { algorithm: 'winograd-fused' as const, fusedTile: '16b4x8s', ms: 8 }];
    expect(choose(tiles, { algorithm: 'winograd-fused' }, 0.05)).toEqual({ algorithm: 'winograd-fused', fusedTile: '16b4x8s' });
    expect(choose(tiles, { algorithm: 'winograd-fused' }, 0.25)).toEqual({ algorithm: 'winograd-fused' });
  });
});

describe('runsPerSample', () => {
  it('runs a conv often enough for a 2 ms sample, at most 32 times and 256 MiB of outputs', () => {
    expect(runsPerSample(5, 1024)).toBe(1);
    expect(runsPerSample(0.5, 1024)).toBe(4);
    expect(runsPerSample(0, 1024), 'a span rounded to 0').toBe(32);
    expect(runsPerSample(0.01, 1024)).toBe(32);
    expect(runsPerSample(0.1, 64 * 2 ** 20), 'memory bound').toBe(4);
    expect(runsPerSample(0.1, 512 * 2 ** 20)).toBe(1);
  });
});

describe('stillRunning', () => {
  it('samples again the candidates within 1.5x of the best first sample, and the rule', () => {
    const c = (algorithm: 'direct' | 'winograd', ms: number, tile?: string) => ({ algorithm, ms, ...(tile ? { tile } : {}) });
    const first = [c('direct', 10, '128x32x8/8x4'), c('direct', 14.9, '256x32x8/8x4'), c('direct', 15.1, '64x64x16/4x4'), c('winograd', 30, '128x32x8/8x4')];
    expect(stillRunning(first, { algorithm: 'direct', tile: '128x32x8/8x4' })).toEqual([true, true, false, false]);
    expect(stillRunning(first, { algorithm: 'winograd', tile: '128x32x8/8x4' }), 'the rule, however slow').toEqual([true, true, false, true]);
  });
});

describe('tiles', () => {
  // 32 output channels: tiles of 32 columns are candidates, 64 and wider are not (half empty).
  const X32 = [2, 12, 12, 8];
  const W32 = [3, 3, 8, 32];
  const g = () => conv2dGeometry(X32, W32, { padding: 'same' });

  it('times the tiled family at each tile, and runs a conv at its tuned tile', async () => {
    const xd = uniform(2 * 12 * 12 * 8, 7);
    const wd = uniform(3 * 3 * 8 * 32, 8);
    const [x, w] = [fromNd(xd, X32), fromNd(wd, W32)];
    try {
      const tiles = ['256x32x8/8x4', '64x64x8/4x4', '128x32x16/8x4'];
      const [t] = await dn.tuneConvs(() => forwardGemm(g(), x, w, null, 'tiled').dispose(), { reps: 1, algorithms: ['direct', 'winograd'], tiles });
      const rule = formatGemmTile(tiledTileFor('forward', 32));
      const timed = (a: string) => t.timed!.filter((c) => c.algorithm === a).map((c) => c.tile).sort();
      expect(timed('direct')).toEqual([rule, '256x32x8/8x4', '128x32x16/8x4'].sort());
      expect(timed('winograd')).toEqual([rule, '256x32x8/8x4', '128x32x16/8x4'].sort());
      expect(t.tile).toBeDefined();
      // A tile the rule would not take, forced through a tuning: it is what runs, and it is right
      // (Winograd's batched GEMM pads its rows to the tile's: 256 against the rule's 128).
      const want = conv2dForwardRef(nd(xd, X32), nd(wd, W32), null, { padding: 'same' }).data;
      for (const [algorithm, other] of [['direct', 'winograd'], ['winograd', 'direct']] as const) {
        dn.applyConvTuning({ ...dn.convTuning(), convs: [{ ...t, algorithm, tile: '256x32x8/8x4' }] });
        expect(formatGemmTile(convTile('forward', g(), 'tiled', algorithm))).toBe('256x32x8/8x4');
        expect(formatGemmTile(convTile('forward', g(), 'tiled', other)), 'not for another algorithm').toBe(rule);
        let y: dn.Tensor | undefined;
        const peak = await probePeak(() => {
          y = forwardGemm(g(), x, w, null, 'tiled');
        });
        try {
          expectClose(`conv2d forward by ${algorithm} at a tuned tile`, await y!.toArray(), want, winogradTolerance(8 * 9));
        } finally {
          y!.dispose();
        }
        if (algorithm === 'winograd') {
          // V's rows are padded to the batched GEMM's tile: this one's, not the rule's.
          const v = peak.atPeak.find((l) => l.label === 'conv2d.winograd.v');
          expect(v?.bytes).toBe(roundBufferSize(winogradChunkBytes('forward', g(), 2, 'tiled', parseGemmTile('256x32x8/8x4')).v));
          expect(v?.bytes).not.toBe(roundBufferSize(winogradChunkBytes('forward', g(), 2, 'tiled', parseGemmTile(rule)).v));
        }
      }
      setConvTile(parseGemmTile('64x64x16/4x4'));
      expect(formatGemmTile(convTile('forward', g(), 'tiled', 'direct')), 'setConvTile wins').toBe('64x64x16/4x4');
      setConvTile(null);
    } finally {
      x.dispose();
      w.dispose();
    }
  });
});

describe('weight gradient tiles', () => {
  // Cout = 32: the direct rule's tile is SLIM_DEEP_TILE (128x32x16), Winograd's SQUARE_TILE
  // (32x32x16: Cin = 8); tiles of 64 columns are not candidates.
  const X32 = [2, 12, 12, 8];
  const W32 = [3, 3, 8, 32];
  const g = () => conv2dGeometry(X32, W32, { padding: 'same' });
  const compiled = (tile: string) => runtime().compiledKernels().includes(`conv2d.backwardWeight|${tile}|in2`);

  it('times direct and Winograd at each tile at least half full, and runs each at a tuned tile of its own', async () => {
    const yShape = [2, 12, 12, 32];
    const xd = uniform(2 * 12 * 12 * 8, 17);
    const dyd = uniform(2 * 12 * 12 * 32, 18);
    const [x, dy] = [fromNd(xd, X32), fromNd(dyd, yShape)];
    try {
      // Rows: 72 direct (3·3·8), 8 by Winograd (Cin per position); columns: 32.
      const [t] = await dn.tuneConvs(() => backwardWeightGemm(g(), dy, x, 'tiled').dispose(), { reps: 1, tiles: ['256x32x8/8x4', '64x64x8/4x4', '64x32x32/4x4', '32x32x16/4x4'] });
      expect(t.direction).toBe('backwardWeight');
      const rule = (a: 'direct' | 'winograd') => formatGemmTile(ruleGemmTile('backwardWeight', g(), a));
      expect([rule('direct'), rule('winograd')]).toEqual(['128x32x16/8x4', '32x32x16/4x4']);
      const timed = (a: string) => t.timed!.filter((c) => c.algorithm === a).map((c) => c.tile).sort();
      expect(timed('direct'), '256 rows for 72, 64 columns for 32: left out').toEqual([rule('direct'), '64x32x32/4x4', '32x32x16/4x4'].sort());
      expect(timed('winograd'), 'every tile has 32 rows or more for 8: the rule alone').toEqual([rule('winograd')]);
      expect(timed('winograd-fused'), 'no fused weight gradient').toEqual([]);
      const want = conv2dBackwardRef(nd(xd, X32), nd(uniform(3 * 3 * 8 * 32, 19), W32), nd(dyd, yShape), { padding: 'same' }).dw.data;
      // Tiles no candidate used, so that a compiled kernel shows which one ran.
      for (const [algorithm, tile] of [['direct', '64x64x8/4x4'], ['winograd', '128x32x8/8x4']] as const) {
        expect(compiled(tile)).toBe(false);
        dn.applyConvTuning({ ...dn.convTuning(), convs: [{ ...t, algorithm, tile }] });
        expect(convAlgorithm('backwardWeight', g(), 'tiled')).toBe(algorithm);
        expect(formatGemmTile(convTile('backwardWeight', g(), 'tiled', algorithm))).toBe(tile);
        const other = algorithm === 'direct' ? 'winograd' : 'direct';
        expect(formatGemmTile(convTile('backwardWeight', g(), 'tiled', other)), 'not for another algorithm').toBe(rule(other));
        const dw = backwardWeightGemm(g(), dy, x, 'tiled');
        expect(compiled(tile), `${algorithm} ran at ${tile}`).toBe(true);
        expectClose(`dw by ${algorithm} at a tuned tile`, await dw.toArray(), want, winogradWeightGradTolerance(2 * 12 * 12));
        dw.dispose();
      }
    } finally {
      x.dispose();
      dy.dispose();
    }
  });
});

describe('saved tunings', () => {
  const valid = () => ({
    format: 'dawnet-conv-tuning',
    version: 1,
    adapter: dn.info().name,
    convs: [{ direction: 'backwardInput', geometry: g3(), family: defaultConvFamily(), algorithm: 'winograd', ms: { direct: 2, winograd: 1 }, clock: 'wall' }],
  });

  it('round-trips through a file, written atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dawnet-tuning-'));
    try {
      dn.applyConvTuning(valid());
      const path = join(dir, 'tuning.json');
      expect(await dn.io.saveConvTuning(path)).toBe(1);
      const saved = dn.convTuning();
      dn.clearConvTuning();
      expect(convAlgorithm('backwardInput', g3())).toBe(ruleConvAlgorithm('backwardInput', g3(), defaultConvFamily(), isCpuAdapterReport(runtime().ctx.report)));
      expect(await dn.io.loadConvTuning(path)).toBe(1);
      expect(dn.convTuning()).toEqual(saved);
      expect(convAlgorithm('backwardInput', g3())).toBe('winograd');
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(saved);
      await expect(dn.io.loadConvTuning(join(dir, 'missing.json'))).rejects.toThrow(FormatError);
      await writeFile(join(dir, 'bad.json'), '{"format":');
      await expect(dn.io.loadConvTuning(join(dir, 'bad.json'))).rejects.toThrow(/^.*bad\.json: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const broken: [string, (t: ReturnType<typeof valid>) => unknown][] = [
    ['another format', (t) => ({ ...t, format: 'other' })],
    ['another version', (t) => ({ ...t, version: 2 })],
    ['no conv list', (t) => ({ ...t, convs: {} })],
    ['another adapter', (t) => ({ ...t, adapter: 'some other GPU' })],
    ['a bad direction', (t) => ({ ...t, convs: [{ ...t.convs[0], direction: 'sideways' }] })],
    ['fused for a weight gradient', (t) => ({ ...t, convs: [{ ...t.convs[0], direction: 'backwardWeight', algorithm: 'winograd-fused' }] })],
    ['a bad family', (t) => ({ ...t, convs: [{ ...t.convs[0], family: 'cuda' }] })],
    ['a bad algorithm', (t) => ({ ...t, convs: [{ ...t.convs[0], algorithm: 'fft' }] })],
    ['a missing geometry field', (t) => ({ ...t, convs: [{ ...t.convs[0], geometry: { ...t.convs[0].geometry, cout: undefined } }] })],
    ['a negative pad', (t) => ({ ...t, convs: [{ ...t.convs[0], geometry: { ...t.convs[0].geometry, padTop: -1 } }] })],
    ['a 1x1 conv', (t) => ({ ...t, convs: [{ ...t.convs[0], geometry: { ...t.convs[0].geometry, kh: 1, kw: 1 } }] })],
    ['fused on 6 output channels', (t) => ({ ...t, convs: [{ ...t.convs[0], algorithm: 'winograd-fused', geometry: { ...t.convs[0].geometry, cin: 6 } }] })],
    ['a tile for the subgroup family', (t) => ({ ...t, convs: [{ ...t.convs[0], family: 'subgroup', tile: '64x64x16/4x4' }] })],
    ['a tile for the fused kernel', (t) => ({ ...t, convs: [{ ...t.convs[0], family: 'tiled', algorithm: 'winograd-fused', tile: '64x64x16/4x4' }] })],
    ['a malformed tile', (t) => ({ ...t, convs: [{ ...t.convs[0], family: 'tiled', tile: '64x64' }] })],
    ['a tile over 256 threads', (t) => ({ ...t, convs: [{ ...t.convs[0], family: 'tiled', tile: '256x256x8/4x4' }] })],
    ['channel groups for a staged Winograd', (t) => ({ ...t, convs: [{ ...t.convs[0], groups: 4 }] })],
    ['3 channel groups', (t) => ({ ...t, convs: [{ ...t.convs[0], algorithm: 'winograd-fused', groups: 3 }] })],
    ['a fused tile for a staged Winograd', (t) => ({ ...t, convs: [{ ...t.convs[0], fusedTile: '16b4x8s' }] })],
    ['a malformed fused tile', (t) => ({ ...t, convs: [{ ...t.convs[0], algorithm: 'winograd-fused', fusedTile: '16b4x7' }] })],
  ];
  for (const [what, mutate] of broken) {
    it(`refuses ${what}, naming the source, and keeps the choices it had`, () => {
      dn.applyConvTuning(valid());
      const before = dn.convTuning();
      const bad = mutate(valid());
      expect(() => applyConvTuning(bad, 'my-tuning.json')).toThrow(FormatError);
      expect(() => applyConvTuning(JSON.stringify(bad), 'my-tuning.json')).toThrow(/^my-tuning\.json/);
      expect(dn.convTuning()).toEqual(before);
    });
  }
});
