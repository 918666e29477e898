import { defineStep, port, Type } from "sluice";
import { trainLogistic as fitLogistic, type LogisticParams } from "../logistic.ts";
import { exportLogistic } from "../onnx/export-linear.ts";
import { dataInvalid } from "./features.ts";
import { curve, finishOnnx, trainingSet } from "./train-common.ts";

/** Logistic regression (binary or multinomial, L-BFGS) → params and one ONNX graph (preprocessing included). */
export const trainLogistic = defineStep({
  name: "train-logistic",
  description: "Logistic regression → params + ONNX (with preprocessing)",
  executor: "thread",
  inputs: { train: port.table(), preprocess: port.json() },
  outputs: { model: port.json<LogisticParams>(), onnx: port.file() },
  params: Type.Object({
    l2: Type.Number({ minimum: 0, default: 0.01 }),
    maxIter: Type.Integer({ minimum: 1, default: 500 }),
  }),
  run({ inputs, params, metric }) {
    const where = "train-logistic";
    const set = trainingSet(inputs.train, inputs.preprocess, where);
    if (set.spec.task !== "classification") throw dataInvalid(where, "the preprocessing was fitted for regression", 'Fit it with task "classification", or train a regressor.');
    const model = fitLogistic(set.X, set.y, { nClasses: set.spec.classes.length, l2: params.l2, maxIter: params.maxIter, onEpoch: curve(metric) });
    const onnx = finishOnnx(exportLogistic(model.params, set.spec.pipeline, { name: "logistic", labels: set.spec.classes }), set.spec, "logistic");
    return { model: model.params, onnx };
  },
});
