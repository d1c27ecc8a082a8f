// scripts/bench-browser.mjs keeps --out FILE for itself and hands every other argument to the page;
// a bare --out (or one followed by another option) is refused, as `dawnet bench` refuses it: it
// used to fall back to the adapter's default record.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = join(fileURLToPath(new URL('../../', import.meta.url)), 'scripts/bench-browser.mjs');
type Split = (argv: string[]) => { page: string[]; out: string | null };
const load = async () => (await import(SCRIPT)) as { splitArgs: Split };

describe('bench:browser arguments', () => {
  it('takes --out FILE for the driver and passes the rest to the page', async () => {
    const { splitArgs } = await load();
    expect(splitArgs(['--reps', '1', '--out', 'r.json', '--no-tfjs'])).toEqual({ page: ['--reps', '1', '--no-tfjs'], out: 'r.json' });
    expect(splitArgs(['--reps', '1'])).toEqual({ page: ['--reps', '1'], out: null });
  });

  it('refuses --out without its file', async () => {
    const { splitArgs } = await load();
    expect(() => splitArgs(['--reps', '1', '--out'])).toThrow(/^--out needs a file$/);
    expect(() => splitArgs(['--out', '--reps', '1'])).toThrow(/^--out needs a file, got '--reps'$/);
    expect(() => splitArgs(['--out', ''])).toThrow(/^--out needs a file, got ''$/);
  });
});
