// `npm run bench:browser` (scripts/bench-browser.mjs driving bench/web.ts in Debian's headless
// Chromium): one tiny case timed in the page on dawnet and on tfjs, both on the page's WebGPU
// (SwiftShader's adapter), their outputs compared, and the record written where --out says.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BenchRecord } from '../../bench/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const hasChromium = existsSync(process.env.CHROMIUM ?? '/usr/bin/chromium');

function driver(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((ok) => {
    execFile(process.execPath, ['scripts/bench-browser.mjs', ...args], { cwd: ROOT, timeout: 240_000 }, (error, stdout, stderr) =>
      ok({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe.runIf(hasChromium)('bench in the browser', () => {
  it('times a case on dawnet and tfjs in the page and writes the record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dawnet-bench-browser-'));
    try {
      const out = join(dir, 'record.json');
      const run = await driver(['--only', '^relu/unet-l1$', '--no-e2e', '--no-peak', '--scale', '16', '--warmup', '1', '--reps', '2', '--out', out]);
      expect(run.code, run.out).toBe(0);
      expect(run.out).toMatch(/adapter: .*swiftshader/i);
      expect(run.out).toMatch(/relu\/unet-l1 /);
      const rec = JSON.parse(await readFile(out, 'utf8')) as BenchRecord;
      expect(rec.command).toContain('npm run bench:browser');
      expect(rec.tfjs?.version).toMatch(/^\d+\.\d+/);
      expect(rec.rows.map((r) => r.id)).toEqual(['relu/unet-l1']);
      const [row] = rec.rows;
      for (const side of [row.dawnet, row.tfjs]) {
        if (!side || 'error' in side) throw new Error(`a side failed: ${JSON.stringify(side)}`);
        expect(side.timing.samplesMs).toHaveLength(2);
        expect(side.timing.medianMs).toBeGreaterThan(0);
      }
      expect(row.ratio).toBeGreaterThan(0);
      // relu of the same float32 values on both sides: bit-identical.
      expect(row.check).toEqual(expect.objectContaining({ ok: true, maxRelErr: 0 }));
      // SwiftShader's subgroups have 4 lanes: the record says so for the bars' tile figures.
      expect(rec.convLanes).toBe(4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('fails plainly on an unknown option', async () => {
    const run = await driver(['--no-such-option']);
    expect(run.code).not.toBe(0);
    expect(run.out).toMatch(/unknown option '--no-such-option'/);
  }, 120_000);
});
