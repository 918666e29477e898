import fs from "node:fs";
import { defineStep, port, SluiceError } from "sluice";
import { createMatrix } from "../matrix.ts";
import { accuracy, confusionMatrix, logLoss, mae, precisionRecallF1, r2, rmse, rocAuc } from "../metrics.ts";
import { classIndices, targets } from "./features.ts";
import { readModelMeta, scoreTable } from "./onnx-io.ts";

/** Scores of one class. */
export interface ClassReport {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

/** What `evaluate` returns: flat numeric metrics (what the registry stores) and the details. */
export interface Evaluation {
  readonly task: "classification" | "regression";
  readonly trainer: string;
  readonly rows: number;
  /** Classification: accuracy, macro_precision, macro_recall, macro_f1, roc_auc, log_loss. Regression: rmse, mae, r2. */
  readonly metrics: Record<string, number>;
  readonly classes?: string[];
  readonly perClass?: Record<string, ClassReport>;
  /** Row = true class, column = predicted class, in `classes` order. */
  readonly confusionMatrix?: number[][];
}

/**
 * Scores the ONNX model (preprocessing included) through onnxruntime-node on the TEST table and
 * computes classification metrics (accuracy, per-class and macro precision/recall/F1, ROC AUC,
 * log loss, confusion matrix) or regression metrics (RMSE, MAE, R²).
 */
export const evaluate = defineStep({
  name: "evaluate",
  description: "Test-set metrics of an ONNX model, scored with onnxruntime-node",
  inputs: { model: port.file(), test: port.table() },
  outputs: { metrics: port.json<Evaluation>() },
  async run({ inputs, log }) {
    const where = `evaluate › input "test"`;
    const bytes = fs.readFileSync(inputs.model);
    const meta = readModelMeta(bytes, `evaluate › input "model"`);
    const t = inputs.test;
    if (t.numRows === 0) throw new SluiceError("SLUICE_DATA_INVALID", `${where}: has no rows, so there is nothing to score. Check the split upstream.`, {});
    const scores = await scoreTable(bytes, t, meta, where);
    let out: Evaluation;
    if (meta.task === "regression") {
      const y = targets(t, meta.label, where);
      const pred = scores.values!;
      out = { task: meta.task, trainer: meta.trainer, rows: t.numRows, metrics: { rmse: rmse(y, pred), mae: mae(y, pred), r2: r2(y, pred) } };
    } else {
      const C = meta.classes.length;
      const y = classIndices(t, meta.label, meta.classes, where);
      const pred = scores.labels!;
      const proba = createMatrix(t.numRows, C, Float64Array.from(scores.probabilities!));
      const report = precisionRecallF1(y, pred, C);
      const metrics: Record<string, number> = {
        accuracy: accuracy(y, pred),
        macro_precision: report.macro.precision,
        macro_recall: report.macro.recall,
        macro_f1: report.macro.f1,
        log_loss: logLoss(y, proba),
      };
      try {
        metrics["roc_auc"] = rocAuc(y, proba);
      } catch (err) {
        log("warn", "roc auc left out", { reason: (err as Error).message });
      }
      const perClass = Object.fromEntries(meta.classes.map((c, k) => [c, report.perClass[k]!]));
      out = { task: meta.task, trainer: meta.trainer, rows: t.numRows, metrics, classes: meta.classes, perClass, confusionMatrix: confusionMatrix(y, pred, C) };
    }
    for (const [name, v] of Object.entries(out.metrics)) {
      if (!Number.isFinite(v)) throw new SluiceError("SLUICE_DATA_INVALID", `evaluate: metric "${name}" came out ${v}. Check the test table for missing labels or targets.`, { field: name });
    }
    log("info", "test metrics", out.metrics);
    return { metrics: out };
  },
});
