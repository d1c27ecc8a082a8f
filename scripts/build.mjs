// Builds dist/: the Node library (dist/index.js), the CLI (dist/cli.js), the browser bundle
// (dist/browser/dawnet.js, no Node built-ins), the type declarations (dist/types, what
// package.json's "types" names) and the GPU lease's probes (dist/probes/). `webgpu` stays
// external: Dawn's native module is loaded at run time, in Node only. package.json's "files"
// ships all of these but the probes (`npm pack` runs this first).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { buildDefine } from './build-info.mjs';

const started = Date.now();
const common = { bundle: true, format: 'esm', sourcemap: true, target: 'es2022', logLevel: 'warning', define: buildDefine(), metafile: true };
const node = { ...common, outdir: 'dist', platform: 'node', external: ['webgpu', 'h5wasm', 'playwright-core'] };
const requireShim = "import { createRequire as __dawnetRequire } from 'node:module'; const require = __dawnetRequire(import.meta.url);";

const [, , browser] = await Promise.all([
  build({ ...node, entryPoints: { index: 'src/index.ts', 'decode-worker': 'src/data/decode-worker.ts', 'keras-h5-worker': 'src/io/keras-h5-worker.ts' }, banner: { js: requireShim } }),
  // npm links package.json's "bin" as an executable file: without the hashbang the shell runs it.
  build({ ...node, entryPoints: { cli: 'src/cli/main.ts' }, banner: { js: `#!/usr/bin/env node\n${requireShim}` } }),
  build({
    ...common,
    entryPoints: { dawnet: 'src/index.ts' },
    outdir: 'dist/browser',
    platform: 'browser',
    // Node-only code paths import these lazily and never run in a browser.
    external: ['webgpu', 'node:*', 'h5wasm/node'],
    // h5wasm (HDF5 compiled to WebAssembly, inlined) is 5.5 of the bundle's 5.8 MiB and only reading a
    // Keras .h5 needs it: split out, a page loads it on its first .h5 (keras-h5.ts imports it lazily).
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  }),
  // The GPU lease's probes (bench/probes/*.ts, run by scripts/gpu-run.sh's DAWNET_PROBE), last:
  // the results above are read by position. In dist/probes/, which package.json's "files"
  // (dist/*.js) leaves out of the package.
  build({ ...node, entryPoints: readdirSync('bench/probes').filter((f) => f.endsWith('.ts')).map((f) => `bench/probes/${f}`), outdir: 'dist/probes', sourcemap: false, banner: { js: requireShim } }),
]);

// A chunk with none of dawnet's code (h5wasm's) gets no source map: h5wasm ships none, so its map
// (13 MiB, the WebAssembly inlined twice) would only map that chunk onto itself.
for (const [out, meta] of Object.entries(browser.metafile.outputs)) {
  if (out.endsWith('.js') && Object.keys(meta.inputs).every((input) => input.includes('node_modules/'))) {
    rmSync(`${out}.map`, { force: true });
    writeFileSync(out, readFileSync(out, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\n?$/, '\n'));
  }
}

// Declarations rather than the .ts sources, so a consumer's compiler options (noUnusedLocals,
// exactOptionalPropertyTypes, ...) never type-check dawnet's own code. esbuild emits no types.
// --noCheck: `npm run typecheck` checks the types; `npm ci` builds (package.json's "prepare"), and a
// type error must not stop it from installing, nor keep the tests from running.
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
let listed = '';
try {
  listed = execFileSync(process.execPath, [tsc, '-p', 'tsconfig.types.json', '--noCheck', '--listEmittedFiles'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
} catch (e) {
  process.stdout.write(e.stdout ?? '');
  process.exit(1);
}
const declarations = new Set(listed.split('\n').filter((l) => l.startsWith('TSFILE: ')).map((l) => resolve(l.slice(8).trim())));

/**
 * Removes what earlier builds left in `dir` and this one did not write (chunks under an old hash,
 * declarations of deleted sources), so `npm pack` ships this build only. A file newer than this
 * build's start is another build's, running beside it in the same checkout: left alone.
 */
function prune(dir, written) {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = resolve(entry.parentPath ?? entry.path, entry.name);
    if (entry.isFile() && !written.has(path) && statSync(path).mtimeMs < started) rmSync(path, { force: true });
  }
}
prune('dist/browser', new Set(Object.keys(browser.metafile.outputs).map((out) => resolve(out))));
prune('dist/types', declarations);
