import { createMatrix, hconcat, type Matrix } from "./matrix.ts";

/** How {@link Imputer} fills a missing (NaN) value. */
export type ImputeStrategy = "mean" | "median" | "most_frequent" | "constant";

/** Fitted imputer: the value that replaces NaN in each column. */
export interface ImputerParams {
  readonly strategy: ImputeStrategy;
  readonly statistics: number[];
}

/** Fitted scaler: `x' = (x - offset) / scale` per column; `scale` is never 0. */
export interface ScalerParams {
  readonly kind: "standard" | "minmax";
  readonly offset: number[];
  readonly scale: number[];
}

/** Fitted one-hot encoder: the sorted categories seen in training, per categorical column. */
export interface OneHotParams {
  readonly categories: string[][];
}

/** Categorical columns: one array of strings per column, each with one entry per row. */
export type CategoricalColumns = readonly (readonly string[])[];

function columnValues(X: Matrix, j: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < X.rows; i++) {
    const v = X.data[i * X.cols + j]!;
    if (!Number.isNaN(v)) out.push(v);
  }
  return out;
}

function statistic(values: number[], strategy: Exclude<ImputeStrategy, "constant">): number {
  // A column with no observed value in training falls back to 0, so params stay valid JSON.
  if (values.length === 0) return 0;
  if (strategy === "mean") return values.reduce((a, b) => a + b, 0) / values.length;
  const sorted = [...values].sort((a, b) => a - b);
  if (strategy === "median") {
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }
  // most_frequent: ties go to the smallest value (as scikit-learn does).
  let best = sorted[0]!;
  let bestCount = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (j - i > bestCount) [best, bestCount] = [sorted[i]!, j - i];
    i = j;
  }
  return best;
}

function checkCols(where: string, X: Matrix, expected: number): void {
  if (X.cols !== expected) throw new Error(`${where}: input has ${X.cols} columns, the params were fitted on ${expected}. Pass the same columns as in training.`);
}

/** Replaces NaN by a per-column statistic fitted on training rows. */
export const Imputer = {
  /** Fits the fill values; `fillValue` is required for the `constant` strategy. */
  fit(X: Matrix, options: { strategy: ImputeStrategy; fillValue?: number }): ImputerParams {
    const { strategy, fillValue } = options;
    if (strategy === "constant") {
      if (fillValue === undefined || !Number.isFinite(fillValue)) throw new Error(`Imputer.fit: strategy "constant" needs a finite fillValue, got ${fillValue}.`);
      return { strategy, statistics: Array.from({ length: X.cols }, () => fillValue) };
    }
    return { strategy, statistics: Array.from({ length: X.cols }, (_, j) => statistic(columnValues(X, j), strategy)) };
  },
  /** A copy of `X` with every NaN replaced. */
  transform(params: ImputerParams, X: Matrix): Matrix {
    checkCols("Imputer.transform", X, params.statistics.length);
    const data = Float64Array.from(X.data);
    for (let i = 0; i < data.length; i++) if (Number.isNaN(data[i])) data[i] = params.statistics[i % X.cols]!;
    return createMatrix(X.rows, X.cols, data);
  },
};

function fitScaler(where: string, X: Matrix, kind: ScalerParams["kind"]): ScalerParams {
  if (X.rows === 0) throw new Error(`${where}: cannot fit on 0 rows.`);
  const offset: number[] = [];
  const scale: number[] = [];
  for (let j = 0; j < X.cols; j++) {
    const values = columnValues(X, j);
    if (values.length !== X.rows) throw new Error(`${where}: column ${j} contains NaN. Impute missing values before scaling.`);
    if (kind === "standard") {
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
      offset.push(mean);
      scale.push(variance > 0 ? Math.sqrt(variance) : 1);
    } else {
      const min = Math.min(...values);
      const range = Math.max(...values) - min;
      offset.push(min);
      scale.push(range > 0 ? range : 1);
    }
  }
  return { kind, offset, scale };
}

function applyScaler(params: ScalerParams, X: Matrix): Matrix {
  checkCols("Scaler.transform", X, params.offset.length);
  const data = new Float64Array(X.data.length);
  for (let i = 0; i < data.length; i++) data[i] = (X.data[i]! - params.offset[i % X.cols]!) / params.scale[i % X.cols]!;
  return createMatrix(X.rows, X.cols, data);
}

/** Centres each column on its mean and divides by its (population) standard deviation; constant columns keep scale 1. */
export const StandardScaler = {
  fit: (X: Matrix): ScalerParams => fitScaler("StandardScaler.fit", X, "standard"),
  transform: applyScaler,
};

