/**
 * Table ⇄ feature matrices for the ML steps: which columns are features, the label as class
 * indices or targets, and checks whose errors name the column (and row) at fault.
 */
import { column, SluiceError, toFloat64Matrix, type Column, type Table } from "sluice";
import { createMatrix, type Matrix } from "../matrix.ts";
import type { PipelineParams } from "../preprocess.ts";

/** What a model learns from: fitted on the training table by `fit-preprocess`, read by every trainer. */
export interface FeatureSpec {
  readonly kind: "preprocess";
  readonly task: "classification" | "regression";
  /** The label (classification) or target (regression) column. */
  readonly label: string;
  /** Numeric feature columns, in matrix order. */
  readonly numeric: string[];
  /** Categorical (text) feature columns, one-hot encoded after the numeric block. */
  readonly categorical: string[];
  /** Class names, sorted: class index k is `classes[k]` (empty for regression). */
  readonly classes: string[];
  /** Fitted imputer, scaler and one-hot encoder. */
  readonly pipeline: PipelineParams;
}

/** A `SLUICE_DATA_INVALID` error: where, what, and the fix. */
export function dataInvalid(where: string, what: string, fix: string, details: Record<string, unknown> = {}): SluiceError {
  return new SluiceError("SLUICE_DATA_INVALID", `${where}: ${what}. ${fix}`, details as never);
}

/** Text of a cell (null → undefined); numbers and booleans as their decimal text. */
function cellText(c: Column, i: number): string | undefined {
  if (c.nulls?.[i]) return undefined;
  const v = c.values[i]!;
  if (c.type === "bool") return v ? "true" : "false";
  return String(v);
}

/** Throws, naming every missing column at once, unless `t` has all of `names`. */
export function requireColumns(t: Table, names: readonly string[], where: string, what: string): void {
  const present = new Set(t.columns.map((c) => c.name));
  const missing = names.filter((n) => !present.has(n));
  if (missing.length === 0) return;
  const list = missing.map((n) => `"${n}"`).join(", ");
  throw dataInvalid(`${where}, column ${list}`, `missing from the table; ${what} needs ${names.map((n) => `"${n}"`).join(", ")}`, "Add the column upstream (or select it instead of dropping it), or use a model trained without it.", { column: missing[0], missing });
}

/** The label column as text, one entry per row; a null label throws naming the row (1-based data row). */
export function labelTexts(t: Table, label: string, where: string): string[] {
  requireColumns(t, [label], where, "the label");
  const c = column(t, label);
  const out = new Array<string>(t.numRows);
  for (let i = 0; i < t.numRows; i++) {
    const v = cellText(c, i);
    if (v === undefined) throw dataInvalid(`${where}, row ${i + 1}, column "${label}"`, "the label is missing (null)", "Drop rows without a label (filter-rows with notNull) before this step.", { row: i + 1, column: label });
    out[i] = v;
  }
  return out;
}

/** Class indices of the label column for the given classes; an unknown class throws naming the row. */
export function classIndices(t: Table, label: string, classes: readonly string[], where: string): Int32Array {
  const index = new Map(classes.map((c, k) => [c, k]));
  const texts = labelTexts(t, label, where);
  const y = new Int32Array(texts.length);
  texts.forEach((v, i) => {
    const k = index.get(v);
    if (k === undefined) throw dataInvalid(`${where}, row ${i + 1}, column "${label}"`, `class ${JSON.stringify(v)} was not seen in training (classes: ${classes.join(", ")})`, "Score rows of the classes the model knows, or retrain with them.", { row: i + 1, column: label });
    y[i] = k;
  });
  return y;
}

/** The target column as float64 values; a null or non-numeric target throws naming the row. */
export function targets(t: Table, label: string, where: string): Float64Array {
  requireColumns(t, [label], where, "the target");
  const c = column(t, label);
  if (c.type === "string") throw dataInvalid(`${where}, column "${label}"`, "the regression target is a text column", "Use a numeric target column, or train a classifier.", { column: label });
  const y = toFloat64Matrix(t, [label]).data;
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i])) throw dataInvalid(`${where}, row ${i + 1}, column "${label}"`, "the target is missing (null)", "Drop rows without a target (filter-rows with notNull) before this step.", { row: i + 1, column: label });
  }
  return y;
}

/** The numeric feature columns as a row-major matrix (null → NaN); a text column throws naming it. */
export function numericMatrix(t: Table, names: readonly string[], where: string): Matrix {
  requireColumns(t, names, where, "the model");
  for (const n of names) {
    const c = column(t, n);
    if (c.type === "string" && !(c.nulls && c.nulls.every((v) => v === 1))) {
      const texts = c.values as string[];
      // The first value that is not a number is the one to fix (fall back to the first value).
      const notNumber = texts.findIndex((v, i) => !c.nulls?.[i] && (v.trim() === "" || Number.isNaN(Number(v))));
      const bad = notNumber >= 0 ? notNumber : texts.findIndex((_, i) => !c.nulls?.[i]);
      throw dataInvalid(`${where}, row ${bad + 1}, column "${n}"`, `is text (${JSON.stringify((c.values as string[])[bad])}) but the feature is numeric`, `Declare "${n}" categorical, or fix its values (read-table with textColumns reports the file row).`, { row: bad + 1, column: n });
    }
  }
  const numeric = names.filter((n) => column(t, n).type !== "string");
  const m = toFloat64Matrix(t, numeric);
  if (numeric.length === names.length) return createMatrix(m.rows, m.cols, m.data);
  // An all-null text column (how CSV inference types an empty column) is all NaN.
  const data = new Float64Array(t.numRows * names.length).fill(Number.NaN);
  names.forEach((n, j) => {
    const k = numeric.indexOf(n);
    if (k >= 0) for (let i = 0; i < t.numRows; i++) data[i * names.length + j] = m.data[i * m.cols + k]!;
  });
  return createMatrix(t.numRows, names.length, data);
}

/** Categorical columns as text, one array per column (null → ""). */
export function categoricalTexts(t: Table, names: readonly string[], where: string): string[][] {
  requireColumns(t, names, where, "the model");
  return names.map((n) => {
    const c = column(t, n);
    return Array.from({ length: t.numRows }, (_, i) => cellText(c, i) ?? "");
  });
}

/** Raw model inputs of a table: the numeric matrix and the categorical columns (if any). */
export function modelInputs(t: Table, spec: Pick<FeatureSpec, "numeric" | "categorical">, where: string): { numeric: Matrix; categorical?: string[][] } {
  requireColumns(t, [...spec.numeric, ...spec.categorical], where, "the model");
  const numeric = numericMatrix(t, spec.numeric, where);
  return spec.categorical.length > 0 ? { numeric, categorical: categoricalTexts(t, spec.categorical, where) } : { numeric };
}

/** Throws unless `v` looks like a `fit-preprocess` output. */
export function checkSpec(v: unknown, where: string): FeatureSpec {
  const s = v as FeatureSpec | null;
  if (!s || s.kind !== "preprocess" || !Array.isArray(s.numeric) || !s.pipeline) {
    throw new SluiceError("SLUICE_DATA_INVALID", `${where}: input "preprocess" is not the output of fit-preprocess. Wire fit-preprocess's params output into it.`, {});
  }
  return s;
}

/** A float32 copy of a matrix's values (what an ONNX model sees), as float64. */
export function roundToFloat32(m: Matrix): Matrix {
  return createMatrix(m.rows, m.cols, Float64Array.from(Float32Array.from(m.data)));
}
