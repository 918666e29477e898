import { defineStep, port, Type } from "sluice";
import { kFold as foldIndices } from "../split.ts";
import { dataInvalid, labelTexts } from "./features.ts";

/** One fold: the row numbers of its training and validation parts. */
export interface Fold {
  fold: number;
  train: number[];
  test: number[];
}

/**
 * Seeded k-fold split of a table's rows (stratified by the label by default). The folds are row
 * numbers, so a pipeline can `p.map` a trainer over them: one cached instance per fold.
 */
export const kFold = defineStep({
  name: "k-fold",
  description: "Seeded (stratified) k-fold split of a table's rows",
  inputs: { table: port.table() },
  outputs: { folds: port.json<Fold[]>() },
  params: Type.Object({
    k: Type.Integer({ minimum: 2, maximum: 100, default: 5 }),
    seed: Type.Integer({ default: 42 }),
    /** The label column to stratify by; empty for plain folds (regression). */
    label: Type.String({ default: "" }),
  }),
  run({ inputs, params }) {
    const where = `k-fold › input "table"`;
    const t = inputs.table;
    if (t.numRows < params.k) throw dataInvalid(where, `has ${t.numRows} rows, fewer than k = ${params.k} folds`, "Lower k or check the filters upstream.");
    const stratify = params.label ? labelTexts(t, params.label, where) : undefined;
    const folds = foldIndices(t.numRows, params.k, { seed: params.seed, ...(stratify ? { stratify } : {}) });
    return { folds: folds.map((f, i) => ({ fold: i, train: [...f.train], test: [...f.test] })) };
  },
});
