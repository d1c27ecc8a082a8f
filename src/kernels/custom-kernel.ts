// dn.runKernel: the user's own WGSL compute shader on dawnet tensors, through the same runtime as
// every built-in kernel (one command encoder, the buffer pool, the pipeline cache, profile()).
//
//   const { y } = dn.runKernel({
//     name: 'squarePlus',
//     inputs: { x },                       // read-only storage, array<f32>
//     outputs: { y: x.shape },             // read_write storage, array<f32>, a new tensor
//     params: { n: ['u32', x.size], c: ['f32', 1] },
//     workgroups: Math.ceil(x.size / 64),
//     code: `@compute @workgroup_size(64)
//            fn main(@builtin(global_invocation_id) g: vec3<u32>) {
//              if (g.x < params.n) { y[g.x] = x[g.x] * x[g.x] + params.c; }
//            }`,
//   });
//
// dawnet writes the declarations: inputs at @binding(0..), outputs after them, then `params`
// (a uniform struct of 4-byte scalars in the order given). They are appended after the user's
// code, which WGSL allows, so the line numbers in a compile error are the user's own.
// The outputs carry no gradient: dn.customOp gives a kernel its backward.

import { ArgumentError } from '../errors.js';
import { packParams, type ParamValue } from '../gpu/params.js';
import { runtime, type KernelSpec } from '../gpu/runtime.js';
import { describeValue, expectKnownOptions, expectNumber, expectTensor, isPlainObject } from '../graph/args.js';
import { isRecording, isRecordingOrDeferred } from '../graph/autograd.js';
import { checkShapeArg, emptyTensor, full, shapeSize, Tensor, type Shape } from '../graph/tensor.js';

/** How a binding sees its tensor's float32 elements. */
export type KernelElement = 'f32' | 'vec4<f32>';

/** An input: a tensor, or a tensor read as vec4<f32> (its size a multiple of 4). */
export type KernelInput = Tensor | { tensor: Tensor; type?: KernelElement };

/**
 * An output: a new tensor of this shape (uninitialised unless given a fill), or an existing tensor
 * written in place ({ tensor }: a parameter a custom optimiser updates), read_write either way.
 */
export type KernelOutput = Shape | { shape: Shape; type?: KernelElement; fill?: number } | { tensor: Tensor; type?: KernelElement };

/** A uniform scalar: its WGSL type and value. */
export type KernelParam = readonly ['u32' | 'i32' | 'f32', number];

export interface KernelParamsSpec {
  [name: string]: KernelParam;
}

export interface RunKernelSpec<O extends Record<string, KernelOutput>> {
  /** Names the kernel in errors and profile() (as custom.NAME); letters, digits, _ . and -. */
  name: string;
  /** WGSL with a `@compute` entry point `fn main`, and no @binding declarations of its own. */
  code: string;
  inputs?: Record<string, KernelInput>;
  outputs: O;
  /** Uniform scalars, read in the shader as params.NAME: { n: ['u32', 5], alpha: ['f32', 0.5] }. */
  params?: KernelParamsSpec;
  /** Workgroups to dispatch: x, or [x, y, z]. */
  workgroups: number | readonly number[];
}

const SPEC_KEYS = ['name', 'code', 'inputs', 'outputs', 'params', 'workgroups'];
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KERNEL_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Pipelines are cached per (name, key): the key numbers each distinct generated source, so two
 * kernels given the same name never share a pipeline, and the same source compiles once.
 */
const sourceKeys = new Map<string, string>();

interface Binding {
  name: string;
  type: KernelElement;
}

