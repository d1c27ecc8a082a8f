// Runs the real `dawnet` command: the CLI bundled once per test file with esbuild, executed with
// node in a child process, as a user would run it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { build } from 'esbuild';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export async function buildCli(): Promise<string> {
  const dir = mkdtempSync(join(resolve('node_modules'), '.dawnet-cli-test-'));
  await build({
    entryPoints: { cli: 'src/cli/main.ts', 'decode-worker': 'src/data/decode-worker.ts' },
    outdir: dir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['webgpu', 'h5wasm', 'playwright-core', '@tensorflow/*'],
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
    logLevel: 'silent',
  });
  return join(dir, 'cli.js');
}

/** Strips Dawn's harmless adapter warnings so assertions see only dawnet's output. */
export function clean(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^Warning: max(Dynamic|Storage)|XDG_RUNTIME_DIR/.test(l))
    .join('\n');
}

/** `env`: variables set for the child on top of this process's (LP_NUM_THREADS, say). */
export function runCli(cli: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string>; onStdout?: (chunk: string, kill: (s: NodeJS.Signals) => void) => void } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // The progress bar writes to stderr: watchers see both streams.
      opts.onStdout?.(stdout + stderr, (s) => child.kill(s));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout: clean(stdout), stderr: clean(stderr) });
    });
  });
}

export function runCliSync(cli: string, args: string[]): CliResult {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: clean(r.stdout), stderr: clean(r.stderr) };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface CliWorkspace {
  /** The built CLI. */
  cli: string;
  /** A temporary folder for the file's runs. */
  work: string;
  /** A synthetic kaggle_3m folder in it, made by `dawnet synth`. */
  data: string;
}

/**
 * A test file's CLI and synthetic data set: built and made before its tests (`synth` takes
 * `synthArgs` after --out), removed after them; `ready` receives them.
 */
export function useCliWorkspace(prefix: string, synthArgs: string[], ready: (ws: CliWorkspace) => void): void {
  let ws: CliWorkspace | null = null;
  beforeAll(async () => {
    const cli = await buildCli();
    const work = tempDir(prefix);
    ws = { cli, work, data: join(work, 'kaggle_3m') };
    const r = await runCli(cli, ['synth', '--out', ws.data, ...synthArgs]);
    expect(r.code, r.stderr).toBe(0);
    ready(ws);
  }, 120_000);
  afterAll(() => {
    if (!ws) return;
    rmSync(dirname(ws.cli), { recursive: true, force: true });
    rmSync(ws.work, { recursive: true, force: true });
  });
}
