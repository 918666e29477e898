/**
 * The trained form of the gradient-boosted trees: plain JSON parameters, and prediction from them
 * with exactly the comparison rule the ONNX export uses (`Math.fround(x) <= threshold`, NaN by
 * the node's missing direction).
 */
import type { GbdtTask } from "./gbdt-loss.ts";
import { sigmoid } from "./gbdt-loss.ts";

/** A dense row-major float64 matrix, `data[i * cols + j]`; NaN marks a missing value. */
export interface GbdtMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/**
 * One node of a tree. A split sends a row left when `Math.fround(x[feature]) <= threshold`
 * (`threshold` is a float32 value in the feature's own units), and a missing (NaN) value left
 * when `missingLeft`. A leaf has `feature` −1 and adds `value` to its output's raw score.
 */
export interface GbdtNode {
  readonly feature: number;
  readonly threshold: number;
  readonly missingLeft: boolean;
  readonly left: number;
  readonly right: number;
  readonly value: number;
}

/** One tree: its nodes (root first, children after their parent) and the raw output it adds to. */
export interface GbdtTree {
  readonly output: number;
  readonly nodes: readonly GbdtNode[];
}

/** A trained ensemble, JSON-serialisable. */
export interface GbdtParams {
  readonly kind: "gbdt";
  /** `binary` has one raw output (log-odds of class 1), `multiclass` one per class (softmax). */
  readonly task: GbdtTask;
  /** Number of input features. */
  readonly features: number;
  /** Number of classes (1 for regression). */
  readonly nClasses: number;
  /** Number of raw outputs: 1 for regression and binary, `nClasses` for multiclass. */
  readonly outputs: number;
  /** Raw score per output before any tree (mean, log-odds or log prior). */
  readonly baseScore: readonly number[];
  /** Boosting iterations kept (each adds `outputs` trees). */
  readonly iterations: number;
  /** Trees in boosting order: iteration i, output k is `trees[i * outputs + k]`. */
  readonly trees: readonly GbdtTree[];
}

/** Throws unless `X` has the width the model was trained on. */
function checkWidth(where: string, params: GbdtParams, X: GbdtMatrix): void {
  if (X.cols !== params.features) throw new Error(`${where}: X has ${X.cols} columns but the model was trained on ${params.features}. Pass the same feature columns, in the same order.`);
}

/** The leaf value a tree reaches for the row starting at `data[base]`. */
export function treeValue(nodes: readonly GbdtNode[], data: Float64Array, base: number): number {
  let n = nodes[0]!;
  while (n.feature >= 0) {
    const x = data[base + n.feature]!;
    const goLeft = x !== x ? n.missingLeft : Math.fround(x) <= n.threshold;
    n = nodes[goLeft ? n.left : n.right]!;
  }
  return n.value;
}

/** Raw scores (before sigmoid/softmax), row-major `rows × outputs`: the sum of the trees, then the base score (as onnxruntime adds them). */
export function predictGbdtRaw(params: GbdtParams, X: GbdtMatrix): Float64Array {
  checkWidth("predictGbdtRaw", params, X);
  const K = params.outputs;
  const out = new Float64Array(X.rows * K);
  for (let i = 0; i < X.rows; i++) {
    const base = i * X.cols;
    for (const tree of params.trees) out[i * K + tree.output]! += treeValue(tree.nodes, X.data, base);
    for (let k = 0; k < K; k++) out[i * K + k]! += params.baseScore[k]!;
  }
  return out;
}

/** Class probabilities, `rows × nClasses` (binary: [1 − p, p]). Throws for a regression model. */
export function predictGbdtProba(params: GbdtParams, X: GbdtMatrix): GbdtMatrix {
  if (params.task === "regression") throw new Error("predictGbdtProba: the model is a regression model and has no class probabilities. Use predictGbdt.");
  const raw = predictGbdtRaw(params, X);
  const C = params.nClasses;
  const data = new Float64Array(X.rows * C);
  for (let i = 0; i < X.rows; i++) {
    if (params.task === "binary") {
      const p = sigmoid(raw[i]!);
      data[2 * i] = 1 - p;
      data[2 * i + 1] = p;
      continue;
    }
    let max = -Infinity;
    for (let k = 0; k < C; k++) max = Math.max(max, raw[i * C + k]!);
    let sum = 0;
    for (let k = 0; k < C; k++) sum += data[i * C + k] = Math.exp(raw[i * C + k]! - max);
    for (let k = 0; k < C; k++) data[i * C + k]! /= sum;
  }
  return { rows: X.rows, cols: C, data };
}

/**
 * Predictions: the regression value, or the class index (binary: 1 when the log-odds are > 0;
 * multiclass: the first class with the largest raw score, as onnxruntime picks it).
 */
export function predictGbdt(params: GbdtParams, X: GbdtMatrix): Float64Array {
  const raw = predictGbdtRaw(params, X);
  if (params.task === "regression") return raw;
  if (params.task === "binary") return raw.map((z) => (z > 0 ? 1 : 0));
  const K = params.outputs;
  const out = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (raw[i * K + k]! > raw[i * K + best]!) best = k;
    out[i] = best;
  }
  return out;
}
