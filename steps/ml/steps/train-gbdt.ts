import { defineStep, port, Type } from "sluice";
import { trainGbdt as fitGbdt, type GbdtParams } from "../gbdt.ts";
import { exportPreprocess } from "../onnx/export-preprocess.ts";
import { exportGbdt } from "../onnx/export-trees.ts";
import { prependGraph } from "./onnx-io.ts";
import { curve, finishOnnx, trainingSet } from "./train-common.ts";

/**
 * Histogram gradient-boosted trees → params and one ONNX graph. Trees are invariant to scaling,
 * so the fitted scaler is left out (its float32 rounding would move rows across split points);
 * imputation and one-hot encoding stay in the graph in front of the ensemble.
 */
export const trainGbdt = defineStep({
  name: "train-gbdt",
  description: "Gradient-boosted trees → params + ONNX (with preprocessing)",
  executor: "thread",
  inputs: { train: port.table(), preprocess: port.json() },
  outputs: { model: port.json<GbdtParams>(), onnx: port.file() },
  params: Type.Object({
    maxIter: Type.Integer({ minimum: 1, default: 100 }),
    learningRate: Type.Number({ exclusiveMinimum: 0, default: 0.1 }),
    maxLeafNodes: Type.Integer({ minimum: 2, default: 31 }),
    maxDepth: Type.Optional(Type.Integer({ minimum: 1 })),
    minSamplesLeaf: Type.Integer({ minimum: 1, default: 20 }),
    l2Regularization: Type.Number({ minimum: 0, default: 0 }),
    maxBins: Type.Integer({ minimum: 2, maximum: 255, default: 255 }),
    subsample: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1 }),
    earlyStopping: Type.Boolean({ default: false }),
    seed: Type.Integer({ default: 0 }),
  }),
  run({ inputs, params, metric }) {
    const set = trainingSet(inputs.train, inputs.preprocess, "train-gbdt", { unscaled: true });
    const model = fitGbdt(set.X, set.y, {
      task: set.spec.task, ...(set.spec.task === "classification" ? { nClasses: set.spec.classes.length } : {}), ...params,
      onIteration: curve(metric),
    });
    const trees = exportGbdt(model.params, { name: "gbdt", labels: set.spec.classes });
    return { model: model.params, onnx: finishOnnx(prependGraph(exportPreprocess(set.pipeline), trees), set.spec, "gbdt") };
  },
});
