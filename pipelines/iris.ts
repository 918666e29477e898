import { definePipeline, Type } from "sluice";
import { compareChampion } from "../steps/ml/steps/compare-champion.ts";
import { evaluate } from "../steps/ml/steps/evaluate.ts";
import { fitPreprocess } from "../steps/ml/steps/fit-preprocess.ts";
import { readTable } from "../steps/ml/steps/read-table.ts";
import { registerModel } from "../steps/ml/steps/register-model.ts";
import { scoreBatch } from "../steps/ml/steps/score-batch.ts";
import { split } from "../steps/ml/steps/split.ts";
import { trainLogistic } from "../steps/ml/steps/train-logistic.ts";

/**
 * Multiclass classification (Fisher's iris): multinomial logistic regression on a stratified
 * split, evaluated on the test rows, registered as champion when it clears `minAccuracy` and
 * beats the current one; the test rows are also batch-scored with the ONNX model.
 */
export default definePipeline({
  name: "iris",
  description: "Multinomial logistic regression on iris; gate on accuracy; register",
  params: Type.Object({
    data: Type.String({ default: "data/ml/iris.csv" }),
    seed: Type.Integer({ default: 42 }),
    l2: Type.Number({ minimum: 0, default: 0.01 }),
    minAccuracy: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
    model: Type.String({ default: "iris" }),
  }),
  build(p, params) {
    const label = "species";
    const read = p.step("read", readTable, { inputs: { file: p.file("csv", params.data) }, params: { textColumns: [label] } });
    const parts = p.step("split", split, { inputs: { table: read.outputs.table }, params: { label, seed: params.seed } });
    const prep = p.step("preprocess", fitPreprocess, { inputs: { train: parts.outputs.train }, params: { label, task: "classification" } });
    const model = p.step("train", trainLogistic, { inputs: { train: parts.outputs.train, preprocess: prep.outputs.params }, params: { l2: params.l2 } });
    const metrics = p.step("evaluate", evaluate, { inputs: { model: model.outputs.onnx, test: parts.outputs.test } });
    // Small chunks, so even 30 rows are scored on two threads at once.
    p.step("score", scoreBatch, { inputs: { model: model.outputs.onnx, table: parts.outputs.test }, params: { chunkRows: 8, parallelism: 2 } });
    const gate = p.when(metrics.outputs.metrics, (m) => (m.metrics["accuracy"] ?? 0) >= params.minAccuracy, `test accuracy ≥ ${params.minAccuracy}`);
    const compare = p.step("compare-champion", compareChampion, { inputs: { metrics: metrics.outputs.metrics }, params: { name: params.model, metric: "accuracy" }, when: gate });
    p.step("register", registerModel, {
      inputs: { model: model.outputs.onnx, metrics: metrics.outputs.metrics },
      params: { name: params.model, promote: true },
      when: p.when(compare.outputs.result, (r) => r.better, "beats the champion"),
    });
  },
});
