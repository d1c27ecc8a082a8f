// CPU references for matmul and linear (float64): C = op(A) · op(B), where op transposes an
// operand stored the other way round (A as [K, M], B as [N, K]).

import { ndZeros, type NdArray } from './array.js';

export interface MatmulRefOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/** Element (row, col) of op(X) for X stored row-major as `shape`, transposed or not. */
function at(x: NdArray, transposed: boolean, row: number, col: number): number {
  return transposed ? x.data[col * x.shape[1] + row] : x.data[row * x.shape[1] + col];
}

/** Flat index in X's storage of element (row, col) of op(X). */
function index(x: NdArray, transposed: boolean, row: number, col: number): number {
  return transposed ? col * x.shape[1] + row : row * x.shape[1] + col;
}

function dims(a: NdArray, b: NdArray, o: MatmulRefOptions): [number, number, number] {
  const m = o.transposeA ? a.shape[1] : a.shape[0];
  const k = o.transposeA ? a.shape[0] : a.shape[1];
  const n = o.transposeB ? b.shape[0] : b.shape[1];
  return [m, k, n];
}

export function matmulRef(a: NdArray, b: NdArray, o: MatmulRefOptions = {}, bias?: NdArray): NdArray {
  const [m, k, n] = dims(a, b, o);
  const c = ndZeros([m, n]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias.data[j] : 0;
      for (let p = 0; p < k; p++) s += at(a, !!o.transposeA, i, p) * at(b, !!o.transposeB, p, j);
      c.data[i * n + j] = s;
    }
  }
  return c;
}

/** dA and dB in the operands' own storage layouts: dA[i,p] += dC[i,j] B[p,j], dB[p,j] += A[i,p] dC[i,j]. */
export function matmulBackwardRef(a: NdArray, b: NdArray, dc: NdArray, o: MatmulRefOptions = {}): [NdArray, NdArray] {
  const [m, k, n] = dims(a, b, o);
  const da = ndZeros(a.shape);
  const db = ndZeros(b.shape);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const g = dc.data[i * n + j];
      for (let p = 0; p < k; p++) {
        da.data[index(a, !!o.transposeA, i, p)] += g * at(b, !!o.transposeB, p, j);
        db.data[index(b, !!o.transposeB, p, j)] += at(a, !!o.transposeA, i, p) * g;
      }
    }
  }
  return [da, db];
}

/** y = x · w + b with x [N, in], w [in, out], b [out]. */
export function linearRef(x: NdArray, w: NdArray, b?: NdArray): NdArray {
  return matmulRef(x, w, {}, b);
}

/** [dx, dw, db]: db sums dy over rows. */
export function linearBackwardRef(x: NdArray, w: NdArray, dy: NdArray): [NdArray, NdArray, NdArray] {
  const [dx, dw] = matmulBackwardRef(x, w, dy);
  const out = w.shape[1];
  const db = ndZeros([out]);
  for (let i = 0; i < dy.data.length; i++) db.data[i % out] += dy.data[i];
  return [dx, dw, db];
}
