// `import 'dawnet'` from a consumer's bundler: package.json's "browser" condition must lead a
// browser build to dist/browser/dawnet.js (no Node import in it), and a Node build must still get
// dist/index.js. The consumer is a one-line file in a scratch folder whose node_modules/dawnet is
// a symlink to this checkout, bundled by esbuild as a consumer's build would.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './page-fixture.js';

let dir = '';

beforeAll(async () => {
  // The builds the package points at; `npm run build` makes them, and so does this when they are missing.
  if (!existsSync(join(ROOT, 'dist/browser/dawnet.js')) || !existsSync(join(ROOT, 'dist/index.js'))) {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
  }
  dir = await mkdtemp(join(tmpdir(), 'dawnet-consumer-'));
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules/dawnet'), 'dir');
  await writeFile(join(dir, 'main.js'), "import * as dn from 'dawnet';\nawait dn.init();\nconsole.log(dn.info());\n");
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Bundles the consumer for `platform`: the package files it took in, and the imports left in the output. */
async function bundle(platform: 'browser' | 'node'): Promise<{ inputs: string[]; imports: string[]; text: string }> {
  const outfile = join(dir, `out-${platform}.js`);
  const result = await build({ absWorkingDir: dir, entryPoints: ['main.js'], bundle: true, format: 'esm', platform, outfile, metafile: true, logLevel: 'silent', preserveSymlinks: true });
  const meta: Metafile = result.metafile;
  return {
    inputs: Object.keys(meta.inputs).filter((p) => p.startsWith('node_modules/dawnet/')),
    imports: Object.values(meta.outputs).flatMap((o) => o.imports.map((i) => i.path)),
    text: await readFile(outfile, 'utf8'),
  };
}

describe('package.json exports', () => {
  it('gives a browser bundler the browser build, which imports no Node module', async () => {
    const { inputs, imports, text } = await bundle('browser');
    expect(inputs).toEqual(['node_modules/dawnet/dist/browser/dawnet.js']);
    expect(imports.filter((p) => p.startsWith('node:') || p === 'webgpu')).toEqual([]);
    // Nor a static import of one written in the text (the Node build's first line is one).
    expect(text).not.toMatch(/\bfrom\s*["']node:|\bimport\s*["']node:/);
  });

  it('gives a Node bundler the Node build', async () => {
    const { inputs } = await bundle('node');
    expect(inputs).toContain('node_modules/dawnet/dist/index.js');
    expect(inputs).not.toContain('node_modules/dawnet/dist/browser/dawnet.js');
  });
});
