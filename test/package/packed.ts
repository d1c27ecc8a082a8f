// dawnet as another project gets it: `npm pack` (whose `prepare` script builds dist/) in a copy of
// this checkout's sources, the tarball unpacked into a scratch project's node_modules/dawnet as
// `npm install` leaves it, its registry dependencies linked from this checkout's node_modules (no
// network). The copy keeps the shared dist/ out of it: other test files read that one meanwhile.

import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What the build reads, and what npm pack reads besides the build. */
const SOURCES = ['src', 'bench', 'scripts/build.mjs', 'scripts/build-info.mjs', 'tsconfig.json', 'tsconfig.types.json', 'package.json', 'README.md', '.gitignore'];

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The command and how it ended, for a failing assertion's message. */
  summary: string;
}

/** Runs `file` with `args` in `cwd` (node's own folder first on PATH, for the CLI's hashbang); never throws. */
export function run(file: string, args: string[], cwd: string, timeoutMs = 60_000): Ran {
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };
  const r = spawnSync(file, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const ended = r.error ? `failed to run or was stopped after ${timeoutMs} ms (${r.error.message})` : `exited ${r.status}${r.signal ? ` on ${r.signal}` : ''}`;
  const summary = `${file} ${args.join(' ')} in ${cwd} ${ended}\n--- stdout\n${r.stdout?.slice(-4000)}\n--- stderr\n${r.stderr?.slice(-4000)}`;
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', summary };
}

export interface PackedFile {
  path: string;
  size: number;
}

export interface Installed {
  /** The scratch project: package.json, node_modules/dawnet, node_modules/.bin/dawnet. */
  project: string;
  /** The checkout copy that was packed. */
  checkout: string;
  files: PackedFile[];
  /** Bytes: the .tgz, and its files unpacked. */
  size: number;
  unpackedSize: number;
  /** The package's own package.json, as packed. */
  manifest: { dependencies?: Record<string, string>; [key: string]: unknown };
}

/** Files an earlier build left (old mtime) and one written by a build running beside this one (newer). */
export const STALE = ['dist/browser/chunks/chunk-STALE.js', 'dist/browser/chunks/chunk-STALE.js.map', 'dist/types/gone/old.d.ts'];
export const BESIDE = 'dist/types/beside.d.ts';
/** The page's build (`npm run serve` makes it): not the library's, so not packed. */
export const PAGE_BUILD = 'dist/web/app.js';

/**
 * A type error planted in the copy's sources. The build emits declarations without checking them
 * (`npm run typecheck` checks), since `npm ci` builds through "prepare" and must still install.
 */
export const TYPE_ERROR = { file: 'src/errors.ts', line: "const plantedByPackageTest: number = 'not a number';" };

function plant(checkout: string, rel: string, mtime: Date): void {
  const path = join(checkout, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, 'export {};\n');
  utimesSync(path, mtime, mtime);
}

/** A scratch folder for packAndInstall; the caller removes it. */
export const scratchDir = (): string => mkdtempSync(join(tmpdir(), 'dawnet-package-'));

/** Packs a copy of the checkout and installs the tarball into a scratch project, all under `dir`. */
export function packAndInstall(dir: string): Installed {
  const checkout = join(dir, 'checkout');
  for (const rel of SOURCES) cpSync(join(ROOT, rel), join(checkout, rel), { recursive: true, filter: (src) => !src.includes(join('bench', 'results')) });
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  for (const rel of STALE) plant(checkout, rel, new Date('2000-01-01T00:00:00Z'));
  plant(checkout, BESIDE, new Date('2099-01-01T00:00:00Z'));
  plant(checkout, PAGE_BUILD, new Date());
  appendFileSync(join(checkout, TYPE_ERROR.file), `\n${TYPE_ERROR.line}\n`);

  const out = join(dir, 'tgz');
  mkdirSync(out);
  const packed = run('npm', ['pack', '--json', '--pack-destination', out], checkout, 180_000);
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.summary}`);
  const report = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as { filename: string; files: PackedFile[]; size: number; unpackedSize: number }[];
  const { filename, files, size, unpackedSize } = report[0]!;

  const project = join(dir, 'project');
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const unpacked = run('tar', ['-xzf', join(out, filename), '-C', dir], dir);
  if (unpacked.status !== 0) throw new Error(`unpacking the tarball failed: ${unpacked.summary}`);
  renameSync(join(dir, 'package'), join(modules, 'dawnet'));
  const manifest = JSON.parse(readFileSync(join(modules, 'dawnet/package.json'), 'utf8')) as Installed['manifest'];
  // npm would fetch these from the registry; this checkout's copies are the same versions.
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    if (!existsSync(join(ROOT, 'node_modules', dep))) throw new Error(`package.json's dependency ${dep} is not in ${join(ROOT, 'node_modules')}: run npm ci`);
    mkdirSync(dirname(join(modules, dep)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), join(modules, dep), 'dir');
  }
  // What npm's bin-links does with package.json's "bin".
  const bin = (manifest.bin as Record<string, string>).dawnet!;
  if (!files.some((f) => f.path === bin.replace(/^\.\//, ''))) {
    throw new Error(`the tarball lacks ${bin} (package.json's bin): npm pack did not build dist/ (package.json's "prepare" runs scripts/build.mjs); it holds ${files.map((f) => f.path).join(', ')}`);
  }
  chmodSync(join(modules, 'dawnet', bin), 0o755);
  symlinkSync(join('..', 'dawnet', bin), join(modules, '.bin/dawnet'));
  return { project, checkout, files, size, unpackedSize, manifest };
}
