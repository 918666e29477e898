/**
 * Histogram-based gradient-boosted trees (in the manner of LightGBM and scikit-learn's
 * HistGradientBoosting): regression (squared error), binary (log loss) and multiclass (softmax,
 * one tree per class per iteration), missing values with a learned direction per split, row
 * subsampling and early stopping. Deterministic for a seed. Export with `onnx/export-trees.ts`.
 */
import { binRows, FLOAT32_MAX, fitBins, type FeatureBins } from "./gbdt-bins.ts";
import { baselineScores, computeGradients, meanLoss, type GbdtTask } from "./gbdt-loss.ts";
import { predictGbdt, predictGbdtProba, predictGbdtRaw, type GbdtMatrix, type GbdtNode, type GbdtParams, type GbdtTree } from "./gbdt-model.ts";
import { addBinnedTree, TreeGrower, type BinnedData, type BinnedNode } from "./gbdt-tree.ts";
import { createRng } from "./rng.ts";

export type { GbdtMatrix, GbdtNode, GbdtParams, GbdtTask, GbdtTree };
export { predictGbdt, predictGbdtProba, predictGbdtRaw };

/** Training options. Defaults follow scikit-learn's HistGradientBoosting. */
export interface GbdtOptions {
  /** `classification` trains binary log loss for two classes, softmax for more. */
  readonly task: "regression" | "classification";
  /** Number of classes (classification); labels must be integers in [0, nClasses). @default max label + 1 */
  readonly nClasses?: number;
  /** Boosting iterations at most. @default 100 */
  readonly maxIter?: number;
  /** Shrinkage applied to every leaf value. @default 0.1 */
  readonly learningRate?: number;
  /** Leaves per tree at most (trees grow best-first). @default 31 */
  readonly maxLeafNodes?: number;
  /** Depth at most (root = 0). @default Infinity */
  readonly maxDepth?: number;
  /** Training rows per leaf at least. @default 20 */
  readonly minSamplesLeaf?: number;
  /** L2 penalty on leaf values (added to the hessian sum). @default 0 */
  readonly l2Regularization?: number;
  /** Quantile bins per feature at most (2..255); missing values get a bin of their own. @default 255 */
  readonly maxBins?: number;
  /** Fraction of the training rows each iteration's trees see, drawn without replacement. @default 1 */
  readonly subsample?: number;
  /** Hold out `validationFraction` of the rows and stop when their loss stops improving. @default false */
  readonly earlyStopping?: boolean;
  /** Held-out fraction for early stopping (stratified for classification). @default 0.1 */
  readonly validationFraction?: number;
  /** Stop after this many iterations without the validation loss beating the reference by `tol`. @default 10 */
  readonly nIterNoChange?: number;
  /** Least improvement that counts. @default 1e-7 */
  readonly tol?: number;
  /** Seed of the validation split, the row subsamples and the binning subsample. @default 0 */
  readonly seed?: number;
  /** Called after every iteration with mean losses (squared error or log loss); `validLoss` is null without early stopping. */
  readonly onIteration?: (iteration: number, trainLoss: number, validLoss: number | null) => void;
}

/** A trained model: its JSON parameters, learning curves and predictions. */
export interface GbdtModel {
  readonly params: GbdtParams;
  /** Mean training loss after each iteration. */
  readonly trainLosses: readonly number[];
  /** Mean validation loss after each iteration (empty without early stopping). */
  readonly validLosses: readonly number[];
  /** Regression values or class indices. */
  predict(X: GbdtMatrix): Float64Array;
  /** Class probabilities `rows × nClasses`. */
  predictProba(X: GbdtMatrix): GbdtMatrix;
}

/** Values quantiles are computed from, per feature, at most. */
const BIN_SAMPLE = 200_000;

/** A seeded generator of uniform floats in [0, 1) (mulberry32, shared with the other trainers). */
function createRandom(seed: number): () => number {
  return createRng(seed).next;
}

/** `k` of `0..n-1` uniformly without replacement, ascending (selection sampling, Knuth's algorithm S). */
function sampleSorted(random: () => number, n: number, k: number): Int32Array {
  const out = new Int32Array(k);
  let chosen = 0;
  for (let i = 0; i < n && chosen < k; i++) if ((n - i) * random() < k - chosen) out[chosen++] = i;
  return out;
}

