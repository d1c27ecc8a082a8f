// scripts/ensure-env.sh under a registry that stalls: the setup is run on a copy of the project
// whose `npm` is a stand-in that fails a given number of times before it "installs", and whose
// adapter probe always succeeds, so only the npm step is exercised. CI once lost a whole run to a
// single EIDLETIMEOUT from registry.npmjs.org; these pin that such a stall is retried, that a
// registry which never answers still fails the setup, and that an installed tree is left alone.

import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project copy holding only what ensure-env.sh touches, with a stand-in npm that fails `failures` times. */
function fakeProject(failures: number, installed = false): { dir: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'dawnet-setup-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'scripts', 'ensure-env.sh'), join(dir, 'scripts', 'ensure-env.sh'));
  writeFileSync(join(dir, 'scripts', 'probe-adapter.mjs'), 'process.exit(0);\n');
  writeFileSync(join(dir, 'package-lock.json'), '{}\n');
  if (installed) {
    mkdirSync(join(dir, 'node_modules', 'webgpu'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', '.package-lock.json'), '{}\n');
  }
  const npm = join(dir, 'bin', 'npm');
  writeFileSync(
    npm,
    [
      '#!/usr/bin/env bash',
      `echo "$*" >> "${join(dir, 'npm-calls')}"`,
      `n=$(wc -l < "${join(dir, 'npm-calls')}")`,
      `if [ "$n" -le ${failures} ]; then echo "npm error code EIDLETIMEOUT" >&2; exit 1; fi`,
      'mkdir -p node_modules/webgpu && echo {} > node_modules/.package-lock.json',
      '',
    ].join('\n'),
  );
  chmodSync(npm, 0o755);
  const calls = (): string[] => (existsSync(join(dir, 'npm-calls')) ? readFileSync(join(dir, 'npm-calls'), 'utf8').trim().split('\n') : []);
  return { dir, calls };
}

function setup(dir: string, attempts: number): { status: number | null; stderr: string } {
  const r = spawnSync('bash', [join(dir, 'scripts', 'ensure-env.sh')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, DAWNET_SETUP_ATTEMPTS: String(attempts), DAWNET_SETUP_RETRY_WAIT: '0' },
  });
  return { status: r.status, stderr: r.stderr };
}

describe('ensure-env.sh with a registry that stalls', () => {
  it('retries npm ci until it succeeds, saying which attempt failed', () => {
    const p = fakeProject(2);
    const r = setup(p.dir, 4);
    expect(r.stderr).toContain('installing npm dependencies failed (attempt 1 of 4)');
    expect(r.stderr).toContain('installing npm dependencies failed (attempt 2 of 4)');
    expect(r.stderr).not.toContain('attempt 3 of 4');
    expect(r.status).toBe(0);
    expect(p.calls()).toHaveLength(3);
    // Every attempt is a clean `npm ci` with a stalled request dropped after 2 minutes, not npm's default 5.
    for (const call of p.calls()) expect(call).toMatch(/^ci .*--fetch-timeout=120000/);
    expect(existsSync(join(p.dir, 'node_modules', 'webgpu'))).toBe(true);
  });

  it('gives up after the last attempt and fails the setup, so CI stops instead of testing nothing', () => {
    const p = fakeProject(99);
    const r = setup(p.dir, 3);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('installing npm dependencies failed 3 times; giving up');
    expect(p.calls()).toHaveLength(3);
  });

  it('does not call npm when the installed tree is newer than the lock file', () => {
    const p = fakeProject(0, true);
    const r = setup(p.dir, 4);
    expect(r.status).toBe(0);
    expect(p.calls()).toEqual([]);
  });
});
