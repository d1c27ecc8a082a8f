// The operand-load probe (OperandSource 'registers' in src/kernels/conv2d-subgroup.ts and
// conv2d-tiled.ts, switched by setOperandProbe, timed by bench/harness.ts as a third side of conv
// cases): its kernels make no load of the GEMM's operands but keep the multiply-adds; switching it
// on changes what the convs of both families compute and switching it off gives back the exact
// kernels; a conv case records its time.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { backwardInputGemm, forwardGemm } from '../../src/kernels/conv2d.js';
import { setOperandProbe } from '../../src/kernels/conv2d-launch.js';
import { subgroupTile, subgroupWgsl, tileFit } from '../../src/kernels/conv2d-subgroup.js';
import { NARROW_TILE, SLIM_DEEP_TILE, SLIM_TILE, tiledWgsl, WIDE_TILE } from '../../src/kernels/conv2d-tiled.js';
import { conv2dFamily } from '../../bench/cases/conv2d.js';
import { runCase } from '../../bench/harness.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** Reads of a storage buffer named x, w or dy: array indexing. */
const operandReads = (wgsl: string): number => (wgsl.match(/\b(x|w|dy)\[/g) ?? []).length;
const fmas = (wgsl: string): number => (wgsl.match(/\bfma\(/g) ?? []).length;

describe('operand-load probe', () => {
  // Forward walking K by four with vec4 weights, forward one float at a time, backward input by four.
  const kernels: [string, 'forward' | 'backwardInput', number, number, { cin: number; cout: number; wo: number }][] = [
    ['forward, K by four, vec4 weights', 'forward', 512, 64, { cin: 64, cout: 64, wo: 16 }],
    ['forward, one K at a time', 'forward', 40, 6, { cin: 3, cout: 6, wo: 5 }],
    ['backward input, K by four', 'backwardInput', 64, 32, { cin: 32, cout: 16, wo: 8 }],
  ];
  it.each(kernels)('%s: no operand load, the same multiply-adds', (_name, dir, m, n, g) => {
    const t = subgroupTile(m, n, tileFit(dir, g));
    const [memory, registers] = [subgroupWgsl(dir, false, t, 'memory'), subgroupWgsl(dir, false, t, 'registers')];
    expect(operandReads(memory)).toBeGreaterThan(0);
    expect(operandReads(registers)).toBe(0);
    expect(fmas(registers)).toBe(fmas(memory));
  });

  // The tiled (GPU) family: each tile the shape rule picks, in both directions.
  const tiles = [['128x128x8/8x8', WIDE_TILE], ['128x64x8/8x4', NARROW_TILE], ['128x32x8/8x4', SLIM_TILE], ['128x32x16/8x4', SLIM_DEEP_TILE]] as const;
  for (const dir of ['forward', 'backwardInput'] as const) {
    it.each(tiles)(`tiled ${dir}, %s: no operand load, the same multiply-adds`, (_name, t) => {
      const [memory, registers] = [tiledWgsl(dir, false, t, 'memory'), tiledWgsl(dir, false, t, 'registers')];
      expect(operandReads(memory)).toBeGreaterThan(0);
      expect(operandReads(registers)).toBe(0);
      expect(fmas(registers)).toBe(fmas(memory));
    });
  }

  it('switched on, the convs compute something else; switched off, exactly what they did', async () => {
    const [n, h, c] = [1, 8, 16];
    const g = { n, h, w: h, cin: c, cout: c, kh: 3, kw: 3, sh: 1, sw: 1, padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, ho: h, wo: h };
    const x = dn.tensor(Float32Array.from({ length: n * h * h * c }, (_, i) => Math.sin(i)), [n, h, h, c]);
    const w = dn.tensor(Float32Array.from({ length: 9 * c * c }, (_, i) => Math.cos(i)), [3, 3, c, c]);
    const run = async (probe: boolean, family: 'subgroup' | 'tiled') => {
      setOperandProbe(probe);
      try {
        const [y, dx] = [forwardGemm(g, x, w, null, family), backwardInputGemm(g, x, w, null, family)];
        const out = [await y.toArray(), await dx.toArray()];
        y.dispose();
        dx.dispose();
        return out;
      } finally {
        setOperandProbe(false);
      }
    };
    for (const family of ['subgroup', 'tiled'] as const) {
      const before = await run(false, family);
      const probed = await run(true, family);
      const after = await run(false, family);
      for (const i of [0, 1]) {
        expect(probed[i]).not.toEqual(before[i]);
        expect(after[i]).toEqual(before[i]);
      }
    }
    x.dispose();
    w.dispose();
  });

  it('a conv case records the probe time where the run asks for it', async () => {
    const c = (await conv2dFamily.cases(32))!.find((x) => x.id === 'conv2d.forward/unet-l2')!;
    expect(c.probeOperands).toBe(true);
    const env = { timing: { warmup: 1, reps: 2, minSampleMs: 0, maxInner: 1 }, peak: null, tfjs: null, check: false, seed: 3 };
    const probed = await runCase(c, { ...env, probeOperands: true });
    expect(probed.operandsInRegistersMs).toBeGreaterThan(0);
    expect('timing' in probed.dawnet).toBe(true);
    const plain = await runCase(c, env);
    expect(plain.operandsInRegistersMs).toBeUndefined();
  });
});
