// Shared pieces of kernel plumbing: 1-D launches over more elements than one grid dimension
// allows, and the uniform-params struct every kernel declares.

import { runtime } from '../gpu/runtime.js';

/** Threads per workgroup for simple element-wise kernels. */
export const LINEAR_WG = 256;

/**
 * `groups` workgroups laid out x first, up to the device's per-dimension maximum, then y; kernels
 * recover the flat workgroup index as wid.x + wid.y * nwg.x.
 */
export function workgroupGrid(groups: number): [number, number] {
  const maxX = runtime().limits.maxComputeWorkgroupsPerDimension;
  return groups <= maxX ? [groups, 1] : [maxX, Math.ceil(groups / maxX)];
}

/**
 * Workgroups for n threads of LINEAR_WG, as workgroupGrid lays them out. Kernels recover the flat
 * index with `linearIndex()` below.
 */
export function linearGrid(n: number, wg = LINEAR_WG): [number, number] {
  return workgroupGrid(Math.ceil(n / wg));
}

/** WGSL: builtins and `let i = ...` for a linearGrid launch. Use inside `fn main(...)`. */
export const LINEAR_MAIN_ARGS = /* wgsl */ `@builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>`;

export function linearIndex(wg = LINEAR_WG): string {
  return /* wgsl */ `gid.x + gid.y * nwg.x * ${wg}u`;
}

/**
 * Elements per thread for kernels that read and write four floats at a time where a length (or a
 * channel count) allows it: on CPU adapters each load and store costs a bounds check and a
 * branch per lane, paid once per vec4 instead of per float.
 */
export type VecWidth = 1 | 4;
export const vecWidth = (n: number): VecWidth => (n % 4 === 0 ? 4 : 1);
/** The WGSL type of one thread's element: f32 or vec4<f32> (u32 or vec4<u32> with `scalar` 'u32'). */
export const vecType = (width: VecWidth, scalar: 'f32' | 'u32' = 'f32'): string => (width === 4 ? `vec4<${scalar}>` : scalar);

/**
 * WGSL: whether v (f32 or vecN<f32>; u the matching u32 type) is NaN, read from its bits: WGSL lets
 * a compiler assume float values are never NaN, so `v != v` may fold to false.
 */
export const isNanBits = (v: string, u: string): string => `((bitcast<${u}>(${v}) & ${u}(0x7fffffffu)) > ${u}(0x7f800000u))`;

/** Formats a JS number as a WGSL f32 literal. */
export function f32Literal(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`f32Literal: ${v}`);
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * WGSL: splits the flat index `i` of an NHWC tensor into n, row, col, ch. `rows` and `cols` are
 * WGSL expressions (e.g. 'params.outH'); the channel count is read from `params.c`.
 */
export function decodeNhwc(rows: string, cols: string): string {
  return /* wgsl */ `
  let ch = i % params.c;
  let pix = i / params.c;
  let col = pix % ${cols};
  let row = (pix / ${cols}) % ${rows};
  let n = pix / (${cols} * ${rows});`;
}
