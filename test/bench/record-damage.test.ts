// Damaged bench records (a field missing or of another type) give one clear error naming the file
// and the field, from --markdown, --compare and --tuning alike, instead of a TypeError deep in a
// reader or a summary that says 'scale undefined'. Every record under bench/results still reads.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../../bench/main.js';
import { readRecord } from '../../bench/record-file.js';
import type { BenchRecord } from '../../bench/report.js';
import { summarise } from '../../bench/timing.js';
import { FormatError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dawnet-record-damage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const t = summarise([1, 1.1, 1.2]);
const side = { timing: t, wall: t, clock: 'wall', rate: 1, pctPeak: null };
const good = (): BenchRecord => ({
  date: '2026-01-01T00:00:00.000Z', adapter: 'test', adapterReport: {}, command: 'dawnet bench', scale: 8,
  timing: { reps: 3, warmup: 1 }, tfjs: { version: '4.22.0', adapter: 'test' }, syncOverheadMs: { dawnet: 0.1, tfjs: 0.1 }, peak: null,
  rows: [{ id: 'launch/relu-1', group: 'elementwise', shape: '1', metric: 'bytes', work: 8, dawnet: side, tfjs: side, ratio: 1, ratioClock: 'wall', check: null }] as never,
  e2e: [],
});

function write(name: string, damage: (r: Record<string, any>) => void): string {
  const r = JSON.parse(JSON.stringify(good())) as Record<string, any>;
  damage(r);
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(r));
  return path;
}

describe('damaged bench records', () => {
  it('names the file and the first field a reader would miss', () => {
    const cases: [string, (r: Record<string, any>) => void, RegExp][] = [
      ['min.json', (r) => { for (const k of Object.keys(r)) if (k !== 'adapter' && k !== 'rows') delete r[k]; }, /'date' is missing/],
      ['scale.json', (r) => { r.scale = '8'; }, /'scale' is not a number/],
      ['reps.json', (r) => { delete r.timing.reps; }, /'timing.reps' is missing/],
      ['tfjs.json', (r) => { r.tfjs = {}; }, /'tfjs.version' is missing/],
      ['peak.json', (r) => { r.peak = { gflops: 1 }; }, /'peak.gbps' is missing/],
      ['row.json', (r) => { delete r.rows[0].dawnet.timing; }, /rows\[0\] \(launch\/relu-1\): 'dawnet.timing' is missing/],
      ['tfjs-side.json', (r) => { r.rows[0].tfjs = { rate: 1 }; }, /'tfjs.timing' is missing/],
      ['e2e.json', (r) => { r.e2e = [{ id: 'unet.train/b2' }]; }, /e2e\[0\] \(unet.train\/b2\): 'group' is missing/],
    ];
    for (const [name, damage, why] of cases) {
      const path = write(name, damage);
      expect(() => readRecord(path), name).toThrow(FormatError);
      expect(() => readRecord(path), name).toThrow(`${path}: a damaged dawnet bench record: `);
      expect(() => readRecord(path), name).toThrow(why);
    }
    const ok = write('ok.json', () => {});
    expect(readRecord(ok).adapter).toBe('test');
    expect(readRecord(write('no-peer.json', (r) => { r.tfjs = null; r.rows[0].tfjs = null; r.rows[0].ratio = null; r.rows[0].dawnet = { error: 'x' }; delete r.e2e; })).rows).toHaveLength(1);
  });

  it('gives --markdown, --compare and --tuning that error, not a TypeError', async () => {
    const ok = write('ok2.json', () => {});
    const bad = write('bad.json', (r) => { delete r.timing; });
    for (const args of [['--markdown', bad], ['--compare', ok, bad], ['--tuning', bad]]) {
      await expect(runBench(args), args[0]).rejects.toThrow(FormatError);
      await expect(runBench(args), args[0]).rejects.toThrow(`${bad}: a damaged dawnet bench record: 'timing' is missing`);
    }
  });

  it('reads every record under bench/results', () => {
    const files = execFileSync('find', ['bench/results', '-name', '*.json'], { cwd: ROOT }).toString().trim().split('\n');
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(() => readRecord(join(ROOT, f)), f).not.toThrow();
  });
});
