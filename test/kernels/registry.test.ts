// Every op file in src/kernels has tests: some test file imports it. Infrastructure files (WGSL
// helpers, kernel generators used through an op file) are listed with the op file that tests them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const INFRASTRUCTURE: Record<string, string> = {
  'wgsl.ts': 'shared launch helpers, exercised by every op',
  'conv2d-gemm.ts': 'WGSL generators behind conv2d.ts',
  'conv2d-gemm-common.ts': 'WGSL pieces shared by the conv2d generators, behind conv2d.ts',
  'conv2d-subgroup.ts': "the subgroup family's WGSL generator, behind conv2d.ts (tested through it on every case)",
};

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

describe('kernel registry', () => {
  const sources = testFiles('test').map((f) => readFileSync(f, 'utf8'));
  const files = readdirSync('src/kernels').filter((f) => f.endsWith('.ts'));
  it('lists only infrastructure files that exist', () => {
    for (const f of Object.keys(INFRASTRUCTURE)) expect(files, f).toContain(f);
  });
  for (const file of files.filter((f) => !INFRASTRUCTURE[f])) {
    it(`${file} has tests`, () => {
      const module = `kernels/${file.replace(/\.ts$/, '.js')}`;
      expect(sources.some((s) => s.includes(module)), `no test imports src/${module}`).toBe(true);
    });
  }
});
