import { checkTargets, type EpochCallback } from "./linear.ts";
import { createMatrix, type Matrix } from "./matrix.ts";

/** Options of {@link trainLogistic}. */
export interface LogisticOptions {
  /** Number of classes C (labels are 0..C-1). @default max(y) + 1 */
  readonly nClasses?: number;
  /** L2 penalty on the weights (not intercepts): loss = mean log loss + l2/2 · ‖W‖². @default 0.01 */
  readonly l2?: number;
  /** L-BFGS iterations at most. @default 500 */
  readonly maxIter?: number;
  /** Stop when the largest gradient component falls below this. @default 1e-6 */
  readonly tol?: number;
  /** Called after each L-BFGS iteration with the penalised training loss. */
  readonly onEpoch?: EpochCallback;
}

/**
 * Fitted logistic regression. Binary (C = 2): one logit column, `p(1) = σ(x·w + b)`.
 * Multinomial (C > 2): C logit columns and a softmax. `weights` is `[features × outputs]` row-major.
 */
export interface LogisticParams {
  readonly kind: "logistic";
  readonly nClasses: number;
  readonly features: number;
  readonly outputs: number;
  readonly weights: number[];
  readonly intercepts: number[];
}

/** A fitted classifier: JSON params, class probabilities `[N × C]` and labels (argmax). */
export interface LogisticModel {
  readonly params: LogisticParams;
  predictProba(X: Matrix): Matrix;
  predict(X: Matrix): Int32Array;
}

/** Throws unless every label is an integer class index and at least two classes occur; returns the class count. */
export function checkLabels(where: string, y: ArrayLike<number>, nClasses?: number): number {
  const seen = new Set<number>();
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || (nClasses !== undefined && v >= nClasses)) {
      throw new Error(`${where}: label y[${i}] = ${v} is not a class index${nClasses === undefined ? "" : ` in 0..${nClasses - 1}`}. Encode labels with encodeLabels first.`);
    }
    seen.add(v);
  }
  if (seen.size < 2) throw new Error(`${where}: the labels hold ${seen.size} distinct class${seen.size === 1 ? "" : "es"}; training a classifier needs at least 2.`);
  return nClasses ?? Math.max(...seen) + 1;
}

/** Logits `X·W + b` as an `[N × outputs]` matrix. */
export function logits(X: Matrix, weights: ArrayLike<number>, bias: ArrayLike<number>, outputs: number): Float64Array {
  const out = new Float64Array(X.rows * outputs);
  for (let i = 0; i < X.rows; i++) {
    for (let k = 0; k < outputs; k++) out[i * outputs + k] = bias[k]!;
    for (let j = 0; j < X.cols; j++) {
      const x = X.data[i * X.cols + j]!;
      if (x === 0) continue;
      for (let k = 0; k < outputs; k++) out[i * outputs + k]! += x * weights[j * outputs + k]!;
    }
  }
  return out;
}

/** Turns logits into probabilities in place: sigmoid for one column, softmax for several. Returns `[N × C]`. */
export function toProbabilities(z: Float64Array, rows: number, outputs: number): Matrix {
  if (outputs === 1) {
    const p = new Float64Array(rows * 2);
    for (let i = 0; i < rows; i++) {
      const p1 = 1 / (1 + Math.exp(-z[i]!));
      p[2 * i] = 1 - p1;
      p[2 * i + 1] = p1;
    }
    return createMatrix(rows, 2, p);
  }
  for (let i = 0; i < rows; i++) {
    const row = z.subarray(i * outputs, (i + 1) * outputs);
    const max = Math.max(...row);
    let sum = 0;
    for (let k = 0; k < outputs; k++) sum += row[k] = Math.exp(row[k]! - max);
    for (let k = 0; k < outputs; k++) row[k]! /= sum;
  }
  return createMatrix(rows, outputs, z);
}

/** Index of the largest probability per row (first on ties, like ONNX ArgMax). */
export function argmaxRows(p: Matrix): Int32Array {
  const out = new Int32Array(p.rows);
  for (let i = 0; i < p.rows; i++) {
    let best = 0;
    for (let k = 1; k < p.cols; k++) if (p.data[i * p.cols + k]! > p.data[i * p.cols + best]!) best = k;
    out[i] = best;
  }
  return out;
}

/** Class probabilities `[N × C]` of a logistic model. */
export function predictLogisticProba(params: LogisticParams, X: Matrix): Matrix {
  if (X.cols !== params.features) throw new Error(`predictLogistic: X has ${X.cols} columns, the model was fitted on ${params.features}.`);
  return toProbabilities(logits(X, params.weights, params.intercepts, params.outputs), X.rows, params.outputs);
}