/** Splits rows into (train, validation), both ascending; per class for classification. */
function validationSplit(y: ArrayLike<number>, fraction: number, classes: number, random: () => number): [Int32Array, Int32Array] {
  const groups: number[][] = Array.from({ length: Math.max(1, classes) }, () => []);
  for (let i = 0; i < y.length; i++) groups[classes > 0 ? y[i]! : 0]!.push(i);
  const valid: number[] = [];
  for (const group of groups) {
    const take = sampleSorted(random, group.length, Math.round(group.length * fraction));
    for (const j of take) valid.push(group[j]!);
  }
  valid.sort((a, b) => a - b);
  const isValid = new Uint8Array(y.length);
  for (const i of valid) isValid[i] = 1;
  const train: number[] = [];
  for (let i = 0; i < y.length; i++) if (!isValid[i]) train.push(i);
  return [Int32Array.from(train), Int32Array.from(valid)];
}

type Filled = Required<Omit<GbdtOptions, "onIteration" | "nClasses">> & Pick<GbdtOptions, "onIteration" | "nClasses">;

function fillOptions(options: GbdtOptions): Filled {
  const o: Filled = {
    maxIter: 100, learningRate: 0.1, maxLeafNodes: 31, maxDepth: Infinity, minSamplesLeaf: 20, l2Regularization: 0, maxBins: 255,
    subsample: 1, earlyStopping: false, validationFraction: 0.1, nIterNoChange: 10, tol: 1e-7, seed: 0, ...options,
  };
  const problems: string[] = [];
  if (o.task !== "regression" && o.task !== "classification") problems.push(`task must be "regression" or "classification", got ${JSON.stringify(o.task)}`);
  if (!Number.isInteger(o.maxIter) || o.maxIter < 1) problems.push(`maxIter must be an integer ≥ 1, got ${o.maxIter}`);
  if (!(o.learningRate > 0)) problems.push(`learningRate must be > 0, got ${o.learningRate}`);
  if (!(o.maxLeafNodes >= 2)) problems.push(`maxLeafNodes must be ≥ 2, got ${o.maxLeafNodes}`);
  if (!(o.maxDepth >= 1)) problems.push(`maxDepth must be ≥ 1, got ${o.maxDepth}`);
  if (!Number.isInteger(o.minSamplesLeaf) || o.minSamplesLeaf < 1) problems.push(`minSamplesLeaf must be an integer ≥ 1, got ${o.minSamplesLeaf}`);
  if (!(o.l2Regularization >= 0)) problems.push(`l2Regularization must be ≥ 0, got ${o.l2Regularization}`);
  if (!Number.isInteger(o.maxBins) || o.maxBins < 2 || o.maxBins > 255) problems.push(`maxBins must be an integer in [2, 255], got ${o.maxBins}`);
  if (!(o.subsample > 0 && o.subsample <= 1)) problems.push(`subsample must be in (0, 1], got ${o.subsample}`);
  if (!(o.validationFraction > 0 && o.validationFraction < 1)) problems.push(`validationFraction must be in (0, 1), got ${o.validationFraction}`);
  if (!Number.isInteger(o.nIterNoChange) || o.nIterNoChange < 1) problems.push(`nIterNoChange must be an integer ≥ 1, got ${o.nIterNoChange}`);
  if (problems.length > 0) throw new Error(`trainGbdt: invalid options: ${problems.join("; ")}. Fix these options.`);
  return o;
}

/** Checks X and y; returns the task and the number of classes (1 for regression). */
function checkData(X: GbdtMatrix, y: ArrayLike<number>, o: Filled): { task: GbdtTask; nClasses: number } {
  if (X.data.length !== X.rows * X.cols || X.rows < 2 || X.cols < 1) throw new Error(`trainGbdt: X must be a rows × cols matrix with ≥ 2 rows and ≥ 1 column, got ${X.rows} × ${X.cols} over ${X.data.length} values. Pass a matrix whose data has rows * cols values.`);
  if (y.length !== X.rows) throw new Error(`trainGbdt: y has ${y.length} values but X has ${X.rows} rows. Pass one target per row.`);
  if (o.task === "regression") {
    for (let i = 0; i < y.length; i++) if (!Number.isFinite(y[i])) throw new Error(`trainGbdt: regression target ${i} is ${y[i]}. Remove or fill rows with missing targets.`);
    return { task: "regression", nClasses: 1 };
  }
  let max = -1;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || (o.nClasses !== undefined && v >= o.nClasses)) throw new Error(`trainGbdt: label ${i} is ${v}; classification labels must be integers in [0, ${o.nClasses ?? "nClasses"}). Encode class names as indices first.`);
    max = Math.max(max, v);
  }
  const nClasses = o.nClasses ?? max + 1;
  if (nClasses < 2) throw new Error(`trainGbdt: classification needs at least 2 classes, got ${nClasses}. Check the label column.`);
  return { task: nClasses === 2 ? "binary" : "multiclass", nClasses };
}

