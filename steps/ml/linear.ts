import { choleskySolve, type Matrix } from "./matrix.ts";

/** Called after each epoch of training with the training loss (learning curves). */
export type EpochCallback = (epoch: number, loss: number, validationLoss?: number) => void;

/** Options of {@link trainRidge}. */
export interface RidgeOptions {
  /** L2 penalty on the weights (not the intercept). @default 1 */
  readonly alpha?: number;
  /** Called once (epoch 0) with the training mean squared error: the fit is closed-form. */
  readonly onEpoch?: EpochCallback;
}

/** Fitted ridge regression: `y = X · weights + intercept`. Plain JSON. */
export interface RidgeParams {
  readonly kind: "ridge";
  readonly alpha: number;
  readonly weights: number[];
  readonly intercept: number;
}

/** A fitted model: its JSON params and a predictor over raw feature matrices. */
export interface RidgeModel {
  readonly params: RidgeParams;
  predict(X: Matrix): Float64Array;
}

/** Throws unless `y` has one finite target per row of `X`. */
export function checkTargets(where: string, X: Matrix, y: ArrayLike<number>): void {
  if (X.rows === 0) throw new Error(`${where}: cannot train on 0 rows.`);
  if (y.length !== X.rows) throw new Error(`${where}: X has ${X.rows} rows but y has ${y.length} values. Pass one target per row.`);
  for (let i = 0; i < X.data.length; i++) {
    if (!Number.isFinite(X.data[i])) throw new Error(`${where}: X[${Math.floor(i / X.cols)}, ${i % X.cols}] is ${X.data[i]}. Impute missing values before training.`);
  }
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i])) throw new Error(`${where}: y[${i}] is ${y[i]}. Drop rows without a target.`);
  }
}

/** Predictions of a ridge model. */
export function predictRidge(params: RidgeParams, X: Matrix): Float64Array {
  if (X.cols !== params.weights.length) throw new Error(`predictRidge: X has ${X.cols} columns, the model was fitted on ${params.weights.length}.`);
  const out = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    let s = params.intercept;
    for (let j = 0; j < X.cols; j++) s += X.data[i * X.cols + j]! * params.weights[j]!;
    out[i] = s;
  }
  return out;
}

/**
 * Ridge regression in closed form: centres X and y (so the intercept is not penalised), then
 * solves `(XcᵀXc + αI) w = Xcᵀyc` by Cholesky and sets `b = ȳ − x̄·w`.
 */
export function trainRidge(X: Matrix, y: ArrayLike<number>, options: RidgeOptions = {}): RidgeModel {
  checkTargets("trainRidge", X, y);
  const alpha = options.alpha ?? 1;
  if (!(alpha >= 0)) throw new Error(`trainRidge: alpha must be ≥ 0, got ${alpha}.`);
  const { rows: n, cols: f, data } = X;
  const xMean = new Float64Array(f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) xMean[j]! += data[i * f + j]! / n;
  let yMean = 0;
  for (let i = 0; i < n; i++) yMean += y[i]! / n;
  const gram = new Float64Array(f * f);
  const rhs = new Float64Array(f);
  const xc = new Float64Array(f);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < f; j++) xc[j] = data[i * f + j]! - xMean[j]!;
    const yc = y[i]! - yMean;
    for (let j = 0; j < f; j++) {
      rhs[j]! += xc[j]! * yc;
      for (let k = 0; k <= j; k++) gram[j * f + k]! += xc[j]! * xc[k]!;
    }
  }
  for (let j = 0; j < f; j++) {
    gram[j * f + j]! += alpha;
    for (let k = 0; k < j; k++) gram[k * f + j] = gram[j * f + k]!;
  }
  const w = choleskySolve(gram, rhs, f);
  let intercept = yMean;
  for (let j = 0; j < f; j++) intercept -= xMean[j]! * w[j]!;
  const params: RidgeParams = { kind: "ridge", alpha, weights: Array.from(w), intercept };
  const fitted = predictRidge(params, X);
  let mse = 0;
  for (let i = 0; i < n; i++) mse += (fitted[i]! - y[i]!) ** 2 / n;
  options.onEpoch?.(0, mse);
  return { params, predict: (m) => predictRidge(params, m) };
}
