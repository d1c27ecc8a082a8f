// The LGG slices as volumes (dn.data.lggVolumes, volumePatches, lggVolumeDataset): planes in slice
// number order with blanks for missing numbers, the evaluation tiling and the seeded training
// patches (foreground oversampling included), and the batches' values against the slices decoded
// one by one, normalised by hand, each real plane flagged for scoring once; replay and resume by
// seed; a 3-D U-Net fitted on them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const S = 16;
const dir = mkdtempSync(join(tmpdir(), 'dawnet-volumes-'));
let slices: dn.data.LggSlice[] = [];

beforeAll(async () => {
  await dn.data.writeSyntheticDataset(dir, { patients: 3, seed: 7, size: S, slicesPerPatient: [5, 9] });
  slices = (await dn.data.scanLgg(dir, { size: S })).slices;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in LggSlice for the grouping tests (no files behind it). */
const fake = (folder: string, index: number, label: 0 | 1 = 0) =>
  ({ id: `${folder}_${index}`, patient: folder.slice(0, 12), folder, index, imagePath: `${folder}/${folder}_${index}.tif`, maskPath: `${folder}/${folder}_${index}_mask.tif`, width: S, height: S, label, tumourPixels: label }) as dn.data.LggSlice;

async function collect(batches: AsyncIterable<dn.train.Batch> | Iterable<dn.train.Batch>) {
  const out: { x: Float32Array; y: Float32Array; shape: number[]; volumes: string[]; counted?: boolean[] }[] = [];
  for await (const b of batches) {
    out.push({ x: await b.x.toArray(), y: await b.y.toArray(), shape: [...b.x.shape], volumes: b.volumes!, counted: b.counted });
    b.x.dispose();
    b.y.dispose();
  }
  return out;
}

describe('lggVolumes and volumePatches', () => {
  it('stacks each folder in slice-number order, a missing number a blank plane; two slices of one number are refused', () => {
    const vols = dn.data.lggVolumes([fake('A_19990101', 3), fake('B_19990101', 1), fake('A_19990101', 1), fake('A_19990101', 4)]);
    expect(vols.map((v) => v.folder)).toEqual(['A_19990101', 'B_19990101']);
    expect(vols[0].planes.map((p) => p?.index ?? null)).toEqual([1, null, 3, 4]);
    expect(vols[1].planes.map((p) => p?.index ?? null)).toEqual([1]);
    expect(() => dn.data.lggVolumes([fake('A_19990101', 2), fake('A_19990101', 2)])).toThrow(/lggVolumes: A_19990101 has two slices numbered 2: A_19990101\/A_19990101_2\.tif and A_19990101\/A_19990101_2\.tif/);
    expect(() => dn.data.lggVolumes([{ ...fake('A_19990101', 1), index: 0 }])).toThrow(/lggVolumes: slice A_19990101_1 has no slice number/);
  });

  it('evaluation tiles every plane, the last tile ending at the last plane; a thin volume gives one patch at 0', () => {
    const vols = dn.data.lggVolumes([...Array.from({ length: 10 }, (_, i) => fake('A_19990101', i + 1)), ...Array.from({ length: 3 }, (_, i) => fake('B_19990101', i + 1))]);
    expect(dn.data.volumePatches(vols, 4, { train: false })).toEqual([
      { volume: 0, start: 0 }, { volume: 0, start: 4 }, { volume: 0, start: 6 }, { volume: 1, start: 0 },
    ]);
    expect(dn.data.volumePatches(vols, 4, { train: false, stride: 3 }).filter((p) => p.volume === 0).map((p) => p.start)).toEqual([0, 3, 6]);
  });

  it('training patches: seeded by seed and epoch, inside the volume, and over a tumour plane when foreground is 1', () => {
    // Volume A: 30 planes, tumour on planes 20-21 only; B: 12 planes, none.
    const a = Array.from({ length: 30 }, (_, i) => fake('A_19990101', i + 1, i === 20 || i === 21 ? 1 : 0));
    const b = Array.from({ length: 12 }, (_, i) => fake('B_19990101', i + 1));
    const vols = dn.data.lggVolumes([...a, ...b]);
    const draw = (seed: number, epoch: number, foreground?: number) => dn.data.volumePatches(vols, 8, { train: true, seed, epoch, patchesPerVolume: 40, foreground });
    expect(draw(1, 2)).toEqual(draw(1, 2));
    expect(draw(1, 3)).not.toEqual(draw(1, 2));
    const all = draw(1, 2, 1);
    expect(all.length).toBe(80);
    for (const p of all) expect(p.start).toBeGreaterThanOrEqual(0);
    for (const p of all) expect(p.start + 8).toBeLessThanOrEqual(p.volume === 0 ? 30 : 12);
    const overTumour = (p: { start: number }) => p.start <= 21 && p.start + 8 > 20;
    expect(all.filter((p) => p.volume === 0).every(overTumour)).toBe(true);
    // Without the oversampling, a start uniform in 0..22 holds plane 20 or 21 for 9 of 23 starts:
    // 40 draws all over the tumour would happen with probability (9/23)^40, about 1e-16.
    expect(draw(1, 2, 0).filter((p) => p.volume === 0).every(overTumour)).toBe(false);
    // Volume B has no tumour plane: its patches still come, from anywhere.
    expect(all.filter((p) => p.volume === 1).length).toBe(40);
  });
});

describe('lggVolumeDataset', () => {
  it('evaluation batches: x [B, depth, S, S, 3], y the masks, each plane the decoded slice; blank planes after a thin volume; each real plane counted once', async () => {
    const vols = dn.data.lggVolumes(slices);
    const depth = 6;
    const ds = dn.data.lggVolumeDataset(slices, { batchSize: 2, size: S, depth, normalize: 'none', workers: 0 });
    try {
      const patches = dn.data.volumePatches(vols, depth, { train: false });
      const batches = await collect(ds.batches(0));
      expect(batches.length).toBe(ds.batchCount);
      expect(batches.length).toBe(Math.ceil(patches.length / 2));
      const plane = S * S;
      let k = 0;
      let blanks = 0;
      // How often the metrics would score each plane (volume:plane), and how often tiles hold it.
      const scored = new Map<string, number>();
      const held = new Map<string, number>();
      for (const b of batches) {
        expect(b.shape.slice(1)).toEqual([depth, S, S, 3]);
        expect(b.counted?.length).toBe(b.shape[0] * depth);
        for (let i = 0; i < b.shape[0]; i++, k++) {
          const { volume, start } = patches[k];
          expect(b.volumes[i]).toBe(vols[volume].patient);
          for (let z = 0; z < depth; z++) {
            const at = (i * depth + z) * plane;
            const s = vols[volume].planes[start + z];
            const key = `${volume}:${start + z}`;
            held.set(key, (held.get(key) ?? 0) + 1);
            if (b.counted![i * depth + z]) scored.set(key, (scored.get(key) ?? 0) + 1);
            const x = b.x.subarray(at * 3, (at + plane) * 3);
            const y = b.y.subarray(at, at + plane);
            if (!s) {
              expect(x.every((v) => v === 0) && y.every((v) => v === 0), `blank plane ${start + z} of ${vols[volume].folder}`).toBe(true);
              blanks++;
              continue;
            }
            const want = await dn.data.loadSlice(s, S);
            expect([...x]).toEqual([...want.image]);
            expect([...y]).toEqual([...want.mask]);
          }
        }
      }
      expect(k).toBe(patches.length);
      // The synthetic volumes have 5 to 9 planes: one thinner than the 6-plane patch is padded.
      expect(vols.map((v) => v.planes.length).some((n) => n < depth)).toBe(true);
      expect(blanks).toBeGreaterThan(0);
      // Some planes are in two tiles, yet each real plane is scored once and the blank ones never.
      expect([...held.values()].some((n) => n > 1)).toBe(true);
      const real = vols.flatMap((v, volume) => v.planes.flatMap((p, z) => (p ? [`${volume}:${z}`] : [])));
      expect([...scored.keys()].sort()).toEqual([...real].sort());
      expect([...scored.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await ds.close();
    }
  });

  it("'zscore-volume' standardises each plane by its patient's statistics over all its slices", async () => {
    const ds = dn.data.lggVolumeDataset(slices, { batchSize: 1, size: S, depth: 4, workers: 0 });
    try {
      const [first] = await collect(ds.batches(0));
      const vol = ds.volumes[0];
      const images = await Promise.all(vol.planes.map(async (p) => (await dn.data.loadSlice(p!, S)).image));
      const stats = dn.data.channelStats(images, S * S, 3);
      for (let z = 0; z < 4; z++) {
        const want = images[z].slice();
        dn.data.applyStats(want, S * S, stats);
        const got = first.x.subarray(z * S * S * 3, (z + 1) * S * S * 3);
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i])));
      }
      // loadLggVolume: the whole volume as the dataset serves its planes, to the bit; masks as decoded.
      const loaded = await dn.data.loadLggVolume(vol, S);
      expect(loaded.depth).toBe(vol.planes.length);
      expect([...loaded.images.subarray(0, 4 * S * S * 3)]).toEqual([...first.x]);
      const decodedMasks = await Promise.all(vol.planes.map(async (p) => [...(await dn.data.loadSlice(p!, S)).mask]));
      expect([...loaded.masks]).toEqual(decodedMasks.flat());
      const raw = await dn.data.loadLggVolume(vol, S, { normalize: 'none' });
      expect([...raw.images.subarray(0, S * S * 3)]).toEqual([...images[0]]);
      await expect(dn.data.loadLggVolume({} as never, S)).rejects.toThrow(/loadLggVolume: volume must be one of lggVolumes' volumes/);
    } finally {
      await ds.close();
    }
  });

  it('training: the same seed replays an epoch; batchesFrom resumes it; augmentation moves the planes', async () => {
    const make = (seed: number, augment: dn.augment.AugmentPreset = 'hflip+elastic') => dn.data.lggVolumeDataset(slices, { batchSize: 2, size: S, depth: 4, train: true, augment, seed, patchesPerVolume: 2, workers: 0 });
    const [a, b, c, plain] = [make(3), make(3), make(4), make(3, 'none')];
    try {
      const [ea, eb, ec, ep] = [await collect(a.batches(1)), await collect(b.batches(1)), await collect(c.batches(1)), await collect(plain.batches(1))];
      expect(ea.length).toBe(3); // 3 volumes x 2 patches, 2 a batch
      expect(eb.map((x) => [...x.x])).toEqual(ea.map((x) => [...x.x]));
      expect(ec.map((x) => [...x.x])).not.toEqual(ea.map((x) => [...x.x]));
      // The same patches unaugmented: the same volumes in the same order, other pixels.
      expect(ep.map((x) => x.volumes)).toEqual(ea.map((x) => x.volumes));
      expect(ep.map((x) => [...x.x])).not.toEqual(ea.map((x) => [...x.x]));
      for (const batch of ea) expect(batch.y.every((v) => v === 0 || v === 1)).toBe(true);
      // Random patches are no tiling: nothing to score once, so no flags.
      expect(ea.every((batch) => batch.counted === undefined)).toBe(true);
      const resumed = await collect(a.batchesFrom!(1, 1));
      expect(resumed.map((x) => [...x.x])).toEqual(ea.slice(1).map((x) => [...x.x]));
    } finally {
      await Promise.all([a.close(), b.close(), c.close(), plain.close()]);
    }
  });

  it('fits a 3-D U-Net: Dice loss falls over a few epochs of patches', async () => {
    dn.setInitSeed(5);
    const net = dn.models.unet3d({ features: 4, depth: 1, inChannels: 3 });
    const ds = dn.data.lggVolumeDataset(slices, { batchSize: 2, size: S, depth: 4, train: true, augment: 'hflip', seed: 1, patchesPerVolume: 2, foreground: 1, workers: 0 });
    const optimizer = new dn.optim.Adam(net.parameters(), { lr: 1e-2 });
    try {
      const history = await dn.train.fit(net, ds, null, { epochs: 12, optimizer, loss: dn.diceLoss });
      const losses = history.logs.map((l) => l.loss);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses.at(-1)!).toBeLessThan(losses[0] - 0.05);
    } finally {
      await ds.close();
      optimizer.dispose();
      net.dispose();
    }
  });

  it('refuses bad options by name', () => {
    expect(() => dn.data.lggVolumeDataset(slices, { batchSize: 1, size: S, depth: 4, patchSize: 4 } as never)).toThrow(/lggVolumeDataset: unknown option 'patchSize'/);
    expect(() => dn.data.lggVolumeDataset(slices, { batchSize: 1, size: S, depth: 0 })).toThrow(/lggVolumeDataset: depth/);
    expect(() => dn.data.lggVolumeDataset(slices, { batchSize: 1, size: S, depth: 4, stride: 5 })).toThrow(/lggVolumeDataset: stride/);
    expect(() => dn.data.lggVolumeDataset(slices, { batchSize: 1, size: S, depth: 4, normalize: 'imagenet' as never })).toThrow(/lggVolumeDataset: normalize/);
    expect(() => dn.data.lggVolumeDataset([], { batchSize: 1, size: S, depth: 4 })).toThrow(/lggVolumeDataset: no slices/);
  });
});