/** Runs the user's compute shader once; returns the outputs by name. */
export function runKernel<O extends Record<string, KernelOutput>>(spec: RunKernelSpec<O>): { [K in keyof O]: Tensor } {
  if (!isPlainObject(spec)) throw new ArgumentError(`runKernel: takes one object { name, code, inputs, outputs, params, workgroups }, got ${describeValue(spec)}`);
  expectKnownOptions('runKernel', spec, SPEC_KEYS);
  if (typeof spec.name !== 'string' || !KERNEL_NAME.test(spec.name)) {
    throw new ArgumentError(`runKernel: name must be a string of letters, digits, '_', '.' or '-' (it names the kernel in errors), got ${describeValue(spec.name)}`);
  }
  const op = `runKernel('${spec.name}')`;
  const inputs = checkInputs(op, spec.inputs ?? {});
  const outputs = checkOutputs(op, spec.outputs);
  const params = checkParams(op, spec.params ?? {});
  const groups = checkWorkgroups(op, spec.workgroups);
  checkCode(op, spec.code, [...inputs, ...outputs].map((b) => b.name), params.length > 0);
  const taken = new Set<string>();
  for (const b of [...inputs, ...outputs]) {
    if (taken.has(b.name)) throw new ArgumentError(`${op}: '${b.name}' names both an input and an output; each binding needs its own name`);
    taken.add(b.name);
  }
  checkInPlaceAliasing(op, inputs, outputs);
  // A kernel's output has no gradient: used on a tensor that wants one, the graph would be cut
  // without a word. customOp runs its forward without recording, so this never fires there.
  // Inside dn.checkpoint's first run it fires too: the backward's recomputation would refuse it.
  const wanting = inputs.find((b) => b.tensor.requiresGrad);
  if (wanting && isRecordingOrDeferred()) {
    throw new ArgumentError(
      `${op}: input '${wanting.name}' (${wanting.tensor.describe()}) requires a gradient, and a kernel's outputs have none` +
        `${isRecording() ? '' : " (inside dn.checkpoint, whose backward runs fn again, recording)"}: ` +
        'give the kernel a backward with dn.customOp({ forward, backward }), or run it under dn.noGrad(() => ...)',
    );
  }

  const source = `${spec.code}\n${declarations(inputs, outputs, params)}`;
  let key = sourceKeys.get(source);
  if (!key) sourceKeys.set(source, (key = `v${sourceKeys.size + 1}`));
  const kernel: KernelSpec = { name: `custom.${spec.name}`, key, inputs: inputs.length, outputs: outputs.length, wgsl: () => source };

  const made: Tensor[] = [];
  try {
    for (const o of outputs) {
      if (o.inPlace) made.push(o.inPlace);
      else made.push(o.fill === undefined ? emptyTensor(o.shape, `${kernel.name}.${o.name}`, op) : full(o.shape, o.fill, { name: `${spec.name}.${o.name}` }));
    }
    runtime(op).dispatch(
      kernel,
      { inputs: inputs.map((b) => b.tensor.slice), outputs: made.map((t) => t.slice), params: packParams(params.map((p) => p.value)) },
      groups,
    );
  } catch (e) {
    for (const [i, t] of made.entries()) if (!outputs[i]!.inPlace) t.dispose();
    throw e;
  }
  return Object.fromEntries(outputs.map((o, i) => [o.name, made[i]])) as { [K in keyof O]: Tensor };
}

interface InputBinding extends Binding {
  tensor: Tensor;
}

function checkInputs(op: string, inputs: unknown): InputBinding[] {
  if (!isPlainObject(inputs)) throw new ArgumentError(`${op}: inputs must be an object of named tensors such as { x }, got ${describeValue(inputs)}`);
  return Object.entries(inputs).map(([name, v]) => {
    checkBindingName(op, 'input', name);
    const entry: unknown = v instanceof Tensor ? { tensor: v } : v;
    if (!isPlainObject(entry)) throw new ArgumentError(`${op}: input '${name}' must be a Tensor or { tensor, type }, got ${describeValue(v)}`);
    expectKnownOptions(`${op}: input '${name}'`, entry, ['tensor', 'type']);
    const tensor = entry.tensor;
    expectTensor(op, `input '${name}'`, tensor);
    const type = checkElement(op, `input '${name}'`, entry.type, tensor.size);
    return { name, tensor, type };
  });
}

interface OutputBinding extends Binding {
  shape: Shape;
  fill?: number;
  /** The tensor written in place, for an output given as { tensor }. */
  inPlace?: Tensor;
}