/** A binned tree with thresholds translated back into feature units. */
function toFeatureUnits(nodes: readonly BinnedNode[], bins: FeatureBins): GbdtNode[] {
  return nodes.map((n) => {
    if (n.feature < 0) return { feature: -1, threshold: 0, missingLeft: false, left: -1, right: -1, value: n.value };
    // The last non-missing bin as a split point separates the missing values from all others.
    const threshold = n.bin === bins.nBins[n.feature]! - 1 ? FLOAT32_MAX : bins.edges[n.feature]![n.bin]!;
    return { feature: n.feature, threshold, missingLeft: n.missingLeft, left: n.left, right: n.right, value: 0 };
  });
}

/** True when none of the last `n` losses beat the one before them by more than `tol` (scikit-learn's rule). */
function shouldStop(history: readonly number[], n: number, tol: number): boolean {
  if (history.length <= n) return false;
  const reference = history[history.length - n - 1]!;
  return history.slice(-n).every((loss) => !(loss < reference - tol));
}

/**
 * Trains gradient-boosted trees on a row-major matrix (NaN = missing). For classification, `y`
 * holds class indices 0..C−1. The same data, options and seed give an identical model.
 */
export function trainGbdt(X: GbdtMatrix, y: ArrayLike<number>, options: GbdtOptions): GbdtModel {
  const o = fillOptions(options);
  const { task, nClasses } = checkData(X, y, o);
  const outputs = task === "multiclass" ? nClasses : 1;
  const random = createRandom(o.seed);
  const [trainIds, validIds] = o.earlyStopping ? validationSplit(y, o.validationFraction, task === "regression" ? 0 : nClasses, random) : [Int32Array.from({ length: X.rows }, (_, i) => i), new Int32Array(0)];
  if (trainIds.length < 2 || (o.earlyStopping && validIds.length === 0)) throw new Error(`trainGbdt: ${X.rows} rows leave ${trainIds.length} for training and ${validIds.length} for validation. Use more rows or another validationFraction.`);
  const bins = fitBins(X.data, X.cols, trainIds, o.maxBins, BIN_SAMPLE, (n, k) => sampleSorted(random, n, k));
  const train: BinnedData = { codes: binRows(X.data, X.cols, trainIds, bins), cols: X.cols, nBins: bins.nBins };
  const valid: BinnedData = { codes: binRows(X.data, X.cols, validIds, bins), cols: X.cols, nBins: bins.nBins };
  const yTrain = Float64Array.from(trainIds, (i) => y[i]!);
  const yValid = Float64Array.from(validIds, (i) => y[i]!);
  const baseScore = baselineScores(task, yTrain, outputs);
  const rawTrain = baseScore.map((b) => new Float64Array(trainIds.length).fill(b));
  const rawValid = baseScore.map((b) => new Float64Array(validIds.length).fill(b));
  const g = baseScore.map(() => new Float64Array(trainIds.length));
  const h = baseScore.map(() => new Float64Array(trainIds.length));
  const grower = new TreeGrower(train, o, trainIds.length);
  const sampleSize = Math.max(1, Math.round(o.subsample * trainIds.length));
  const order = new Int32Array(sampleSize);
  const trees: GbdtTree[] = [];
  const trainLosses: number[] = [];
  const validLosses: number[] = [];
  const history = o.earlyStopping ? [meanLoss(task, yValid, rawValid)] : [];
  let iterations = 0;
  while (iterations < o.maxIter) {
    computeGradients(task, yTrain, rawTrain, g, h);
    const sample = sampleSize < trainIds.length ? sampleSorted(random, trainIds.length, sampleSize) : null;
    for (let k = 0; k < outputs; k++) {
      if (sample) order.set(sample);
      else for (let i = 0; i < order.length; i++) order[i] = i;
      const nodes = grower.grow(g[k]!, h[k]!, order);
      addBinnedTree(nodes, train, trainIds.length, rawTrain[k]!);
      addBinnedTree(nodes, valid, validIds.length, rawValid[k]!);
      trees.push({ output: k, nodes: toFeatureUnits(nodes, bins) });
    }
    iterations++;
    const trainLoss = meanLoss(task, yTrain, rawTrain);
    const validLoss = o.earlyStopping ? meanLoss(task, yValid, rawValid) : null;
    trainLosses.push(trainLoss);
    if (validLoss !== null) validLosses.push(validLoss);
    o.onIteration?.(iterations - 1, trainLoss, validLoss);
    if (validLoss !== null) {
      history.push(validLoss);
      if (shouldStop(history, o.nIterNoChange, o.tol)) break;
    }
  }
  const params: GbdtParams = { kind: "gbdt", task, features: X.cols, nClasses: task === "regression" ? 1 : nClasses, outputs, baseScore, iterations, trees };
  return {
    params,
    trainLosses,
    validLosses,
    predict: (M) => predictGbdt(params, M),
    predictProba: (M) => predictGbdtProba(params, M),
  };
}
