import { defineStep, port, Type } from "sluice";
import { trainMlp as fitMlp, type MlpParams } from "../mlp.ts";
import { exportMlp } from "../onnx/export-mlp.ts";
import { curve, finishOnnx, trainingSet } from "./train-common.ts";

/** A multi-layer perceptron (Adam, early stopping) → params and one ONNX graph (preprocessing included). */
export const trainMlp = defineStep({
  name: "train-mlp",
  description: "MLP → params + ONNX (with preprocessing)",
  executor: "thread",
  inputs: { train: port.table(), preprocess: port.json() },
  outputs: { model: port.json<MlpParams>(), onnx: port.file() },
  params: Type.Object({
    hidden: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 2, default: [64] }),
    learningRate: Type.Number({ exclusiveMinimum: 0, default: 0.001 }),
    batchSize: Type.Integer({ minimum: 1, default: 32 }),
    maxEpochs: Type.Integer({ minimum: 1, default: 200 }),
    l2: Type.Number({ minimum: 0, default: 0.0001 }),
    validationFraction: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.1 }),
    patience: Type.Integer({ minimum: 1, default: 10 }),
    seed: Type.Integer({ default: 0 }),
  }),
  run({ inputs, params, metric }) {
    const set = trainingSet(inputs.train, inputs.preprocess, "train-mlp");
    const model = fitMlp(set.X, set.y, { task: set.spec.task, ...(set.spec.task === "classification" ? { nClasses: set.spec.classes.length } : {}), ...params, onEpoch: curve(metric) });
    const onnx = finishOnnx(exportMlp(model.params, set.spec.pipeline, { name: "mlp", labels: set.spec.classes }), set.spec, "mlp");
    return { model: model.params, onnx };
  },
});
