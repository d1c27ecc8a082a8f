// Builds dist/: the Node library (dist/index.js), the CLI (dist/cli.js) and the browser bundle
// (dist/browser/dawnet.js, no Node built-ins). `webgpu` stays external: Dawn's native module is
// loaded at run time, in Node only.
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
});