function checkOutputs(op: string, outputs: unknown): OutputBinding[] {
  if (!isPlainObject(outputs) || Object.keys(outputs).length === 0) {
    throw new ArgumentError(`${op}: outputs must name at least one output and its shape, such as { y: [n] }, got ${describeValue(outputs)}`);
  }
  return Object.entries(outputs).map(([name, v]) => {
    checkBindingName(op, 'output', name);
    const entry = isPlainObject(v) ? v : { shape: v };
    if (isPlainObject(v) && 'tensor' in v) return inPlaceOutput(op, name, v);
    if (isPlainObject(v)) expectKnownOptions(`${op}: output '${name}'`, v, ['shape', 'type', 'fill']);
    checkShapeArg(`${op}: output '${name}'`, entry.shape);
    const shape = entry.shape as Shape;
    if (entry.fill !== undefined) expectNumber(op, `output '${name}' fill`, entry.fill, { finite: false });
    const type = checkElement(op, `output '${name}'`, entry.type, shapeSize(shape));
    return { name, shape, type, fill: entry.fill as number | undefined };
  });
}

/**
 * An existing tensor as an output, written in place. Not an op's result on the tape, whose
 * backward may read it, and a leaf that wants a gradient only under noGrad, as PyTorch's in-place
 * updates of parameters. What is not caught: a leaf that a live recorded op saved (data, a frozen
 * weight, a parameter while a retained graph lives) changed in place makes that op's gradient
 * wrong without a word, as the built-in optimisers would between forward and backward (PyTorch
 * counts versions to catch it; dawnet keeps no versions). Write in place between steps.
 */
function inPlaceOutput(op: string, name: string, v: Record<string, unknown>): OutputBinding {
  expectKnownOptions(`${op}: output '${name}'`, v, ['tensor', 'type']);
  const tensor = v.tensor;
  expectTensor(op, `output '${name}'`, tensor);
  if (tensor.node) {
    throw new ArgumentError(`${op}: output '${name}' (${tensor.describe()}) is an op's result on the autograd tape; writing it in place would change what its backward reads. Write into a copy, or a tensor made under dn.noGrad`);
  }
  if (tensor.requiresGrad && isRecordingOrDeferred()) {
    throw new ArgumentError(`${op}: output '${name}' (${tensor.describe()}) requires a gradient; update it in place under dn.noGrad(() => ...), as an optimiser step does`);
  }
  const type = checkElement(op, `output '${name}'`, v.type, tensor.size);
  return { name, shape: tensor.shape, type, inPlace: tensor };
}

/** WebGPU refuses a buffer bound writable beside any other binding of it in one dispatch (its usage scope). */
function checkInPlaceAliasing(op: string, inputs: InputBinding[], outputs: OutputBinding[]): void {
  const bound = [...inputs.map((b) => ({ what: `input '${b.name}'`, tensor: b.tensor })), ...outputs.flatMap((o) => (o.inPlace ? [{ what: `output '${o.name}'`, tensor: o.inPlace }] : []))];
  for (const o of outputs) {
    if (!o.inPlace) continue;
    const self = `output '${o.name}'`;
    const other = bound.find((b) => b.what !== self && b.tensor.buffer === o.inPlace!.buffer);
    if (other) {
      throw new ArgumentError(`${op}: ${self} (${o.inPlace.describe()}) shares its buffer with ${other.what}: a tensor written in place is read through its own output binding, which is read_write`);
    }
  }
}

/**
 * WGSL's keywords and the predeclared types and built-ins a binding name would most likely clash
 * with: refused at the call, not as a compile error at the next sync with the outputs allocated.
 */
const WGSL_TAKEN = new Set(
  ('alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if let loop ' +
    'override requires return struct switch true var while bool f16 f32 i32 u32 vec2 vec3 vec4 mat2x2 mat3x3 mat4x4 array atomic ' +
    'ptr sampler texture_2d select min max abs exp log sqrt dot params main').split(' '),
);

function checkBindingName(op: string, role: string, name: string): void {
  if (!IDENTIFIER.test(name) || name.startsWith('__') || WGSL_TAKEN.has(name)) {
    throw new ArgumentError(`${op}: ${role} name '${name}' must be a WGSL identifier that is not a keyword, a predeclared name, 'params' or 'main' (the shader reads it by that name)`);
  }
}

