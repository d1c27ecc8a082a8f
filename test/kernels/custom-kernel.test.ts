// dn.runKernel (src/kernels/custom-kernel.ts): a user's WGSL on dawnet tensors. Outputs against a
// float64 reference of the same arithmetic; the generated declarations (f32 and vec4<f32>
// bindings, several outputs, a params block of all three scalar types, 2-D grids); fills; compile
// errors at the next sync named by kernel and with the user's own line numbers; and refusals that
// name the kernel and the binding and allocate nothing.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { runKernel } from '../../src/kernels/custom-kernel.js';
import { expectClose } from '../helpers/close.js';
import { expectThrows } from '../helpers/errors.js';
import { fromNd, useGpu } from '../helpers/gpu.js';
import { uniform } from '../helpers/rng.js';

useGpu();

const SQUARE_PLUS = /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < params.n) { y[g.x] = x[g.x] * x[g.x] + params.c; }
}`;

const SGD_STEP = '@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) { w[i] = w[i] - params.lr * g[i]; }';

/** An ArgumentError whose message matches `message` (which holds a tensor id, so not a fixed start). */
function expectRefused(fn: () => unknown, message: RegExp): void {
  expect(fn).toThrow(dn.ArgumentError);
  expect(fn).toThrow(message);
}

describe('runKernel', () => {
  it('runs the shader on its inputs and returns the outputs by name', async () => {
    const data = uniform(1000, 1);
    const x = fromNd(data, [10, 100]);
    expect(dn.runKernel, 'the public export').toBe(runKernel);
    const { y } = runKernel({
      name: 'squarePlus',
      code: SQUARE_PLUS,
      inputs: { x },
      outputs: { y: x.shape },
      params: { n: ['u32', x.size], c: ['f32', 0.25] },
      workgroups: Math.ceil(x.size / 64),
    });
    expect(y.shape).toEqual([10, 100]);
    // Two float32 roundings (the product, the sum) of values below 1.25: within 2 ulp of 1.25.
    expectClose('squarePlus', await y.toArray(), data.map((v) => v * v + 0.25), { atol: 3e-7, rtol: 0 });
    x.dispose();
    y.dispose();
  });

  it('declares vec4 bindings, several outputs and i32, u32 and f32 params on a 2-D grid', async () => {
    const rows = 6;
    const cols = 8; // vec4s per row
    const a = uniform(rows * cols * 4, 2);
    const b = uniform(cols * 4, 3);
    const ta = fromNd(a, [rows, cols * 4]);
    const tb = fromNd(b, [cols * 4]);
    const { sum, rowMax } = dn.runKernel({
      name: 'rowsPlusBias',
      code: /* wgsl */ `
