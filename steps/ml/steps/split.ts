import { defineStep, port, takeRows, Type } from "sluice";
import { trainTestSplit } from "../split.ts";
import { dataInvalid, labelTexts } from "./features.ts";

/**
 * Seeded train/test split of a table. With `stratify` (the default), every class of the label
 * column keeps its proportion in both parts; a label with a single class is an error.
 */
export const split = defineStep({
  name: "split",
  description: "Seeded (stratified) train/test split of a table",
  inputs: { table: port.table() },
  outputs: { train: port.table(), test: port.table() },
  params: Type.Object({
    /** The label column (needed to stratify). */
    label: Type.String({ minLength: 1 }),
    testFraction: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2 }),
    seed: Type.Integer({ default: 42 }),
    /** Keep class proportions (classification); turn off for regression targets. */
    stratify: Type.Boolean({ default: true }),
  }),
  run({ inputs, params, log }) {
    const where = `split › input "table"`;
    const t = inputs.table;
    if (t.numRows < 2) throw dataInvalid(where, `has ${t.numRows} row${t.numRows === 1 ? "" : "s"}; a split needs at least 2`, "Check the file and the filters upstream.");
    let stratify: string[] | undefined;
    if (params.stratify) {
      stratify = labelTexts(t, params.label, where);
      const counts = new Map<string, number>();
      for (const v of stratify) counts.set(v, (counts.get(v) ?? 0) + 1);
      if (counts.size < 2) {
        throw dataInvalid(`${where}, column "${params.label}"`, `the label has a single class (${JSON.stringify(stratify[0])} in all ${t.numRows} rows); a classifier needs at least 2`, "Check the label column and the filters upstream, or split with stratify: false for a regression target.", { column: params.label });
      }
      log("info", "class counts", Object.fromEntries(counts));
    }
    const idx = trainTestSplit(t.numRows, { testFraction: params.testFraction, seed: params.seed, ...(stratify ? { stratify } : {}) });
    return { train: takeRows(t, idx.train), test: takeRows(t, idx.test) };
  },
});
