// The test files that need a process of their own (vitest.config.ts runs them with `isolate: true`;
// every other file shares its worker with the files before it, which saves re-importing the library
// and tfjs for each of 340 files, about a third of the suite's time on 2 cores). A file belongs
// here when what it changes outlives it in the module graph or when it needs one untouched:
// - it replaces modules (`vi.mock`, `vi.doMock`) or globals (`vi.stubGlobal`), or resets modules;
// - it loads TensorFlow.js, whose WebGPU backend registers once per module graph, on the device
//   of the first file that imports it;
// - it checks what happens before the first `dn.init()` of a process;
// - it makes a Dawn instance of its own (`webgpu`'s create), whose garbage collection dawn.node
//   can crash a process on (a device destroyed before any wait on its queue): a crash then ends
//   this file's worker, not another file's run.
// test/meta/isolated-files.test.ts scans the test files for the markers of all but the third and
// fails on a file missing from this list.
export const ISOLATED_TEST_FILES = [
  // modules or globals replaced
  'test/app/postprocess-jobs.test.ts',
  'test/cli/postprocess-wiring.test.ts',
  'test/cli/predict-inputs.test.ts',
  'test/cli/smoke-mismatch.test.ts',
  'test/docs/readme-examples.test.ts',
  'test/web/slice-input.test.ts',
  // TensorFlow.js loaded
  'test/bench/augment-case.test.ts',
  'test/bench/e2e-check.test.ts',
  'test/bench/gpu-bundle.test.ts',
  'test/bench/harness.test.ts',
  'test/bench/output-check.test.ts',
  'test/bench/peer-errors.test.ts',
  'test/bench/unet3d-peer.test.ts',
  // no device yet in the process
  'test/gpu/before-init.test.ts',
  // a Dawn instance of its own
  'test/gpu/init-device.test.ts',
];
