import { column, defineStep, port, Type } from "sluice";
import { Pipeline } from "../preprocess.ts";
import { dataInvalid, labelTexts, modelInputs, targets, type FeatureSpec } from "./features.ts";

/**
 * Fits imputation, scaling and one-hot encoding on the TRAIN table only (so nothing of the test
 * rows leaks into the model) and records which columns are features. Every column but the label,
 * the categorical ones and `exclude` is a numeric feature. A feature with no value in the
 * training rows is an error naming it.
 */
export const fitPreprocess = defineStep({
  name: "fit-preprocess",
  description: "Fit imputer, scaler and one-hot encoder on the training table",
  inputs: { train: port.table() },
  outputs: { params: port.json<FeatureSpec>() },
  params: Type.Object({
    label: Type.String({ minLength: 1 }),
    task: Type.Union([Type.Literal("classification"), Type.Literal("regression")]),
    /** Text columns to one-hot encode. */
    categorical: Type.Array(Type.String(), { default: [] }),
    /** Columns that are neither features nor the label (ids, dates). */
    exclude: Type.Array(Type.String(), { default: [] }),
    impute: Type.Union([Type.Literal("mean"), Type.Literal("median"), Type.Literal("most_frequent"), Type.Literal("none")], { default: "mean" }),
    scale: Type.Union([Type.Literal("standard"), Type.Literal("minmax"), Type.Literal("none")], { default: "standard" }),
  }),
  run({ inputs, params, log }) {
    const t = inputs.train;
    const where = `fit-preprocess › input "train"`;
    for (const n of [params.label, ...params.categorical, ...params.exclude]) column(t, n);
    if (t.numRows === 0) throw dataInvalid(where, "has no rows", "Check the split and the filters upstream.");
    const skip = new Set([params.label, ...params.categorical, ...params.exclude]);
    const numeric = t.columns.filter((c) => !skip.has(c.name)).map((c) => c.name);
    for (const name of [...numeric, ...params.categorical]) {
      const c = column(t, name);
      if (c.nulls && c.nulls.every((v) => v === 1)) {
        throw dataInvalid(`${where}, column "${name}"`, `has no value in any of the ${t.numRows} training rows (all null), so nothing can be fitted for it`, "Drop the column (select-columns with drop: true, or exclude), or fix the data.", { column: name });
      }
    }
    if (numeric.length + params.categorical.length === 0) throw dataInvalid(where, "has no feature columns besides the label", "Keep at least one feature column.");
    let classes: string[] = [];
    if (params.task === "classification") {
      classes = [...new Set(labelTexts(t, params.label, where))].sort();
      if (classes.length < 2) {
        throw dataInvalid(`${where}, column "${params.label}"`, `the label has a single class (${JSON.stringify(classes[0])}); a classifier needs at least 2`, "Check the label column and the filters upstream.", { column: params.label });
      }
    } else {
      targets(t, params.label, where);
    }
    const raw = modelInputs(t, { numeric, categorical: params.categorical }, where);
    const pipeline = Pipeline.fit(raw, { impute: params.impute === "none" ? null : { strategy: params.impute }, scale: params.scale });
    log("info", "features", { numeric: numeric.length, categorical: params.categorical.length, classes });
    return { params: { kind: "preprocess" as const, task: params.task, label: params.label, numeric, categorical: params.categorical, classes, pipeline } };
  },
});