@compute @workgroup_size(8, 2)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let col = g.x;
  let row = g.y;
  if (col >= params.cols || row >= params.rows) { return; }
  let v = a[row * params.cols + col] * params.gain + bias[col];
  sum[row * params.cols + col] = v + vec4<f32>(f32(params.shift));
  if (col == 0u) {
    var m = -3.4e38;
    for (var k = 0u; k < params.cols; k++) {
      let w = a[row * params.cols + k] * params.gain + bias[k];
      m = max(m, max(max(w.x, w.y), max(w.z, w.w)));
    }
    rowMax[row] = m;
  }
}`,
      inputs: { a: { tensor: ta, type: 'vec4<f32>' }, bias: { tensor: tb, type: 'vec4<f32>' } },
      outputs: { sum: { shape: [rows, cols * 4], type: 'vec4<f32>' }, rowMax: [rows] },
      params: { cols: ['u32', cols], rows: ['u32', rows], gain: ['f32', -1.5], shift: ['i32', -3] },
      workgroups: [1, 3],
    });
    const want = Float64Array.from(a, (v, i) => v * -1.5 + b[i % (cols * 4)]);
    const wantMax = Float64Array.from({ length: rows }, (_, r) => Math.max(...want.subarray(r * cols * 4, (r + 1) * cols * 4)));
    // One product and one or two sums of values below 3 in float32: a few ulp of 4.
    expectClose('sum', await sum.toArray(), want.map((v) => v - 3), { atol: 2e-6, rtol: 0 });
    expectClose('rowMax', await rowMax.toArray(), wantMax, { atol: 1e-6, rtol: 0 });
    for (const t of [ta, tb, sum, rowMax]) t.dispose();
  });

  it('starts an output at its fill where given, so a kernel may write only part of it', async () => {
    const x = dn.tensor([1, 2, 3, 4, 5, 6]);
    const { y } = dn.runKernel({
      name: 'evensOnly',
      code: '@compute @workgroup_size(1) fn main(@builtin(global_invocation_id) g: vec3<u32>) { y[g.x * 2u] = x[g.x * 2u] * 10.0; }',
      inputs: { x },
      outputs: { y: { shape: [6], fill: -1 } },
      workgroups: 3,
    });
    expect(Array.from(await y.toArray())).toEqual([10, -1, 30, -1, 50, -1]);
    x.dispose();
    y.dispose();
  });

  it('writes an existing tensor in place, as a custom optimiser step (under noGrad for a parameter)', async () => {
    const w = dn.tensor([1, 2, 3, 4], undefined, { requiresGrad: true });
    const g = dn.tensor([10, 20, 30, 40]);
    const sgd = { name: 'sgdStep', code: SGD_STEP, inputs: { g }, outputs: { w: { tensor: w } }, params: { lr: ['f32', 0.5] }, workgroups: 1 } as const;
    expectRefused(() => dn.runKernel(sgd), /^runKernel\('sgdStep'\): output 'w' \(tensor#\d+ \[4\]\) requires a gradient; update it in place under dn\.noGrad/);
    const { w: same } = dn.noGrad(() => dn.runKernel(sgd));
    expect(same).toBe(w);
    expect(Array.from(await w.toArray())).toEqual([-4, -8, -12, -16]);
    // Read through its own binding, never beside it: WebGPU refuses a writable buffer bound twice.
    const view = w.share();
    expectRefused(() => dn.noGrad(() => dn.runKernel({ ...sgd, inputs: { g: view } })), /^runKernel\('sgdStep'\): output 'w' \(tensor#\d+ \[4\]\) shares its buffer with input 'g'/);
    // An op's result on the tape is refused: its backward reads what it saved.
    const x = dn.tensor([1, 1, 1, 1], undefined, { requiresGrad: true });
    const y = dn.scale(x, 2);
    expectRefused(() => dn.runKernel({ ...sgd, outputs: { w: { tensor: y } } }), /^runKernel\('sgdStep'\): output 'w' \(tensor#\d+ \[4\]\) is an op's result on the autograd tape/);
    for (const t of [w, g, view, x, y]) t.dispose();
  });

  it('takes a comment that mentions @binding, which declares nothing', async () => {
    const x = dn.tensor([1, 2]);
    const code = '// no @binding(0) here: dawnet declares x and y\n/* nor @binding(1) */\n@compute @workgroup_size(2) fn main(@builtin(local_invocation_index) i: u32) { y[i] = x[i] + 1.0; }';
    const { y } = dn.runKernel({ name: 'commented', code, inputs: { x }, outputs: { y: [2] }, workgroups: 1 });
    expect(Array.from(await y.toArray())).toEqual([2, 3]);
    x.dispose();
    y.dispose();
  });

  it('keeps two kernels of one name apart: each source compiles to its own pipeline', async () => {
    const x = dn.tensor([1, 2, 3, 4]);
    const run = (expr: string) =>
      dn.runKernel({ name: 'twin', code: `@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) { y[i] = ${expr}; }`, inputs: { x }, outputs: { y: [4] }, workgroups: 1 }).y;
    const doubled = run('x[i] * 2.0');
    const negated = run('-x[i]');
    expect(Array.from(await doubled.toArray())).toEqual([2, 4, 6, 8]);
    expect(Array.from(await negated.toArray())).toEqual([-1, -2, -3, -4]);
    for (const t of [x, doubled, negated]) t.dispose();
  });

  it("reports a WGSL error at the next sync as a KernelError naming the kernel, at the user's own line", async () => {
    const x = dn.tensor([1, 2]);
    const { y } = dn.runKernel({
      name: 'broken',
      code: ['@compute @workgroup_size(1)', 'fn main() {', '  y[0] = x[0] +* 2.0;', '}'].join('\n'),
      inputs: { x },
      outputs: { y: [1] },
      workgroups: 1,
    });
    const error = await dn.sync().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(dn.KernelError);
    expect((error as dn.KernelError).kernel).toBe('custom.broken');
    expect((error as Error).message).toMatch(/:3:\d+ error/);
    x.dispose();
    y.dispose();
  });
});

describe('runKernel refuses, naming the kernel and the binding, with nothing allocated', () => {
  const cases: [string, (x: dn.Tensor) => unknown, new (...a: never[]) => Error, string][] = [
    ['a declared binding', (x) => dn.runKernel({ name: 'k', code: '@group(0) @binding(0) var<storage, read> x: array<f32>;\n@compute @workgroup_size(1) fn main() {}', inputs: { x }, outputs: { y: [1] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): code declares its own @binding"],
    ['no main', (x) => dn.runKernel({ name: 'k', code: '@compute @workgroup_size(1) fn go() {}', inputs: { x }, outputs: { y: [1] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): code needs a compute entry point named main"],
    ['a vec4 input of 6 floats', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x: { tensor: x, type: 'vec4<f32>' } }, outputs: { y: [1] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): input 'x' is read as vec4<f32>"],
    ['one name for an input and an output', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { x: [6] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): 'x' names both"],
    ['an input named by a WGSL keyword', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { var: x }, outputs: { y: [6] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): input name 'var' must be a WGSL identifier that is not a keyword"],
    ["an input called 'params'", (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { params: x }, outputs: { y: [6] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): input name 'params'"],
    ['a negative u32 param', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [6] }, params: { n: ['u32', -1] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): param 'n' (u32) must be an integer"],
    ['a param without its type', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [6] }, params: { n: 6 as never }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): param 'n' must be ['u32' | 'i32' | 'f32', number]"],
    ['a fractional workgroup count', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [6] }, workgroups: 1.5 }), dn.ArgumentError, "runKernel('k'): workgroups[0] must be an integer"],
    ['no outputs', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: {}, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): outputs must name at least one output"],
    ['an output shape of -1', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [-1] }, workgroups: 1 }), dn.ShapeError, "runKernel('k'): output 'y'"],
    ['a number for an input', () => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x: 3 as never }, outputs: { y: [6] }, workgroups: 1 }), dn.ArgumentError, "runKernel('k'): input 'x' must be a Tensor or { tensor, type }"],
    ['a misspelt key', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [6] }, workgroups: 1, workgroup: 1 } as never), dn.ArgumentError, "runKernel: unknown option 'workgroup'"],
    ['a name with a space', (x) => dn.runKernel({ name: 'my op', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [6] }, workgroups: 1 }), dn.ArgumentError, 'runKernel: name must be a string of letters'],
    ['a dispatch past the device limit', (x) => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [6] }, workgroups: [1e9] }), dn.LimitError, 'custom.k: dispatch [1000000000, 1, 1] exceeds'],
  ];
  for (const [what, call, cls, start] of cases) {
    it(what, () => {
      const x = dn.tensor([1, 2, 3, 4, 5, 6]);
      const before = dn.memory().bytesInUse;
      expectThrows(() => call(x), cls, start, what);
      expect(dn.memory().bytesInUse, `${what}: bytes in use`).toBe(before);
      x.dispose();
    });
  }

  it('refuses an input that wants a gradient unless under noGrad, and runs it there', async () => {
    const x = dn.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const spec = { name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [3] }, params: { n: ['u32', 3], c: ['f32', 0] }, workgroups: 1 } as const;
    expectThrows(() => dn.runKernel(spec), dn.ArgumentError, "runKernel('k'): input 'x' (tensor#");
    const { y } = dn.noGrad(() => dn.runKernel(spec));
    expect(y.requiresGrad).toBe(false);
    expect(Array.from(await y.toArray())).toEqual([1, 4, 9]);
    x.dispose();
    y.dispose();
  });

  it('names a disposed input', () => {
    const x = dn.tensor([1, 2]);
    x.dispose();
    expectThrows(() => dn.runKernel({ name: 'k', code: SQUARE_PLUS, inputs: { x }, outputs: { y: [2] }, workgroups: 1 }), dn.DisposedError, "runKernel('k'): input 'x'");
  });
});
