// Imports one of the repository's TypeScript modules into a script, without a build of dist/:
// esbuild bundles it for Node into a temporary file, which is loaded and removed. Used by
// scripts/readme-bench.mjs (bench/markdown.ts, bench/summary.ts, bench/record-file.ts) and scripts/bench-browser.mjs
// (src/cli/serve.ts, bench/record-file.ts).
import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The module at `entry` (a path relative to the repository), with its exports. */
export async function importTs(entry) {
  const dir = await mkdtemp(join(tmpdir(), 'dawnet-ts-module-'));
  try {
    const out = join(dir, 'module.mjs');
    await build({
      entryPoints: [join(ROOT, entry)],
      outfile: out,
      bundle: true,
      format: 'esm',
      platform: 'node',
      logLevel: 'warning',
      // Loaded at run time where a path needs them, as in the CLI's bundle.
      external: ['webgpu', 'h5wasm', '@tensorflow/*', 'playwright-core'],
    });
    return await import(pathToFileURL(out).href);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
