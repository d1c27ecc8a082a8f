// Uniform parameter blocks. Every kernel's params struct holds only 4-byte scalars (u32, i32,
// f32) in declaration order, so the WGSL struct layout is simply sequential and the TypeScript side
// writes values in the same order. Uniform buffers need 16-byte granularity: padded here.

export type ParamValue = ['u32' | 'i32' | 'f32', number];

export function packParams(values: ParamValue[]): ArrayBuffer {
  const bytes = Math.max(16, Math.ceil((values.length * 4) / 16) * 16);
  const buf = new ArrayBuffer(bytes);
  const view = new DataView(buf);
  values.forEach(([type, v], i) => {
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else {
      if (v < 0 || !Number.isInteger(v)) throw new RangeError(`packParams: u32 param ${i} is ${v}`);
      view.setUint32(i * 4, v, true);
    }
  });
  return buf;
}

/** Shorthands so call sites read `u32(n), f32(eps)`. */
export const u32 = (v: number): ParamValue => ['u32', v];
export const i32 = (v: number): ParamValue => ['i32', v];
export const f32 = (v: number): ParamValue => ['f32', v];
