/** Real data sets of data/ml for the trainer tests. */
import fs from "node:fs";
import { createMatrix, toFloat32, type Matrix } from "../../../../steps/ml/matrix.ts";

/** Reads a numeric CSV of data/ml: every column but `target` is a feature. */
export function readCsv(file: string, target: string): { X: Matrix; target: string[] } {
  const [header, ...lines] = fs.readFileSync(new URL(`../../../../data/ml/${file}`, import.meta.url), "utf8").trim().split(/\r?\n/);
  const names = header!.split(",");
  const t = names.indexOf(target);
  const cells = lines.map((line) => line.split(","));
  const values = cells.flatMap((row) => row.filter((_, j) => j !== t).map(Number));
  return { X: createMatrix(cells.length, names.length - 1, Float64Array.from(values)), target: cells.map((row) => row[t]!) };
}

/** A copy rounded to float32 (what the ONNX model sees) with NaN in every 7th cell. */
export function float32WithNaNs(m: Matrix): Matrix {
  const data = Float64Array.from(toFloat32(m));
  for (let i = 3; i < data.length; i += 7) data[i] = Number.NaN;
  return createMatrix(m.rows, m.cols, data);
}
