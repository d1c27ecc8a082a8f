// Builds dist/: the Node library (dist/index.js), the CLI (dist/cli.js), the browser bundle
// (dist/browser/dawnet.js, no Node built-ins) and the type declarations (dist/types, what
// package.json's "types" names). `webgpu` stays external: Dawn's native module is loaded at run
// time, in Node only.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { buildDefine } from './build-info.mjs';

const common = { bundle: true, format: 'esm', sourcemap: true, target: 'es2022', logLevel: 'warning', define: buildDefine() };

await build({
  ...common,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli/main.ts', 'decode-worker': 'src/data/decode-worker.ts', 'keras-h5-worker': 'src/io/keras-h5-worker.ts' },
  outdir: 'dist',
  platform: 'node',
  external: ['webgpu', 'h5wasm', 'playwright-core'],
  banner: { js: "import { createRequire as __dawnetRequire } from 'node:module'; const require = __dawnetRequire(import.meta.url);" },
});

await build({
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
});

// Declarations rather than the .ts sources, so a consumer's compiler options (noUnusedLocals,
// exactOptionalPropertyTypes, ...) never type-check dawnet's own code. esbuild emits no types.
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.types.json'], { stdio: 'inherit' });