/** Penalised mean log loss and its gradient at θ = [W (features × outputs), b (outputs)]. */
function objective(X: Matrix, y: ArrayLike<number>, outputs: number, l2: number, theta: Float64Array): { loss: number; grad: Float64Array } {
  const { rows: n, cols: f } = X;
  const nw = f * outputs;
  const z = logits(X, theta.subarray(0, nw), theta.subarray(nw), outputs);
  const residual = new Float64Array(n * outputs);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    if (outputs === 1) {
      const zi = z[i]!;
      // log(1 + e^z) − y·z, computed without overflow.
      loss += Math.max(zi, 0) + Math.log1p(Math.exp(-Math.abs(zi))) - y[i]! * zi;
      residual[i] = 1 / (1 + Math.exp(-zi)) - y[i]!;
    } else {
      const row = z.subarray(i * outputs, (i + 1) * outputs);
      const max = Math.max(...row);
      let sum = 0;
      for (let k = 0; k < outputs; k++) sum += Math.exp(row[k]! - max);
      loss += max + Math.log(sum) - row[y[i]!]!;
      for (let k = 0; k < outputs; k++) residual[i * outputs + k] = Math.exp(row[k]! - max) / sum - (k === y[i] ? 1 : 0);
    }
  }
  const grad = new Float64Array(theta.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < outputs; k++) {
      const r = residual[i * outputs + k]! / n;
      grad[nw + k]! += r;
      for (let j = 0; j < f; j++) grad[j * outputs + k]! += X.data[i * f + j]! * r;
    }
  }
  let penalty = 0;
  for (let j = 0; j < nw; j++) {
    penalty += theta[j]! ** 2;
    grad[j]! += l2 * theta[j]!;
  }
  return { loss: loss / n + (l2 / 2) * penalty, grad };
}

const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

/** L-BFGS (memory 10) with a backtracking Armijo line search. Deterministic. */
function lbfgs(f: (t: Float64Array) => { loss: number; grad: Float64Array }, theta0: Float64Array, maxIter: number, tol: number, onIter?: EpochCallback): Float64Array {
  let theta = theta0;
  let { loss, grad } = f(theta);
  const history: { s: Float64Array; y: Float64Array; rho: number }[] = [];
  for (let iter = 0; iter < maxIter; iter++) {
    if (grad.reduce((m, g) => Math.max(m, Math.abs(g)), 0) < tol) break;
    // Two-loop recursion: direction = −H·grad.
    const q = Float64Array.from(grad);
    const alphas: number[] = [];
    for (let h = history.length - 1; h >= 0; h--) {
      const { s, y, rho } = history[h]!;
      const a = rho * dot(s, q);
      alphas[h] = a;
      for (let i = 0; i < q.length; i++) q[i]! -= a * y[i]!;
    }
    const last = history.at(-1);
    const gamma = last ? dot(last.s, last.y) / dot(last.y, last.y) : 1 / Math.max(1, Math.sqrt(dot(grad, grad)));
    for (let i = 0; i < q.length; i++) q[i]! *= gamma;
    for (let h = 0; h < history.length; h++) {
      const { s, y, rho } = history[h]!;
      const b = rho * dot(y, q);
      for (let i = 0; i < q.length; i++) q[i]! += s[i]! * (alphas[h]! - b);
    }
    const slope = -dot(grad, q);
    if (!(slope < 0)) break;
    let step = 1;
    let next = f(theta.map((t, i) => t - step * q[i]!));
    while (next.loss > loss + 1e-4 * step * slope && step > 1e-12) {
      step /= 2;
      next = f(theta.map((t, i) => t - step * q[i]!));
    }
    if (!(next.loss <= loss)) break;
    const s = q.map((v) => -step * v);
    const yv = next.grad.map((g, i) => g - grad[i]!);
    const sy = dot(s, yv);
    if (sy > 1e-12) {
      history.push({ s, y: yv, rho: 1 / sy });
      if (history.length > 10) history.shift();
    }
    const improvement = loss - next.loss;
    theta = theta.map((t, i) => t + s[i]!);
    ({ loss, grad } = next);
    onIter?.(iter, loss);
    if (improvement <= 1e-12 * Math.max(1, Math.abs(loss))) break;
  }
  return theta;
}

/**
 * Binary (sigmoid) or multinomial (softmax) logistic regression with an L2 penalty, fitted by
 * full-batch L-BFGS from zero weights: the same data always gives the same params.
 */
export function trainLogistic(X: Matrix, y: ArrayLike<number>, options: LogisticOptions = {}): LogisticModel {
  checkTargets("trainLogistic", X, y);
  const nClasses = checkLabels("trainLogistic", y, options.nClasses);
  const l2 = options.l2 ?? 0.01;
  if (!(l2 >= 0)) throw new Error(`trainLogistic: l2 must be ≥ 0, got ${l2}.`);
  const outputs = nClasses === 2 ? 1 : nClasses;
  const nw = X.cols * outputs;
  const theta = lbfgs((t) => objective(X, y, outputs, l2, t), new Float64Array(nw + outputs), options.maxIter ?? 500, options.tol ?? 1e-6, options.onEpoch);
  const params: LogisticParams = {
    kind: "logistic",
    nClasses,
    features: X.cols,
    outputs,
    weights: Array.from(theta.subarray(0, nw)),
    intercepts: Array.from(theta.subarray(nw)),
  };
  const predictProba = (m: Matrix): Matrix => predictLogisticProba(params, m);
  return { params, predictProba, predict: (m) => argmaxRows(predictProba(m)) };
}
