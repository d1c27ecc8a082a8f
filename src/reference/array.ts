// The CPU reference's array type: float64 data in row-major order with its shape. References are
// written as plain loops, to be read as the specification of each op.

export interface NdArray {
  data: Float64Array;
  shape: number[];
}

export function nd(data: ArrayLike<number>, shape: number[]): NdArray {
  const n = shape.reduce((p, d) => p * d, 1);
  if (n !== data.length) throw new Error(`nd: ${data.length} values for shape [${shape}]`);
  return { data: Float64Array.from(data), shape: [...shape] };
}

export function ndZeros(shape: number[]): NdArray {
  return { data: new Float64Array(shape.reduce((p, d) => p * d, 1)), shape: [...shape] };
}
