// scripts/gpu-run-packed.sh and gpu-run.sh's time limits, on a fake bundle whose `node` is a shell
// script that sleeps through its bench cases (no GPU, no Node unpacked): gpu-run.sh cuts its
// steps and the bench's budget to the deadline the packed script passes down, so the run ends
// inside the limit; when the limit itself strikes, nothing gpu-run.sh started outlives it (its
// step limits are `timeout --foreground`, so the outer group kill reaches them), and bench.md and
// tuning.txt are still made from the record as it stood; a missing bundle is explained in OUTDIR.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKED = join(ROOT, 'scripts/gpu-run-packed.sh');
const usable = process.platform === 'linux' && spawnSync('xz', ['--version']).status === 0 && spawnSync('timeout', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'dawnet-gpu-run-'));
const BUNDLE = join(dir, 'bundle');
const PIDS = join(dir, 'pids');

/**
 * The bundle's `node`: `-v`, a probe (`dist/probes/NAME.js OUT.json`), then `cli.js COMMAND ...`. A bench with --out writes its record once
 * a second and prints nothing meanwhile, like a long case: a killed tee cannot end it by SIGPIPE.
 */
const FAKE_NODE = `#!/usr/bin/env bash
[[ "\${1:-}" == -v ]] && { echo v0-fake; exit 0; }
[[ "$1" == */dist/probes/*.js ]] && { echo "fake probe: $*"; echo '{"probe":true}' >"$2"; exit 0; }
shift
echo "fake node: $*"
case "$1" in info|smoke) exit 0;; esac
out='' budget='' record='' prev=''
for a in "$@"; do
  case "$prev" in --out) out=$a;; --budget) budget=$a;; --markdown|--tuning) record=$a;; esac
  prev=$a
done
[[ " $* " == *" --checks "* ]] && { echo "checks passed"; exit 0; }
[[ -z "$out" ]] && { echo "rendered $record: $(cat "$record")"; exit 0; }
echo $$ >>"$FAKE_PIDS"
echo '{"cases":0}' >"$out"
for ((i = 1; i <= 60; i++)); do
  [[ -z "\${FAKE_IGNORE_BUDGET:-}" && -n "$budget" && $SECONDS -ge $budget ]] && break
  sleep 1
  echo "{\\"cases\\":$i}" >"$out"
done
echo "cases done"
`;

function makeBundle(): void {
  mkdirSync(join(BUNDLE, 'dist'), { recursive: true });
  for (const d of ['lib/vulkan', 'lib/glvnd']) mkdirSync(join(BUNDLE, d), { recursive: true });
  writeFileSync(join(BUNDLE, 'dist/cli.js'), '');
  writeFileSync(join(BUNDLE, 'VERSIONS'), 'node fake\n');
  writeFileSync(join(dir, 'node'), FAKE_NODE);
  chmodSync(join(dir, 'node'), 0o755);
  writeFileSync(join(BUNDLE, 'node.xz'), execFileSync('xz', ['-c', join(dir, 'node')]));
  writeFileSync(join(BUNDLE, 'dawn.node.xz'), execFileSync('xz', ['-c'], { input: 'x' }));
}

/** Runs the packed script; its status, seconds taken and what it left in a fresh OUTDIR. */
function packed(name: string, limitS: number, env: Record<string, string>) {
  const out = join(dir, name);
  const t0 = performance.now();
  const run = spawnSync('bash', [PACKED, out, String(limitS)], {
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, DAWNET_BUNDLE: BUNDLE, DAWNET_GPU_WORK: join(dir, `work-${name}`), FAKE_PIDS: PIDS, DAWNET_CHECKS: 'no', DAWNET_BARS_FIRST: 'no', TMPDIR: dir, ...env },
  });
  const file = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : null);
  const files = existsSync(out) ? readdirSync(out) : [];
  return { status: run.status, seconds: (performance.now() - t0) / 1000, log: run.stdout + run.stderr, file, files };
}

/**
 * Whether `pid` is still one of this file's fake benches: alive, and running a script under this
 * file's folder. A bench that has exited leaves its number to the kernel, which gives it to the
 * next process or thread (pid_max is 32768 here, and the suite starts threads by the thousand):
 * signalling that number blindly killed a vitest worker now and then ("Worker exited
 * unexpectedly" at the end of CI runs). Where /proc cannot say (not Linux), nothing is ours.
 */
