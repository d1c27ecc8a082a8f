// A command awaiting something only an unreferenced handle settles (an idle decode worker's
// terminate(), which lr-find's loader close() awaits) must not let Node exit in the middle with
// status 0: `dawnet lr-find` ended that way after its last step, writing nothing, about one run in
// two. The CLI awaits every command through holdOpenWhile; here a child process awaits a promise
// that only an unreferenced timer resolves, with and without it.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { tempDir } from './helpers.js';

const work = tempDir('dawnet-hold-open-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a script that awaits an unreferenced timer's promise, held open or not; its status and output. */
async function runChild(held: boolean): Promise<{ code: number | null; stdout: string }> {
  const entry = join(work, `entry-${held}.ts`);
  const helper = resolve('src/cli/hold-open.ts');
  writeFileSync(
    entry,
    `import { holdOpenWhile } from ${JSON.stringify(helper)};
const pending = new Promise<void>((done) => setTimeout(done, 100).unref());
await ${held ? 'holdOpenWhile(pending)' : 'pending'};
console.log('finished');
process.exit(3);
`,
  );
  const out = join(work, `entry-${held}.mjs`);
  await build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' });
  const r = spawnSync(process.execPath, [out], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout };
}

describe('holdOpenWhile', () => {
  it('keeps Node running until the awaited promise settles', async () => {
    // Unheld, Node finds nothing referenced and stops: the script never reaches its end.
    const unheld = await runChild(false);
    expect(unheld.stdout).not.toContain('finished');
    const held = await runChild(true);
    expect(held).toEqual({ code: 3, stdout: 'finished\n' });
  }, 60_000);
});
