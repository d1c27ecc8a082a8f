// tfjs-backend-webgpu 4.22 at rank 5, on its own: `node bench/repro/tfjs-webgpu-rank5.mjs`.
// 1. A binary op between a rank-5 tensor and a 1-D one of fewer than 128 elements (a bias add)
//    takes BinaryOpProgram's shared-memory path, whose WGSL reads `sharedBuf[coords[4]]`; at rank 5
//    `coords` is tfjs's `struct vec5`, which WGSL cannot index, so the shader does not compile.
// 2. PadV2 at rank 5 (also the gradient of tf.slice on a 5-D tensor) fails to compile the same way.
// The pipeline is invalid, so the command buffer holding its dispatch is invalid and the queue
// rejects its submit: every kernel tfjs encoded since its last submit is lost, the valid ones
// with it, and a readback maps a staging buffer nothing wrote (here 0s, or one that held 7s).
// tfjs does not look at the validation error. The 4-D view of the same bias add is right. Found
// through the 3-D U-Net's tfjs peer (bench/cases/unet3d-tfjs.ts), which adds its biases on it.
// Prints each case and exits 1 when a rank-5 case is wrong (the bug is there), 0 when all are right.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const webgpu = require('webgpu');
for (const [k, v] of Object.entries(webgpu.globals)) if (!(k in globalThis)) globalThis[k] = v;
// tfjs-backend-webgpu registers its backend only if navigator.gpu exists when it is imported.
Object.defineProperty(globalThis, 'navigator', { value: { gpu: webgpu.create([]) }, configurable: true, writable: true });
const core = await import('@tensorflow/tfjs-core');
const tf = 'setBackend' in core ? core : core.default;
await import('@tensorflow/tfjs-backend-webgpu');
tf.env().set('WEBGPU_CPU_FORWARD', false);
if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: no webgpu backend');
const device = tf.backend().device;

/**
 * Runs `op` on `inputs` (uploaded to the GPU first) after leaving a buffer of 7s of its output's
 * size in tfjs's pool; returns its values and Dawn's validation error.
 */
async function run(inputs, op, size) {
  for (const t of inputs) await tf.neg(t).data();
  const junk = tf.mul(tf.ones([size]), 7);
  await junk.data();
  junk.dispose();
  device.pushErrorScope('validation');
  const values = Array.from(await op(...inputs).data());
  const error = await device.popErrorScope();
  const lines = error ? error.message.split('\n') : [];
  return { values, error: error ? (lines.find((l) => l.includes('error:')) ?? lines[0]) : null };
}

const bias = [1, 2, 3, 4];
const cases = [
  { name: 'add [2,2,2,2,4] + [4]', rank5: true, size: 32, inputs: () => [tf.zeros([2, 2, 2, 2, 4]), tf.tensor1d(bias)], op: (x, b) => tf.add(x, b), want: (i) => (i % 4) + 1 },
  { name: 'add on the 4-D view [4,2,2,4] + [4]', rank5: false, size: 32, inputs: () => [tf.zeros([4, 2, 2, 4]), tf.tensor1d(bias)], op: (x, b) => tf.add(x, b), want: (i) => (i % 4) + 1 },
  {
    name: 'a valid op, a * 10, encoded before the rank-5 add',
    rank5: true,
    size: 4,
    inputs: () => [tf.tensor1d(bias), tf.zeros([2, 2, 2, 2, 4]), tf.tensor1d(bias)],
    op: (a, x, b) => {
      const y = tf.mul(a, 10);
      tf.add(x, b);
      return y;
    },
    want: (i) => 10 * (i + 1),
  },
  { name: 'pad [1,1,1,1,2] by 1 on the last axis', rank5: true, size: 4, inputs: () => [tf.ones([1, 1, 1, 1, 2])], op: (x) => tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, 0], [1, 1]]), want: (i) => (i === 1 || i === 2 ? 1 : 0) },
];
let broken = false;
for (const c of cases) {
  const { values, error } = await run(c.inputs(), c.op, c.size);
  const right = values.every((v, i) => v === c.want(i));
  if (c.rank5 && !right) broken = true;
  console.log(`${right ? 'right' : 'WRONG'}  ${c.name}: [${values.slice(0, 8).join(', ')}${values.length > 8 ? ', ...' : ''}]${error ? `\n       ${error.trim()}` : ''}`);
}
console.log(broken ? 'reproduced: rank-5 ops compile no shader, and the work submitted with them is lost' : 'not reproduced');
process.exit(broken ? 1 : 0);
