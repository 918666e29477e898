import { definePipeline, Type } from "sluice";
import { deploy } from "../steps/ml/steps/deploy.ts";
import { evaluate } from "../steps/ml/steps/evaluate.ts";
import { fitPreprocess } from "../steps/ml/steps/fit-preprocess.ts";
import { readTable } from "../steps/ml/steps/read-table.ts";
import { registerModel } from "../steps/ml/steps/register-model.ts";
import { split } from "../steps/ml/steps/split.ts";
import { trainRidge } from "../steps/ml/steps/train-ridge.ts";

/**
 * Regression (diabetes progression): ridge regression with imputation and scaling inside its
 * ONNX graph, evaluated on a seeded 80/20 split (RMSE, MAE, R²); when R² clears `minR2` the
 * model is registered and deployed behind the `diabetes` endpoint.
 */
export default definePipeline({
  name: "diabetes",
  description: "Ridge regression on diabetes; gate on R²; register and deploy",
  params: Type.Object({
    data: Type.String({ default: "data/ml/diabetes.csv" }),
    seed: Type.Integer({ default: 42 }),
    alpha: Type.Number({ minimum: 0, default: 1 }),
    minR2: Type.Number({ default: 0.4 }),
    model: Type.String({ default: "diabetes" }),
    endpoint: Type.String({ default: "diabetes" }),
  }),
  build(p, params) {
    const label = "progression";
    const read = p.step("read", readTable, { inputs: { file: p.file("csv", params.data) }, params: { textColumns: [] } });
    const parts = p.step("split", split, { inputs: { table: read.outputs.table }, params: { label, seed: params.seed, stratify: false } });
    const prep = p.step("preprocess", fitPreprocess, { inputs: { train: parts.outputs.train }, params: { label, task: "regression" } });
    const model = p.step("train", trainRidge, { inputs: { train: parts.outputs.train, preprocess: prep.outputs.params }, params: { alpha: params.alpha } });
    const metrics = p.step("evaluate", evaluate, { inputs: { model: model.outputs.onnx, test: parts.outputs.test } });
    const gate = p.when(metrics.outputs.metrics, (m) => (m.metrics["r2"] ?? -Infinity) >= params.minR2, `test R² ≥ ${params.minR2}`);
    const version = p.step("register", registerModel, { inputs: { model: model.outputs.onnx, metrics: metrics.outputs.metrics }, params: { name: params.model, promote: true }, when: gate });
    p.step("deploy", deploy, { inputs: { version: version.outputs.version }, params: { endpoint: params.endpoint, trafficPercent: 100 } });
  },
});
