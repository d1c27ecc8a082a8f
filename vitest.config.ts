import { defineConfig } from 'vitest/config';
import { ISOLATED_TEST_FILES } from './test/isolated-files.js';

export default defineConfig({
  test: {
    pool: 'forks',
    // lavapipe already spreads each dispatch over the cores: two forks keep both busy without thrashing.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        // Most files share their worker's module graph (vitest's isolate: false): each still makes
        // and shuts down its own device, but the library, Dawn and the test helpers are imported
        // once per worker instead of once per file (the suite took 800 s on 2 cores, 550 s so).
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: ISOLATED_TEST_FILES,
          isolate: false,
          setupFiles: ['test/helpers/shared-worker-state.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'isolated', include: ISOLATED_TEST_FILES },
      },
    ],
  },
});
