/**
 * Batch scoring of a whole table with one loaded model: the table's columns feed the model by
 * name, in chunks, and the result is the input columns plus the prediction columns (as the
 * `score-batch` step writes them: `prediction`, and `proba_<class>` for classifiers).
 */
import fs from "node:fs";
import path from "node:path";
import { cellValue, createTable, decodeTable, readCsv, readJsonl, readParquet, type Column, type Table } from "../artifacts/index.ts";
import { SluiceError } from "../errors.ts";
import type { LoadedModel } from "./model-cache.ts";

/** Rows per session run. */
export const BATCH_CHUNK_ROWS = 8192;

/** File kinds a batch job reads, by extension. */
export const BATCH_FILE_EXTENSIONS = [".csv", ".jsonl", ".ndjson", ".parquet", ".arrow"] as const;

/** Reads a table file by its extension (checked by the caller against `BATCH_FILE_EXTENSIONS`). */
export async function readTableFile(file: string): Promise<Table> {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".csv") return readCsv(file);
  if (ext === ".jsonl" || ext === ".ndjson") return readJsonl(file);
  if (ext === ".parquet") return readParquet(file);
  return decodeTable(fs.readFileSync(file), file);
}

const cell = (c: Column, i: number): unknown => {
  const v = cellValue(c, i);
  return typeof v === "bigint" ? Number(v) : v;
};

function outputColumns(model: LoadedModel, out: Record<string, { data: unknown; dims: readonly number[] }>, n: number): Column[] {
  const meta = model.io.sluice;
  if (meta?.task === "classification") {
    const labels = out["label"]!.data as BigInt64Array;
    const proba = out["probabilities"]!.data as Float32Array;
    const C = meta.classes.length;
    return [
      { name: "prediction", type: "string", values: Array.from({ length: n }, (_, i) => meta.classes[Number(labels[i])]!) },
      ...meta.classes.map((c, k): Column => ({ name: `proba_${c}`, type: "float64", values: Float64Array.from({ length: n }, (_, i) => proba[i * C + k]!) })),
    ];
  }
  if (meta?.task === "regression") return [{ name: "prediction", type: "float64", values: Float64Array.from(out["variable"]!.data as Float32Array) }];
  const cols: Column[] = [];
  for (const name of model.io.outputs) {
    const t = out[name]!;
    const width = t.dims.slice(1).reduce((a, d) => a * d, 1);
    const data = t.data as ArrayLike<unknown>;
    for (let j = 0; j < width; j++) {
      const colName = width === 1 ? name : `${name}_${j}`;
      const values = Array.from({ length: n }, (_, i) => data[i * width + j]);
      cols.push(typeof values[0] === "string" ? { name: colName, type: "string", values: values as string[] } : { name: colName, type: "float64", values: Float64Array.from(values, Number) });
    }
  }
  return cols;
}

/** Joins chunks of one output column. */
function concat(parts: Column[]): Column {
  const first = parts[0]!;
  if (first.type === "string") return { name: first.name, type: "string", values: parts.flatMap((p) => p.values as string[]) };
  const total = parts.reduce((a, p) => a + p.values.length, 0);
  const values = new Float64Array(total);
  let at = 0;
  for (const p of parts) {
    values.set(p.values as Float64Array, at);
    at += p.values.length;
  }
  return { name: first.name, type: "float64", values };
}

/**
 * Scores every row of `t`; a column the model needs that the table lacks, a mistyped cell, or an
 * output name the table already has throws `SLUICE_DATA_INVALID` naming it (rows counted from 1).
 */
export async function scoreTable(model: LoadedModel, t: Table, where: string): Promise<Table> {
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const missing = model.io.columns.filter((c) => !byName.has(c.name)).map((c) => c.name);
  if (missing.length > 0) {
    throw new SluiceError("SLUICE_DATA_INVALID", `${where}, column "${missing[0]}": missing from the table; the model needs ${model.io.columns.map((c) => `"${c.name}"`).join(", ")}. Score a table with these columns.`, { column: missing[0], missing });
  }
  const cols = model.io.columns.map((c) => byName.get(c.name)!);
  const chunks: Column[][] = [];
  for (let start = 0; start < t.numRows; start += BATCH_CHUNK_ROWS) {
    const n = Math.min(BATCH_CHUNK_ROWS, t.numRows - start);
    const out = await model.run(n, (i, c) => cell(cols[c]!, start + i), where, start + 1);
    chunks.push(outputColumns(model, out, n));
  }
  const added = chunks.length === 0 ? [] : chunks[0]!.map((_, k) => concat(chunks.map((ch) => ch[k]!)));
  const clash = added.find((c) => byName.has(c.name));
  if (clash) throw new SluiceError("SLUICE_DATA_INVALID", `${where}, column "${clash.name}": the table already has a column named like a prediction output. Rename or drop it before scoring.`, { column: clash.name });
  return createTable([...t.columns, ...added]);
}