const alive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
};
const benchPids = (): number[] => (existsSync(PIDS) ? readFileSync(PIDS, 'utf8').trim().split('\n').filter((s) => s).map(Number) : []);

beforeAll(() => {
  if (usable) makeBundle();
});
afterAll(() => {
  // Only the fake benches this file started, by their ids, should a check have failed.
  for (const pid of benchPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!usable)('gpu-run limits', () => {
  it('cuts the bench and its budget to the deadline inside the limit, and renders the record', () => {
    const r = packed('deadline', 16, {});
    expect(r.status, r.log).toBe(0);
    expect(r.seconds).toBeLessThan(16);
    const env = r.file('env.txt')!;
    expect(env).toMatch(/left for the bench: its budget is \d+ s instead of 240 s/);
    const budget = Number(/budget is (\d+) s/.exec(env)![1]);
    expect(budget).toBeLessThanOrEqual(8);
    expect(r.file('bench.md')).toMatch(/^fake node: bench --markdown .*bench\.json\nrendered .*: \{"cases":\d+\}/);
    expect(r.file('tuning.txt')).toMatch(/^fake node: bench --tuning .*bench\.json\nrendered /);
    expect(r.file('status.txt')).toMatch(/ended with status 0 within the limit of 16 s/);
    // The device tool sends back 8 files at most.
    expect(r.files.length).toBeLessThanOrEqual(8);
    expect(r.files).toContain('results.tgz');
  }, 60_000);

  it('runs a probe (DAWNET_PROBE) and skips the bench (DAWNET_BENCH=no), and sends back its log and record', () => {
    const r = packed('probe', 30, { DAWNET_PROBE: 'conv-variants', DAWNET_BENCH: 'no' });
    expect(r.status, r.log).toBe(0);
    expect(r.file('probe.log')).toMatch(/^fake probe: .*\/dist\/probes\/conv-variants\.js .*\/probe\.json\n/);
    expect(r.file('probe.json')).toBe('{"probe":true}\n');
    expect(r.file('env.txt')).toContain('the bench skipped (DAWNET_BENCH=no)');
    expect(r.files).not.toContain('bench.json');
    expect(r.log).not.toMatch(/fake node: bench --scale/);
  }, 60_000);

  it('stops everything gpu-run.sh started when the limit strikes, and still leaves bench.md and tuning.txt', async () => {
    const before = benchPids().length;
    // A deadline past the limit, and a bench that ignores its budget (a case that runs long).
    const r = packed('limit', 4, { DAWNET_TOTAL_S: '100', FAKE_IGNORE_BUDGET: '1' });
    expect(r.status, r.log).toBe(124);
    const pids = benchPids().slice(before);
    expect(pids).toHaveLength(1);
    for (let i = 0; i < 20 && alive(pids[0]); i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(alive(pids[0]), 'the bench outlived the limit').toBe(false);
    expect(JSON.parse(r.file('bench.json')!).cases).toBeGreaterThan(0);
    expect(r.file('bench.md')).toMatch(/^fake node: bench --markdown .*bench\.json\nrendered .*: \{"cases":\d+\}/);
    expect(r.file('tuning.txt')).toMatch(/^fake node: bench --tuning .*bench\.json\nrendered /);
    const status = r.file('status.txt')!;
    expect(status).toMatch(/the limit of 4 s stopped gpu-run.sh \(status 124/);
    expect(status).toMatch(/the step it was in: == dawnet bench /);
    expect(status).toMatch(/bench.md made here from bench.json as the cut left it/);
    expect(existsSync(join(dir, 'limit', 'results.tgz'))).toBe(true);
  }, 60_000);

  it('says in OUTDIR why nothing ran when the bundle is missing', () => {
    const r = packed('nobundle', 20, { DAWNET_BUNDLE: join(dir, 'no-such-bundle') });
    expect(r.status).toBe(1);
    expect(r.file('env.txt')).toMatch(/gpu-run: no bundle at .*no-such-bundle/);
    expect(r.file('status.txt')).toMatch(/ended with status 1[\s\S]*no bundle at/);
  }, 60_000);
});
