// Set-up for each file of the 'shared' test project (vitest.config.ts), whose files run one after
// another in a reused worker: what a file leaves changed in the process would reach the next one,
// so each starts from what a fresh process has and gives back what it changed.
// - The default seed of layers made without one (dn.setInitSeed's counter) starts where a fresh
//   process's does: a file's unseeded layers get the same weights whichever files ran before.
// - Spies on module exports are restored, process.env and the working folder put back.
// Files that replace whole modules or need an untouched process run isolated instead
// (test/isolated-files.ts).
import { afterAll, beforeAll, vi } from 'vitest';
import { FIRST_INIT_SEED, setInitSeed } from '../../src/nn/init.js';

const env = { ...process.env };
const cwd = process.cwd();

beforeAll(() => setInitSeed(FIRST_INIT_SEED));

afterAll(() => {
  vi.restoreAllMocks();
  for (const name of Object.keys(process.env)) if (!(name in env)) delete process.env[name];
  Object.assign(process.env, env);
  if (process.cwd() !== cwd) process.chdir(cwd);
});
