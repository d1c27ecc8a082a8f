// `npm run bench:browser -- [bench options]`: `dawnet bench` in headless Chromium, on the page's
// WebGPU (here SwiftShader's adapter; a GPU's where Chromium has one), with TensorFlow.js's WebGPU
// backend in the same page on the same adapter. Bundles bench/web.ts, serves it on 127.0.0.1 with
// `dawnet serve`'s server (a secure context, as WebGPU needs), prints the page's console, and
// writes the record it returns to bench/results/<adapter>-chromium.json (or --out FILE), whole or
// not at all; where that default record exists (the READMEs are generated from it), to a new file
// beside it instead, <adapter>-chromium.<UTC date-time>.json, as `dawnet bench` does.
//
// Chromium: CHROMIUM or /usr/bin/chromium (Debian's package; scripts/ensure-env.sh --browser
// installs it). Its flags: WebGPU on Vulkan with SwiftShader's adapter unless DAWNET_BROWSER_GPU=1,
// and --enable-webgpu-developer-features so timestamps are not rounded to 100 us; DAWNET_BROWSER_FLAGS
// adds more.
import { build } from 'esbuild';
import { buildDefine } from './build-info.mjs';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importTs } from './ts-module.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--enable-webgpu-developer-features',
  ...(process.env.DAWNET_BROWSER_GPU === '1' ? [] : ['--use-webgpu-adapter=swiftshader']),
  // More flags for a diagnosis, space-separated: e.g. a Dawn toggle to see what it costs
  // (--enable-dawn-features=disable_workgroup_init,allow_unsafe_apis).
  ...(process.env.DAWNET_BROWSER_FLAGS ?? '').split(' ').filter(Boolean),
];

/**
 * '--out FILE' is the driver's; every other argument goes to the page's `dawnet bench`. A bare
 * --out (or one followed by an option) is an error, as in `dawnet bench`: it used to fall back to
 * the default record.
 */
export function splitArgs(argv) {
  const page = [];
  let out = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--out') {
      page.push(argv[i]);
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v === '' || v.startsWith('--')) throw new Error(`--out needs a file${v === undefined ? '' : `, got '${v}'`}`);
    out = v;
  }
  return { page, out };
}

async function bundle(dir) {
  await build({
    entryPoints: { bench: join(ROOT, 'bench/web.ts') },
    outdir: dir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
    define: buildDefine(ROOT),
    // Node-only code paths import these lazily and never run in the page.
    external: ['webgpu', 'node:*', 'h5wasm/node'],
  });
  await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>dawnet bench</title><link rel="icon" href="data:,"><script type="module" src="bench.js"></script>\n');
}

async function main() {
  const { page: args, out } = splitArgs(process.argv.slice(2));
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (scripts/ensure-env.sh --browser does) or set CHROMIUM`);
  if (out === null) console.log('record: bench/results/<adapter>-chromium.json, or where that exists a new file beside it, <adapter>-chromium.<UTC date-time>.json (--out FILE to choose)');
  const dir = await mkdtemp(join(tmpdir(), 'dawnet-bench-web-'));
  let server;
  let browser;
  try {
    await bundle(dir);
    const { startServer } = await importTs('src/cli/serve.ts');
    // Cross-origin isolated, so performance.now() ticks in microseconds, not 100 us steps.
    server = await startServer({
      root: dir,
      port: 0,
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    const page = await browser.newPage();
    page.on('console', (msg) => console.log(msg.text()));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(server.url);
    await page.waitForFunction(() => typeof window.__dawnetBench === 'function', null, { timeout: 60_000 });
    const result = await page.evaluate((a) => window.__dawnetBench(a), args);
    if ('failedChecks' in result) {
      if (result.failedChecks) throw new Error(`${result.failedChecks} GPU check(s) differ from the CPU reference`);
      return;
    }
    if (!('record' in result)) return;
    const { keptRecordNote, recordTarget } = await importTs('bench/record-file.ts');
    const target = recordTarget(out, join(ROOT, 'bench', 'results', `${result.slug}-chromium.json`));
    target.save(result.record);
    console.log(`record written to ${target.path}`);
    if (target.kept) console.log(keptRecordNote(target, 'end'));
  } finally {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// Run as a script, not when a test imports splitArgs.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e) => {
      // An error in the page arrives as 'page.evaluate: Name: message' followed by its stack.
      const line = e.message.split('\n')[0].replace(/^page\.evaluate: (UsageError|FormatError): /, '');
      console.error(`bench:browser: ${line}`);
      if (process.env.DAWNET_DEBUG) console.error(e.stack);
      process.exit(1);
    },
  );
}
