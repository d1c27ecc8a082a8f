// The 'shared' test project reuses a worker's module graph from file to file (vitest.config.ts).
// A file that replaces modules or globals, or loads TensorFlow.js, would leave that behind for the
// files after it, so it must be listed in test/isolated-files.ts: this scans every test file for
// those markers.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ISOLATED_TEST_FILES } from '../isolated-files.js';

const root = join(import.meta.dirname, '..', '..');

const MARKERS: [RegExp, string][] = [
  [/\bvi\.(mock|doMock|stubGlobal|stubEnv|resetModules)\(/, 'replaces a module or global'],
  [/from '[^']*(@tensorflow\/|tfjs-peer|peer-tfjs)[^']*'|import\('[^']*(@tensorflow\/|peer-tfjs)/, 'loads TensorFlow.js'],
  [/from 'webgpu'/, 'makes a Dawn instance of its own'],
];

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

/** The reasons a test file's source gives for running isolated. */
export function isolationReasons(source: string): string[] {
  return MARKERS.filter(([pattern]) => pattern.test(source)).map(([, why]) => why);
}

describe('test files that change the process run isolated', () => {
  const files = testFiles(join(root, 'test')).map((f) => relative(root, f).split('\\').join('/'));
  // This file quotes the markers as examples.
  const self = relative(root, import.meta.filename).split('\\').join('/');

  it('the markers are seen where they are and not where they are not', () => {
    expect(isolationReasons("vi.mock('../../src/app/run-model.js', () => ({}));")).toEqual(['replaces a module or global']);
    expect(isolationReasons("import { makePeer } from '../helpers/tfjs-peer.js';")).toEqual(['loads TensorFlow.js']);
    expect(isolationReasons("const tf = await import('@tensorflow/tfjs-core');")).toEqual(['loads TensorFlow.js']);
    expect(isolationReasons("import { create, globals } from 'webgpu';")).toEqual(['makes a Dawn instance of its own']);
    expect(isolationReasons("const spy = vi.spyOn(module, 'run'); // restored by the set-up file")).toEqual([]);
  });

  it('every file with a marker is listed in test/isolated-files.ts', () => {
    const missing = files
      .map((f) => ({ f, why: isolationReasons(readFileSync(join(root, f), 'utf8')) }))
      .filter(({ f, why }) => f !== self && why.length > 0 && !ISOLATED_TEST_FILES.includes(f))
      .map(({ f, why }) => `${f} (${why.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('every listed file exists', () => {
    expect(ISOLATED_TEST_FILES.filter((f) => !files.includes(f))).toEqual([]);
  });
});
