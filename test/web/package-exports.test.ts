// `import 'dawnet'` from a consumer's bundler: package.json's "browser" condition must lead a
// browser build to dist/browser/dawnet.js (no Node import in it), and a Node build must still get
// dist/index.js. The consumer is a one-line file in a scratch folder whose node_modules/dawnet is
// a symlink to this checkout, bundled by esbuild as a consumer's build would. A TypeScript
// consumer gets the declarations in dist/types, checked under a demanding consumer's options.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './page-fixture.js';

let dir = '';

beforeAll(async () => {
  // The builds the package points at; `npm run build` makes them, and so does this when they are missing.
  if (['dist/browser/dawnet.js', 'dist/index.js', 'dist/types/index.d.ts'].some((f) => !existsSync(join(ROOT, f)))) {
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
    // The entry and the chunks it imports lazily (h5wasm's among them), no other build.
    expect(inputs).toContain('node_modules/dawnet/dist/browser/dawnet.js');
    const others = inputs.filter((p) => p !== 'node_modules/dawnet/dist/browser/dawnet.js');
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((p) => p.startsWith('node_modules/dawnet/dist/browser/chunks/')), inputs.join()).toBe(true);
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

// The library example of the README, typed, plus a layer, an optimiser step and a loss: what a
// TypeScript user writes first.
const TYPED_CONSUMER = `import * as dn from 'dawnet';
await dn.init();
const x = dn.tensor(new Float32Array(2 * 8 * 8 * 3), [2, 8, 8, 3], { requiresGrad: true });
const w = dn.tensor(new Float32Array(3 * 3 * 3 * 4).fill(0.1), [3, 3, 3, 4], { requiresGrad: true });
const y: dn.Tensor = dn.conv2d(x, w, null, { stride: 1, padding: 'same' });
const loss = dn.mean(dn.square(dn.relu(y)));
loss.backward();
const grad: Float32Array = await w.grad!.toArray();
const conv = new dn.nn.Conv2d(3, 4, { kernelSize: 3 });
const opt = new dn.optim.Adam(conv.parameters(), { lr: 1e-3 });
const p = dn.sigmoid(conv.forward(x));
dn.diceLoss(p, dn.zeros(p.shape)).backward();
opt.step();
const stats: dn.PoolStats = dn.memory();
console.log(grad.length, stats.bytesInUse, dn.info().name);
dn.shutdown();
`;

/**
 * Type-checks `source` as a consumer's main.ts under `lib` and `types`; tsc's diagnostics ('' when
 * there are none). strict plus the options that reject code a lenient project accepts, and no
 * skipLibCheck: every declaration dawnet ships is checked under them.
 */
function typeCheck(source: string, env: { lib?: string[]; types: string[] }): string {
  const consumer = join(dir, 'typed');
  mkdirSync(consumer, { recursive: true });
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      noUnusedLocals: true, noUnusedParameters: true, exactOptionalPropertyTypes: true,
      noImplicitOverride: true, noPropertyAccessFromIndexSignature: true, skipLibCheck: false,
      ...(env.lib ? { lib: env.lib } : {}), types: env.types,
    },
    files: ['main.ts'],
  };
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig));
  writeFileSync(join(consumer, 'package.json'), '{"type": "module"}');
  writeFileSync(join(consumer, 'main.ts'), source);
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', consumer], { cwd: dir, stdio: 'pipe' });
    return '';
  } catch (e) {
    return String((e as { stdout?: Buffer }).stdout ?? e);
  }
}

// The declarations name WebGPU's types (GPUBuffer, GPUDevice), which TypeScript's DOM lib has (a
// default lib; @webgpu/types needs it too, so a project without DOM checks dawnet with skipLibCheck).
describe('package.json types', () => {
  beforeAll(async () => {
    await mkdir(join(dir, 'node_modules/@types'), { recursive: true });
    await symlink(join(ROOT, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'), 'dir');
  });

  it('gives a TypeScript consumer declarations that check under strict options', () => {
    expect(typeCheck(TYPED_CONSUMER, { types: ['node'] })).toBe('');
  }, 60_000);

  it('types the API rather than leaving it any: a wrong call is refused', () => {
    const out = typeCheck(`import * as dn from 'dawnet';\nconst t: dn.Tensor = dn.conv2d('x', 3);\nconsole.log(t);\n`, { types: ['node'] });
    expect(out).toMatch(/main\.ts\(2,\d+\): error TS\d+/);
  }, 60_000);
});
