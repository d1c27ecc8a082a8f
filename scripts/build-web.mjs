// Builds the browser page into dist/web/: web/app.ts bundled by esbuild (Chart.js included), with
// index.html and style.css copied beside it. `node scripts/build-web.mjs [--outdir DIR] [--minify]`.
//
// The library reaches Node built-ins only through lazy imports (mostly by variable name, which
// esbuild cannot see; a few by literal name inside Node-only functions). `node:*` stays external
// here as in scripts/build.mjs, and the metafile is checked so that no Node built-in, and no
// `webgpu`, is imported statically on the page's path: such an import would run as the page
// loads and break it. Lazy `import()`s of them are listed but allowed: they run only when a
// Node-only function is called, which the page never does.
import { build } from 'esbuild';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_ONLY = new Set(['webgpu', 'h5wasm/node', ...builtinModules]);
const STATIC_KINDS = new Set(['import-statement', 'require-call', 'require-resolve', 'import-rule']);

const isNodeOnly = (path) => path.startsWith('node:') || NODE_ONLY.has(path);

/**
 * Follows static imports from the entry through the metafile's inputs and returns every chain that
 * ends in a Node-only module, e.g. ['web/app.ts', 'src/x.ts', 'node:fs']. Dynamic imports are not
 * followed: what they load runs only when the importing function is called.
 */
export function nodeImportChains(metafile, entry) {
  const chains = [];
  const seen = new Set([entry]);
  const queue = [[entry]];
  while (queue.length) {
    const chain = queue.shift();
    const input = metafile.inputs[chain[chain.length - 1]];
    for (const imp of input?.imports ?? []) {
      if (!STATIC_KINDS.has(imp.kind)) continue;
      if (isNodeOnly(imp.path) || isNodeOnly(imp.original ?? '')) chains.push([...chain, imp.path]);
      else if (!imp.external && !seen.has(imp.path)) {
        seen.add(imp.path);
        queue.push([...chain, imp.path]);
      }
    }
  }
  return chains;
}

/** Node-only imports left in the bundle itself, split into static (fatal) and lazy ones. */
export function outputNodeImports(metafile) {
  const found = { static: [], lazy: [] };
  for (const [file, out] of Object.entries(metafile.outputs)) {
    for (const imp of out.imports ?? []) {
      if (!isNodeOnly(imp.path)) continue;
      (STATIC_KINDS.has(imp.kind) ? found.static : found.lazy).push(`${file}: ${imp.kind} ${imp.path}`);
    }
  }
  return found;
}

export async function buildWeb({ outdir = join(ROOT, 'dist/web'), minify = false, log = console.log } = {}) {
  await mkdir(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: 'web/app.ts' },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify,
    metafile: true,
    logLevel: 'warning',
    // Node-only paths of the library import these lazily and never run in a browser.
    external: ['webgpu', 'node:*', 'h5wasm/node'],
  });
  const chains = nodeImportChains(result.metafile, 'web/app.ts');
  const left = outputNodeImports(result.metafile);
  if (chains.length || left.static.length) {
    const lines = [...chains.map((c) => c.join(' -> ')), ...left.static];
    throw new Error(`build-web: the page would import Node-only modules as it loads:\n  ${lines.join('\n  ')}`);
  }
  await copyFile(join(ROOT, 'web/index.html'), join(outdir, 'index.html'));
  await copyFile(join(ROOT, 'web/style.css'), join(outdir, 'style.css'));
  await writeFile(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  const bytes = Object.entries(result.metafile.outputs).find(([f]) => f.endsWith('app.js'))?.[1].bytes ?? 0;
  log(`build-web: ${outdir}/app.js ${(bytes / 1024).toFixed(0)} KiB; lazy Node-only imports left (never run on the page): ${left.lazy.length}`);
  return { outdir, metafile: result.metafile, lazyNodeImports: left.lazy };
}

const USAGE = 'usage: node scripts/build-web.mjs [--outdir DIR] [--minify]';

/**
 * The command line's options, strictly: an unknown option, a stray argument or an `--outdir`
 * without its folder is refused. Read loosely, `--outdir` alone resolved '' to the current folder
 * and wrote the page there (the repository root, from npm), and `--outdir=DIR` or a misspelt
 * `--minfy` were ignored without a word.
 */
export function parseBuildWebArgs(argv) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { outdir: { type: 'string' }, minify: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new Error(`build-web: ${e.message}; ${USAGE}`);
  }
  if (values.outdir !== undefined && !values.outdir.trim()) throw new Error(`build-web: --outdir needs a folder, got an empty one; ${USAGE}`);
  return { outdir: values.outdir === undefined ? undefined : resolve(values.outdir), minify: values.minify ?? false };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await buildWeb(parseBuildWebArgs(process.argv.slice(2)));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
