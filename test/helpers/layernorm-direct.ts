// Layer norm written out directly, one row of c values at a time (float64): the textbook form the
// layer-norm tests check the reference and the GPU against.

/** y = (x - mean) / sqrt(var + eps) * gamma + beta over each row's c values, the biased variance. */
export function layerNormDirect(x: Float64Array, c: number, gamma: Float64Array, beta: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    const row = x.subarray(r * c, (r + 1) * c);
    const mean = row.reduce((a, v) => a + v, 0) / c;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / c;
    for (let i = 0; i < c; i++) y[r * c + i] = ((row[i] - mean) / Math.sqrt(variance + eps)) * gamma[i] + beta[i];
  }
  return y;
}
