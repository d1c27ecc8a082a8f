// Where a Node worker's script comes from. Built code runs `<name>.js` beside the module that
// starts it (the build emits it). Run from TypeScript sources (vitest), Node 20 cannot start a .ts
// worker, so the worker is bundled once with esbuild (a dev dependency) and started from source.

import { nodeModule } from '../io/files.js';

const bundled = new Map<string, Promise<string>>();

/**
 * The script of worker `name` (its file `<name>.ts` or `<name>.js` next to `here`, the starting
 * module's import.meta.url): a URL to start it from, or bundled source text to start with eval.
 * `missing` is thrown when built code lacks the script.
 */
export async function workerSource(here: string, name: string, missing: (url: URL) => Error): Promise<URL | string> {
  if (!here.endsWith('.ts')) {
    const url = new URL(`./${name}.js`, here);
    const fs = await nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
    await fs.access(url).catch(() => {
      throw missing(url);
    });
    return url;
  }
  const key = new URL(`./${name}.ts`, here).href;
  let source = bundled.get(key);
  if (!source) {
    source = (async () => {
      const esbuild = await nodeModule<typeof import('esbuild')>('esbuild');
      const { fileURLToPath } = await nodeModule<typeof import('node:url')>('node:url');
      const out = await esbuild.build({ entryPoints: [fileURLToPath(key)], bundle: true, platform: 'node', format: 'cjs', write: false, logLevel: 'silent', external: ['h5wasm', 'h5wasm/node'] });
      return out.outputFiles[0]!.text;
    })();
    bundled.set(key, source);
  }
  return source;
}