function checkElement(op: string, role: string, type: unknown, size: number): KernelElement {
  if (type === undefined || type === 'f32') return 'f32';
  if (type !== 'vec4<f32>') throw new ArgumentError(`${op}: ${role} type must be 'f32' or 'vec4<f32>', got ${describeValue(type)}`);
  if (size % 4 !== 0) throw new ArgumentError(`${op}: ${role} is read as vec4<f32>, so its size must be a multiple of 4, got ${size}`);
  return type;
}

interface Param {
  name: string;
  value: ParamValue;
}

function checkParams(op: string, params: unknown): Param[] {
  if (!isPlainObject(params)) throw new ArgumentError(`${op}: params must be an object such as { n: ['u32', 5] }, got ${describeValue(params)}`);
  return Object.entries(params).map(([name, v]) => {
    if (!IDENTIFIER.test(name) || name.startsWith('__')) throw new ArgumentError(`${op}: param name '${name}' must be a WGSL identifier`);
    const ok = Array.isArray(v) && v.length === 2 && ['u32', 'i32', 'f32'].includes(v[0] as string) && typeof v[1] === 'number';
    if (!ok) throw new ArgumentError(`${op}: param '${name}' must be ['u32' | 'i32' | 'f32', number], got ${describeValue(v)}`);
    const [type, value] = v as ParamValue;
    if (type === 'u32') expectNumber(op, `param '${name}' (u32)`, value, { integer: true, min: 0, max: 0xffffffff });
    if (type === 'i32') expectNumber(op, `param '${name}' (i32)`, value, { integer: true, min: -0x80000000, max: 0x7fffffff });
    if (type === 'f32') expectNumber(op, `param '${name}' (f32)`, value, { finite: false });
    return { name, value: [type, value] };
  });
}

function checkWorkgroups(op: string, workgroups: unknown): [number, number, number] {
  const list = typeof workgroups === 'number' ? [workgroups] : workgroups;
  if (!Array.isArray(list) || list.length < 1 || list.length > 3) {
    throw new ArgumentError(`${op}: workgroups must be a count or [x, y, z], got ${describeValue(workgroups)}`);
  }
  list.forEach((n, i) => expectNumber(op, `workgroups[${i}]`, n, { integer: true, min: 0 }));
  const [x, y = 1, z = 1] = list as number[];
  return [x, y, z];
}

function checkCode(op: string, code: unknown, names: string[], hasParams: boolean): void {
  if (typeof code !== 'string' || !code.trim()) throw new ArgumentError(`${op}: code must be WGSL source, got ${describeValue(code)}`);
  if (!/@compute[\s\S]*?\bfn\s+main\s*\(/.test(code)) throw new ArgumentError(`${op}: code needs a compute entry point named main: @compute @workgroup_size(...) fn main(...)`);
  // Comments left out: a note about bindings is not a declaration.
  const live = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  if (/@binding\s*\(/.test(live)) {
    throw new ArgumentError(`${op}: code declares its own @binding; runKernel declares them from inputs, outputs and params (${[...names, ...(hasParams ? ['params'] : [])].join(', ')}): read them by name`);
  }
}

/** The declarations appended to the user's code: storage bindings, then the params block. */
function declarations(inputs: Binding[], outputs: Binding[], params: Param[]): string {
  const lines = ['// Declared by dawnet.runKernel from its inputs, outputs and params.'];
  inputs.forEach((b, i) => lines.push(`@group(0) @binding(${i}) var<storage, read> ${b.name}: array<${b.type}>;`));
  outputs.forEach((b, i) => lines.push(`@group(0) @binding(${inputs.length + i}) var<storage, read_write> ${b.name}: array<${b.type}>;`));
  if (params.length) {
    lines.push(`struct Params { ${params.map((p) => `${p.name}: ${p.value[0]},`).join(' ')} }`);
    lines.push(`@group(0) @binding(${inputs.length + outputs.length}) var<uniform> params: Params;`);
  }
  return lines.join('\n');
}
