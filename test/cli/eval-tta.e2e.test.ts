// eval and predict through the real CLI on a tiny run (one epoch): eval reports HD95 and ASSD and
// records the TTA mode; the run report shows them per volume; --tta flip runs end to end in both commands.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli, tempDir } from './helpers.js';

let cli = '';
let work = '';
const run = () => join(work, 'seg');
const data = () => join(work, 'kaggle_3m');

beforeAll(async () => {
  cli = await buildCli();
  work = tempDir('dawnet-eval-tta-');
  const s = await runCli(cli, ['synth', '--out', data(), '--patients', '8', '--seed', '5', '--size', '32', '--slices', '8-10']);
  expect(s.code, s.stderr).toBe(0);
  const args = ['train', 'segment', '--data', data(), '--out', run(), '--epochs', '1', '--size', '32', '--features', '4', '--depth', '2', '--batch', '8', '--test-fraction', '0.3'];
  const t = await runCli(cli, args, { timeoutMs: 280_000 });
  expect(t.code, t.stderr).toBe(0);
}, 300_000);

afterAll(() => {
  rmSync(dirname(cli), { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('eval and predict with surface distances and TTA', () => {
  it('eval prints HD95 and ASSD rows, and --json carries the surface report with tta none', async () => {
    const text = await runCli(cli, ['eval', run()]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/HD95 per volume, mean \/ median \(pixels\)/);
    expect(text.stdout).toMatch(/ASSD per lesion slice, mean \/ median/);
    const r = await runCli(cli, ['eval', run(), '--json', '--spacing', '2,1,1']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(json.tta).toBe('none');
    expect(json.surface.spacing).toEqual([2, 1, 1]);
    expect(json.surface.perVolume.length).toBe(json.surface.volumesScored + json.surface.volumesOneEmpty + (json.emptyPolicy === 'skip' ? json.surface.volumesBothEmpty : 0));
    for (const k of ['hd95PerVolume', 'assdPerVolumeMedian', 'hd95PerSlice', 'slicesScored']) expect(json.surface, k).toHaveProperty(k);
  }, 120_000);

  it('the run report lists the test volumes with Dice, HD95 and ASSD, and the surface means beside Dice', () => {
    const html = readFileSync(join(run(), 'report.html'), 'utf8');
    expect(html).toContain('data-testid="volume-table"');
    expect(html).toContain('<th scope="row">hd95PerVolume</th>');
    expect(html).toContain('<th scope="row">dicePerVolume</th>');
  });

  it('eval --tta flip records the mode in eval.json; predict --tta flip in predictions.json', async () => {
    const e = await runCli(cli, ['eval', run(), '--tta', 'flip']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/test-time augmentation\s+flip/);
    const flipped = JSON.parse(readFileSync(join(run(), 'eval.json'), 'utf8'));
    expect(flipped.tta).toBe('flip');
    // A one-epoch U-Net is not flip-equivariant: averaging in the mirror pass moves the test loss.
    const plain = await runCli(cli, ['eval', run(), '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(flipped.loss).not.toBe(JSON.parse(plain.stdout.slice(plain.stdout.indexOf('{'))).loss);
    const folder = readdirSync(data())[0];
    const slice = readdirSync(join(data(), folder)).find((f) => /_\d+\.tif$/.test(f))!;
    const probs: Buffer[] = [];
    for (const tta of ['none', 'flip']) {
      const out = join(work, `pred-${tta}`);
      const p = await runCli(cli, ['predict', run(), join(data(), folder, slice), '--out', out, '--tta', tta]);
      expect(p.code, p.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8')).tta).toBe(tta);
      probs.push(readFileSync(join(out, `${slice.replace(/\.tif$/, '')}_prob.png`)));
    }
    expect(probs[0].equals(probs[1]), 'the flip pass changes the probability map').toBe(false);
  }, 120_000);

  it('an unknown --tta is a one-line error naming the choices', async () => {
    const r = await runCli(cli, ['eval', run(), '--tta', 'mirror']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('none, flip');
  }, 60_000);
});
