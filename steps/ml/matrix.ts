/**
 * A dense row-major matrix of float64 values: element (i, j) is `data[i * cols + j]`.
 * Every ML helper in `steps/ml` takes and returns this shape.
 */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/** A `rows × cols` matrix over `data` (zero-filled when omitted); throws when the length does not fit. */
export function createMatrix(rows: number, cols: number, data?: Float64Array): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new Error(`createMatrix: rows and cols must be non-negative integers, got ${rows} × ${cols}.`);
  }
  const values = data ?? new Float64Array(rows * cols);
  if (values.length !== rows * cols) {
    throw new Error(`createMatrix: data has ${values.length} values but ${rows} × ${cols} needs ${rows * cols}. Pass a buffer of rows * cols values.`);
  }
  return { rows, cols, data: values };
}

/** A matrix from an array of equally long rows. */
export function fromRows(rows: readonly (readonly number[])[]): Matrix {
  const cols = rows[0]?.length ?? 0;
  const data = new Float64Array(rows.length * cols);
  rows.forEach((row, i) => {
    if (row.length !== cols) throw new Error(`fromRows: row ${i} has ${row.length} values, row 0 has ${cols}. Give every row the same length.`);
    data.set(row, i * cols);
  });
  return createMatrix(rows.length, cols, data);
}

/** The rows of a matrix as plain arrays (for JSON or display). */
export function toRows(m: Matrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  return out;
}

/** Element (i, j). */
export function at(m: Matrix, i: number, j: number): number {
  return m.data[i * m.cols + j]!;
}

/** A new matrix made of the given rows, in the given order. */
export function selectRows(m: Matrix, indices: readonly number[]): Matrix {
  const data = new Float64Array(indices.length * m.cols);
  indices.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= m.rows) throw new Error(`selectRows: row index ${r} is outside 0..${m.rows - 1}.`);
    data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  });
  return createMatrix(indices.length, m.cols, data);
}

/** Picks the entries of a plain array or typed array at the given indices. */
export function selectValues<T>(values: ArrayLike<T>, indices: readonly number[]): T[] {
  return indices.map((i) => values[i]!);
}

/** Column j as a new array. */
export function column(m: Matrix, j: number): Float64Array {
  const out = new Float64Array(m.rows);
  for (let i = 0; i < m.rows; i++) out[i] = m.data[i * m.cols + j]!;
  return out;
}

/** Columns of `a` followed by columns of `b` (same row count). */
export function hconcat(a: Matrix, b: Matrix): Matrix {
  if (a.rows !== b.rows) throw new Error(`hconcat: left has ${a.rows} rows, right has ${b.rows}.`);
  const cols = a.cols + b.cols;
  const data = new Float64Array(a.rows * cols);
  for (let i = 0; i < a.rows; i++) {
    data.set(a.data.subarray(i * a.cols, (i + 1) * a.cols), i * cols);
    data.set(b.data.subarray(i * b.cols, (i + 1) * b.cols), i * cols + a.cols);
  }
  return createMatrix(a.rows, cols, data);
}

/** The values rounded to float32, e.g. as an onnxruntime input tensor. */
export function toFloat32(m: Matrix): Float32Array {
  return Float32Array.from(m.data);
}

/**
 * Solves `A x = b` for a symmetric positive definite `n × n` matrix `A` (row-major) by Cholesky
 * factorisation. Throws when `A` is not positive definite (e.g. collinear columns and no penalty).
 */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        // A pivot lost to rounding (relative to its diagonal) means A is singular in float64.
        if (!(sum > 1e-12 * Math.abs(a[i * n + i]!))) throw new Error(`choleskySolve: matrix is not positive definite (pivot ${i} is ${sum}). Add a ridge penalty (alpha > 0) or drop collinear columns.`);
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j]!;
      }
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i * n + k]! * y[k]!;
    y[i] = sum / l[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i]! * x[k]!;
    x[i] = sum / l[i * n + i]!;
  }
  return x;
}
