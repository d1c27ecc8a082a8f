// bench/summary.ts, the README's short benchmark summary: its figures are the full section's
// (bench/markdown.ts) for the same record, the conv rows span exactly the U-Net rows' figures, and a
// failed or wrong row is said, not hidden in a range.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { markdownReport } from '../../bench/markdown.js';
import { readRecord } from '../../bench/record-file.js';
import type { BenchRecord } from '../../bench/report.js';
import { summaryLines } from '../../bench/summary.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECORDS = ['nvidia-h200', 'mesa-software-llvmpipe-llvm-15-0-6-256-bits', 'google-swiftshader-0xc0de-chromium'] as const;
const record = (name: string): BenchRecord => readRecord(join(ROOT, 'bench/results', `${name}.json`));

/** The cells of the summary's table row that starts with `first`. */
function cells(lines: string[], first: string): string[] {
  const row = lines.find((l) => l.startsWith(`| ${first} |`));
  expect(row, `no row '${first}'`).toBeDefined();
  return row!.slice(2, -2).split(' | ');
}

describe('benchmark summary', () => {
  it.each(RECORDS)("%s: the full section's bars, end-to-end ratios and conv ranges", (name) => {
    const rec = record(name);
    const lines = summaryLines(rec);
    const full = markdownReport(rec);
    expect(lines[0]).toContain(`**${rec.adapter}** on ${rec.date.slice(0, 10)}${rec.commit ? ` (dawnet at ${rec.commit})` : ''} with \`${rec.command}\``);
    const bars = lines.filter((l) => l.startsWith('- '));
    expect(bars).toHaveLength(4);
    for (const b of bars) expect(full.split('\n')).toContain(b);
    for (const r of rec.e2e ?? []) {
      const [, rate, ratio] = cells(lines, `\`${r.id}\``);
      const fullRow = full.split('\n').find((l) => l.startsWith(`| ${r.id} |`))!;
      expect(fullRow).toContain(`| ${ratio} |`);
      expect(fullRow).toContain(`(${rate})`);
    }
    for (const dir of ['forward', 'backwardInput', 'backwardWeight']) {
      const rows = rec.rows.filter((r) => new RegExp(`^conv2d\\.${dir}/unet-l\\d+$`).test(r.id));
      const ratios = rows.map((r) => r.ratio!);
      const [, , ratio] = cells(lines, `conv2d.${dir} at the ${rows.length} U-Net shapes`);
      expect(ratio).toBe(`${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x`);
    }
    expect(lines.at(-1)).toMatch(/^- peak GPU memory/);
  });

  it('says where a conv row failed or its outputs differed', () => {
    const rec = structuredClone(record('mesa-software-llvmpipe-llvm-15-0-6-256-bits'));
    const row = (id: string) => rec.rows.find((r) => r.id === id)!;
    // Every U-Net conv clear of the bar first, so the two rows below are its only misses whatever the record measured.
    for (const r of rec.rows) if (/^conv2d\.\w+\/unet-l\d$/.test(r.id) && typeof r.ratio === 'number') r.ratio = Math.max(r.ratio, 5);
    row('conv2d.forward/unet-l1').dawnet = { error: 'device lost' };
    row('conv2d.forward/unet-l1').ratio = null;
    row('conv2d.forward/unet-l2').check = { ok: false, maxRelErr: 0.5, tolerance: 1e-3 };
    const [, time, ratio] = cells(summaryLines(rec), 'conv2d.forward at the 5 U-Net shapes');
    expect(time).toMatch(/^\d.* ms$/);
    expect(ratio).toMatch(/\(1 failed, outputs differ in 1\)$/);
    expect(summaryLines(rec)).toContain('- conv2d (all directions) at the U-Net shapes vs tfjs, >= 3x: missed by 2 of 15');
  });
});