/** Maps each column's training range onto [0, 1]; constant columns keep scale 1. */
export const MinMaxScaler = {
  fit: (X: Matrix): ScalerParams => fitScaler("MinMaxScaler.fit", X, "minmax"),
  transform: applyScaler,
};

/** One indicator column per training category; a category unseen in training encodes as all zeros. */
export const OneHotEncoder = {
  fit(columns: CategoricalColumns): OneHotParams {
    return { categories: columns.map((values) => [...new Set(values)].sort()) };
  },
  transform(params: OneHotParams, columns: CategoricalColumns): Matrix {
    if (columns.length !== params.categories.length) throw new Error(`OneHotEncoder.transform: got ${columns.length} categorical columns, fitted on ${params.categories.length}.`);
    const rows = columns[0]?.length ?? 0;
    const width = params.categories.reduce((a, c) => a + c.length, 0);
    const data = new Float64Array(rows * width);
    let start = 0;
    columns.forEach((values, c) => {
      if (values.length !== rows) throw new Error(`OneHotEncoder.transform: categorical column ${c} has ${values.length} rows, column 0 has ${rows}.`);
      const index = new Map(params.categories[c]!.map((cat, k) => [cat, k]));
      values.forEach((v, i) => {
        const k = index.get(v);
        if (k !== undefined) data[i * width + start + k] = 1;
      });
      start += params.categories[c]!.length;
    });
    return createMatrix(rows, width, data);
  },
};

/** Raw features: numeric columns as a matrix (NaN = missing), categorical ones as strings. */
export interface PipelineInput {
  readonly numeric: Matrix;
  readonly categorical?: CategoricalColumns;
}

/** What {@link Pipeline} does to each kind of column. */
export interface PipelineOptions {
  /** Imputation of numeric columns. @default { strategy: "mean" } */
  readonly impute?: { strategy: ImputeStrategy; fillValue?: number } | null;
  /** Scaling of numeric columns after imputation. @default "standard" */
  readonly scale?: "standard" | "minmax" | "none";
}

/** Fitted pipeline; plain JSON, stored as an artifact and exported to ONNX. */
export interface PipelineParams {
  readonly numericColumns: number;
  readonly imputer: ImputerParams | null;
  readonly scaler: ScalerParams | null;
  readonly oneHot: OneHotParams | null;
}

/**
 * Numeric columns go through impute → scale, categorical ones through one-hot; the final
 * feature matrix is the numeric block followed by the one-hot block.
 */
export const Pipeline = {
  fit(input: PipelineInput, options: PipelineOptions = {}): PipelineParams {
    const impute = options.impute === undefined ? { strategy: "mean" as const } : options.impute;
    const scale = options.scale ?? "standard";
    const imputer = impute ? Imputer.fit(input.numeric, impute) : null;
    const filled = imputer ? Imputer.transform(imputer, input.numeric) : input.numeric;
    const scaler = scale === "standard" ? StandardScaler.fit(filled) : scale === "minmax" ? MinMaxScaler.fit(filled) : null;
    const oneHot = input.categorical && input.categorical.length > 0 ? OneHotEncoder.fit(input.categorical) : null;
    return { numericColumns: input.numeric.cols, imputer, scaler, oneHot };
  },
  transform(params: PipelineParams, input: PipelineInput): Matrix {
    checkCols("Pipeline.transform", input.numeric, params.numericColumns);
    let X = params.imputer ? Imputer.transform(params.imputer, input.numeric) : input.numeric;
    if (params.scaler) X = applyScaler(params.scaler, X);
    if (!params.oneHot) return X;
    if (!input.categorical) throw new Error(`Pipeline.transform: the pipeline was fitted with ${params.oneHot.categories.length} categorical columns but none were given.`);
    return hconcat(X, OneHotEncoder.transform(params.oneHot, input.categorical));
  },
};

/** Class names (sorted) and each row's class index. */
export interface EncodedLabels {
  readonly classes: string[];
  readonly y: Int32Array;
}

/** Maps string labels to class indices 0..C-1 (classes sorted, or as given); an unknown label throws. */
export function encodeLabels(labels: readonly string[], classes?: readonly string[]): EncodedLabels {
  const names = classes ? [...classes] : [...new Set(labels)].sort();
  const index = new Map(names.map((c, k) => [c, k]));
  const y = new Int32Array(labels.length);
  labels.forEach((label, i) => {
    const k = index.get(label);
    if (k === undefined) throw new Error(`encodeLabels: row ${i} has label "${label}", which is not one of the classes [${names.join(", ")}].`);
    y[i] = k;
  });
  return { classes: names, y };
}
