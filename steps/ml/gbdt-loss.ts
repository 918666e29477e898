/**
 * The losses of `gbdt.ts`: starting scores, gradients and hessians, and mean losses for learning
 * curves and early stopping. Raw scores are kept per output (one Float64Array per class).
 */

/** What the boosted trees predict. */
export type GbdtTask = "regression" | "binary" | "multiclass";

const EPS = 1e-15;

/** The logistic function, stable for large |z|. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Softmax of `k` raw scores, read at `raw[c][i]`, written to `out[0..k)`. */
export function softmaxAt(raw: readonly Float64Array[], i: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < raw.length; c++) max = Math.max(max, raw[c]![i]!);
  let sum = 0;
  for (let c = 0; c < raw.length; c++) {
    out[c] = Math.exp(raw[c]![i]! - max);
    sum += out[c]!;
  }
  for (let c = 0; c < raw.length; c++) out[c]! /= sum;
}

/** The constant raw score per output that minimises the loss on `y`: mean, log-odds, or log prior. */
export function baselineScores(task: GbdtTask, y: Float64Array, outputs: number): number[] {
  const n = y.length;
  if (task === "regression") return [y.reduce((s, v) => s + v, 0) / n];
  if (task === "binary") {
    const p = Math.min(1 - EPS, Math.max(EPS, y.reduce((s, v) => s + v, 0) / n));
    return [Math.log(p / (1 - p))];
  }
  const counts = new Float64Array(outputs);
  for (let i = 0; i < n; i++) counts[y[i]!]! += 1;
  return Array.from(counts, (c) => Math.log(Math.max(EPS, c / n)));
}

/** Gradients and hessians of the loss at `raw`, per output, for the training rows. */
export function computeGradients(task: GbdtTask, y: Float64Array, raw: readonly Float64Array[], g: readonly Float64Array[], h: readonly Float64Array[]): void {
  const n = y.length;
  if (task === "regression") {
    const r = raw[0]!;
    const g0 = g[0]!;
    for (let i = 0; i < n; i++) g0[i] = r[i]! - y[i]!;
    h[0]!.fill(1);
    return;
  }
  if (task === "binary") {
    const [r, g0, h0] = [raw[0]!, g[0]!, h[0]!];
    for (let i = 0; i < n; i++) {
      const p = sigmoid(r[i]!);
      g0[i] = p - y[i]!;
      h0[i] = p * (1 - p);
    }
    return;
  }
  const p = new Float64Array(raw.length);
  for (let i = 0; i < n; i++) {
    softmaxAt(raw, i, p);
    for (let c = 0; c < raw.length; c++) {
      g[c]![i] = p[c]! - (y[i] === c ? 1 : 0);
      h[c]![i] = p[c]! * (1 - p[c]!);
    }
  }
}

/** Mean loss: squared error for regression, log loss (cross-entropy) for classification. */
export function meanLoss(task: GbdtTask, y: Float64Array, raw: readonly Float64Array[]): number {
  const n = y.length;
  if (n === 0) return Number.NaN;
  let sum = 0;
  if (task === "regression") {
    for (let i = 0; i < n; i++) sum += (raw[0]![i]! - y[i]!) ** 2;
  } else if (task === "binary") {
    // log(1 + e^−z) for y = 1, log(1 + e^z) for y = 0, computed without overflow.
    for (let i = 0; i < n; i++) {
      const z = y[i] === 1 ? -raw[0]![i]! : raw[0]![i]!;
      sum += z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
    }
  } else {
    const p = new Float64Array(raw.length);
    for (let i = 0; i < n; i++) {
      softmaxAt(raw, i, p);
      sum -= Math.log(Math.max(EPS, p[y[i]!]!));
    }
  }
  return sum / n;
}
