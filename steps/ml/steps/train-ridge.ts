import { defineStep, port, Type } from "sluice";
import { trainRidge as fitRidge, type RidgeParams } from "../linear.ts";
import { exportRidge } from "../onnx/export-linear.ts";
import { dataInvalid } from "./features.ts";
import { finishOnnx, trainingSet } from "./train-common.ts";

/** Ridge regression on the preprocessed training table → params and one ONNX graph (preprocessing included). */
export const trainRidge = defineStep({
  name: "train-ridge",
  description: "Ridge regression → params + ONNX (with preprocessing)",
  executor: "thread",
  inputs: { train: port.table(), preprocess: port.json() },
  outputs: { model: port.json<RidgeParams>(), onnx: port.file() },
  params: Type.Object({
    /** L2 penalty on the weights. */
    alpha: Type.Number({ minimum: 0, default: 1 }),
  }),
  run({ inputs, params, metric }) {
    const where = "train-ridge";
    const set = trainingSet(inputs.train, inputs.preprocess, where);
    if (set.spec.task !== "regression") throw dataInvalid(where, `the preprocessing was fitted for ${set.spec.task}`, 'Fit it with task "regression", or train a classifier.');
    const model = fitRidge(set.X, set.y, { alpha: params.alpha, onEpoch: (epoch, mse) => metric("train_mse", mse, epoch) });
    const onnx = finishOnnx(exportRidge(model.params, set.spec.pipeline, { name: "ridge" }), set.spec, "ridge");
    return { model: model.params, onnx };
  },
});
