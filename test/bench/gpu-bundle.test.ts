// scripts/gpu-bundle.sh: the folder for a GPU machine without Node or network stays under 60 MiB
// (it travels with the working tree, 64 MiB in all). The test builds it in a scratch folder with
// fast compression (xz -1, seconds instead of the minutes -9e takes): the bar holds even then.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const hasXz = spawnSync('xz', ['--version']).status === 0;
const x86 = process.arch === 'x64';
// A scratch folder, and fast compression: the size bar must hold even without xz -9e.
const BUNDLE = mkdtempSync(join(tmpdir(), 'dawnet-gpu-bundle-'));

afterAll(() => rmSync(BUNDLE, { recursive: true, force: true }));

describe('gpu bundle', () => {
  it.skipIf(!hasXz || !x86)(
    'scripts/gpu-bundle.sh makes a bundle under 60 MiB with node, dawn, the CLI and the Vulkan loader',
    () => {
      execFileSync('bash', ['scripts/gpu-bundle.sh', BUNDLE], { stdio: 'pipe', env: { ...process.env, DAWNET_XZ_LEVEL: '-1' } });
      const bytes = Number(execFileSync('du', ['-sb', BUNDLE]).toString().split('\t')[0]);
      expect(bytes).toBeGreaterThan(20 * 2 ** 20);
      expect(bytes).toBeLessThan(60 * 2 ** 20);
      for (const f of [
        'node.xz',
        'dawn.node.xz',
        'dist/cli.js',
        // gpu-run.sh's DAWNET_PROBE runs these (bench/probes/*.ts).
        'dist/probes/conv-variants.js',
        'node_modules/webgpu/index.js',
        'node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js',
        'node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js',
        'node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js',
        'lib/vulkan/libvulkan.so.1',
      ]) {
        expect(existsSync(`${BUNDLE}/${f}`), f).toBe(true);
      }
    },
    900_000,
  );
});
