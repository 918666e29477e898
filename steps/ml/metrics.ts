import type { Matrix } from "./matrix.ts";

/** Precision, recall and F1 of one class (or their macro average), with the class's true count. */
export interface ClassScores {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

/** Per-class scores (index = class) and their unweighted mean over classes. */
export interface ClassificationReport {
  readonly perClass: ClassScores[];
  readonly macro: Omit<ClassScores, "support">;
}

function checkPair(where: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length === 0) throw new Error(`${where}: no rows to score (empty input).`);
  if (a.length !== b.length) throw new Error(`${where}: yTrue has ${a.length} values but the predictions have ${b.length}.`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) throw new Error(`${where}: row ${i} is not finite (yTrue ${a[i]}, prediction ${b[i]}).`);
  }
}

function classCount(where: string, yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses?: number): number {
  let max = 0;
  for (let i = 0; i < yTrue.length; i++) max = Math.max(max, yTrue[i]!, yPred[i]!);
  const c = nClasses ?? max + 1;
  for (let i = 0; i < yTrue.length; i++) {
    for (const v of [yTrue[i]!, yPred[i]!]) {
      if (!Number.isInteger(v) || v < 0 || v >= c) throw new Error(`${where}: row ${i} has label ${v}, not a class index in 0..${c - 1}.`);
    }
  }
  return c;
}

/** Share of rows where the predicted class equals the true class. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair("accuracy", yTrue, yPred);
  let hits = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / yTrue.length;
}

/** Counts: row = true class, column = predicted class. */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses?: number): number[][] {
  checkPair("confusionMatrix", yTrue, yPred);
  const c = classCount("confusionMatrix", yTrue, yPred, nClasses);
  const m = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]!]![yPred[i]!]! += 1;
  return m;
}

/**
 * Per-class and macro precision, recall and F1. A ratio whose denominator is zero (a class never
 * predicted, or absent) counts as 0, as scikit-learn's `zero_division=0` does.
 */
export function precisionRecallF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses?: number): ClassificationReport {
  const m = confusionMatrix(yTrue, yPred, nClasses);
  const perClass = m.map((row, k) => {
    const tp = row[k]!;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = m.reduce((a, r) => a + r[k]!, 0);
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { precision, recall, f1, support };
  });
  const mean = (key: "precision" | "recall" | "f1"): number => perClass.reduce((a, s) => a + s[key], 0) / perClass.length;
  return { perClass, macro: { precision: mean("precision"), recall: mean("recall"), f1: mean("f1") } };
}

/** AUC of scores for `positive[i]` (Mann–Whitney U with tied scores sharing their average rank). */
function binaryAuc(where: string, positive: readonly boolean[], scores: ArrayLike<number>): number {
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  if (nPos === 0 || nNeg === 0) throw new Error(`${where}: ROC AUC needs both classes in yTrue, but only ${nPos === 0 ? "negatives" : "positives"} are present.`);
  const order = Array.from({ length: positive.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && scores[order[j]!] === scores[order[i]!]) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (positive[order[k]!]) rankSum += rank;
    i = j;
  }
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * ROC AUC. Binary: `scores` is the positive-class score per row, or an `[N × 2]` probability
 * matrix (column 1 is used). Multiclass: an `[N × C]` probability matrix, macro one-vs-rest.
 * Throws when a class has no positive or no negative rows.
 */
export function rocAuc(yTrue: ArrayLike<number>, scores: ArrayLike<number> | Matrix): number {
  if ("rows" in scores && "data" in scores) {
    const p = scores as Matrix;
    if (p.rows !== yTrue.length) throw new Error(`rocAuc: yTrue has ${yTrue.length} values but the score matrix has ${p.rows} rows.`);
    if (p.cols < 2) throw new Error(`rocAuc: a score matrix needs one column per class (≥ 2), got ${p.cols}.`);
    const col = (k: number): Float64Array => Float64Array.from({ length: p.rows }, (_, i) => p.data[i * p.cols + k]!);
    if (p.cols === 2) return rocAuc(yTrue, col(1));
    checkPair("rocAuc", yTrue, col(0));
    classCount("rocAuc", yTrue, yTrue, p.cols);
    let sum = 0;
    for (let k = 0; k < p.cols; k++) sum += binaryAuc(`rocAuc (class ${k} vs rest)`, Array.from(yTrue, (t) => t === k), col(k));
    return sum / p.cols;
  }
  const s = scores as ArrayLike<number>;
  checkPair("rocAuc", yTrue, s);
  classCount("rocAuc", yTrue, yTrue, 2);
  return binaryAuc("rocAuc", Array.from(yTrue, (t) => t === 1), s);
}

/** Mean negative log-likelihood of the true class; probabilities are clipped to [eps, 1 − eps]. */
export function logLoss(yTrue: ArrayLike<number>, proba: Matrix, eps = 1e-15): number {
  if (yTrue.length === 0) throw new Error("logLoss: no rows to score (empty input).");
  if (proba.rows !== yTrue.length) throw new Error(`logLoss: yTrue has ${yTrue.length} values but the probability matrix has ${proba.rows} rows.`);
  classCount("logLoss", yTrue, yTrue, proba.cols);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const p = proba.data[i * proba.cols + yTrue[i]!]!;
    if (!Number.isFinite(p)) throw new Error(`logLoss: probability of row ${i} is ${p}.`);
    sum -= Math.log(Math.min(1 - eps, Math.max(eps, p)));
  }
  return sum / yTrue.length;
}

/** Root mean squared error. */
export function rmse(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair("rmse", yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) sum += (yTrue[i]! - yPred[i]!) ** 2;
  return Math.sqrt(sum / yTrue.length);
}

/** Mean absolute error. */
export function mae(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair("mae", yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) sum += Math.abs(yTrue[i]! - yPred[i]!);
  return sum / yTrue.length;
}

/** Coefficient of determination, 1 − SSres / SStot. Throws when yTrue is constant (SStot = 0). */
export function r2(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair("r2", yTrue, yPred);
  let mean = 0;
  for (let i = 0; i < yTrue.length; i++) mean += yTrue[i]! / yTrue.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < yTrue.length; i++) {
    ssRes += (yTrue[i]! - yPred[i]!) ** 2;
    ssTot += (yTrue[i]! - mean) ** 2;
  }
  if (ssTot === 0) throw new Error(`r2: yTrue is constant (all ${yTrue[0]}), so R² is undefined. Score on rows with varying targets.`);
  return 1 - ssRes / ssTot;
}
