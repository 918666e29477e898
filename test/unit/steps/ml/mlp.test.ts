import { describe, expect, it } from "vitest";
import { float32WithNaNs, readCsv } from "./datasets.ts";
import { fromRows, selectRows, selectValues, toFloat32, type Matrix } from "../../../../steps/ml/matrix.ts";
import { accuracy, r2 } from "../../../../steps/ml/metrics.ts";
import { trainMlp, type MlpModel, type MlpOptions } from "../../../../steps/ml/mlp.ts";
import { exportMlp } from "../../../../steps/ml/onnx/export-mlp.ts";
import { createSession, runFloat } from "../../../../steps/ml/onnx/model.ts";
import { encodeLabels, Pipeline, type PipelineParams } from "../../../../steps/ml/preprocess.ts";
import { trainTestSplit } from "../../../../steps/ml/split.ts";
/** 80/20 split (stratified for classes, seed 42), standard scaling fitted on the training rows, MLP fit. */
function fitDataset(file: string, label: string, options: MlpOptions) {
  const data = readCsv(file, label);
  const y = options.task === "classification" ? encodeLabels(data.target).y : Float64Array.from(data.target, Number);
  const split = trainTestSplit(data.X.rows, { testFraction: 0.2, seed: 42, stratify: options.task === "classification" ? y : undefined });
  const train = selectRows(data.X, split.train);
  const pipeline = Pipeline.fit({ numeric: train });
  const epochs: { loss: number; validationLoss: number | undefined }[] = [];
  const model = trainMlp(Pipeline.transform(pipeline, { numeric: train }), selectValues(y, split.train), { ...options, onEpoch: (_, loss, validationLoss) => epochs.push({ loss, validationLoss }) });
  const rawTest = selectRows(data.X, split.test);
  return { pipeline, model, epochs, rawTest, yTest: selectValues(y, split.test), XTest: Pipeline.transform(pipeline, { numeric: rawTest }) };
}

/** Runs the exported model (imputer + scaler in front) on raw float32 inputs with NaNs. */
async function runOnnx(model: MlpModel, pipeline: PipelineParams, raw: Matrix) {
  const session = await createSession(exportMlp(model.params, pipeline));
  return { out: await runFloat(session, "input", toFloat32(raw), raw.rows, raw.cols), X: Pipeline.transform(pipeline, { numeric: raw }) };
}

describe("trainMlp", () => {
  const tiny = fromRows([[0, 0], [0, 1], [1, 0], [1, 1], [0.1, 0.9], [0.9, 0.1], [0.9, 0.9], [0.1, 0.1]]);
  const xor = [0, 1, 1, 0, 1, 1, 0, 0];

  it("gives identical params for the same seed and different ones for another seed", () => {
    const options: MlpOptions = { task: "classification", hidden: [8, 4], maxEpochs: 20, validationFraction: 0, seed: 5 };
    const a = trainMlp(tiny, xor, options).params;
    expect(trainMlp(tiny, xor, options).params).toEqual(a);
    expect(trainMlp(tiny, xor, { ...options, seed: 6 }).params).not.toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it("learns XOR with a hidden layer", () => {
    const model = trainMlp(tiny, xor, { task: "classification", hidden: [16], learningRate: 0.05, batchSize: 8, maxEpochs: 500, validationFraction: 0, patience: 500, seed: 1 });
    expect(Array.from(model.predict(tiny))).toEqual(xor);
  });

  it("rejects more than two hidden layers, a single class and missing values", () => {
    expect(() => trainMlp(tiny, xor, { task: "classification", hidden: [4, 4, 4] })).toThrow(/hidden must list one or two positive layer sizes/);
    expect(() => trainMlp(tiny, new Array(8).fill(1), { task: "classification" })).toThrow(/labels hold 1 distinct class/);
    expect(() => trainMlp(fromRows([[NaN], [1]]), [0, 1], { task: "regression" })).toThrow(/Impute missing values/);
  });

  describe("on breast cancer (binary, stratified 80/20, seed 42, standard scaling, one hidden layer of 64)", () => {
    const fit = fitDataset("breast_cancer.csv", "diagnosis", { task: "classification", hidden: [64], seed: 42 });

    it("reaches test accuracy ≥ 0.95 (scikit-learn reference 0.975)", () => {
      expect(fit.model.params.output).toBe("sigmoid");
      expect(accuracy(fit.yTest, fit.model.predict(fit.XTest))).toBeGreaterThanOrEqual(0.95);
    });

    it("stops early on the validation loss and reports both losses per epoch", () => {
      expect(fit.epochs.length).toBeLessThan(200);
      expect(fit.epochs.every((e) => Number.isFinite(e.loss) && Number.isFinite(e.validationLoss))).toBe(true);
      expect(fit.epochs.at(-1)!.loss).toBeLessThan(fit.epochs[0]!.loss);
    });

    it("exports to ONNX with imputer and scaler whose probabilities and labels match TypeScript within 1e-5", async () => {
      const raw = float32WithNaNs(fit.rawTest);
      const { out, X } = await runOnnx(fit.model, fit.pipeline, raw);
      const expected = fit.model.predictProba(X);
      expect(out.probabilities!.dims).toEqual([raw.rows, 2]);
      const got = out.probabilities!.data as Float32Array;
      expect(expected.data.reduce((w, v, i) => Math.max(w, Math.abs(got[i]! - v)), 0)).toBeLessThan(1e-5);
      expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(Array.from(fit.model.predict(X)));
    });
  });

  describe("on iris (softmax, two hidden layers)", () => {
    const fit = fitDataset("iris.csv", "species", { task: "classification", hidden: [16, 8], learningRate: 0.01, seed: 42 });

    it("classifies the test rows well", () => {
      expect(fit.model.params.layers).toHaveLength(3);
      expect(accuracy(fit.yTest, fit.model.predict(fit.XTest))).toBeGreaterThanOrEqual(0.9);
    });

    it("exports to ONNX with imputer and scaler whose probabilities match TypeScript within 1e-5", async () => {
      const { out, X } = await runOnnx(fit.model, fit.pipeline, float32WithNaNs(fit.rawTest));
      const got = out.probabilities!.data as Float32Array;
      expect(fit.model.predictProba(X).data.reduce((w, v, i) => Math.max(w, Math.abs(got[i]! - v)), 0)).toBeLessThan(1e-5);
    });
  });

  describe("on diabetes (regression, 80/20 split, seed 42)", () => {
    const fit = fitDataset("diabetes.csv", "progression", { task: "regression", hidden: [32], learningRate: 0.01, seed: 42 });

    it("predicts in target units, explaining a fair share of the variance", () => {
      expect(fit.model.params.output).toBe("identity");
      expect(r2(fit.yTest, fit.model.predict(fit.XTest))).toBeGreaterThanOrEqual(0.3);
    });

    it("exports to ONNX with imputer and scaler whose output matches TypeScript within 1e-5 relative", async () => {
      // Targets reach ~350: float32 arithmetic carries ~1e-5 absolute error there, so the bound is relative.
      const { out, X } = await runOnnx(fit.model, fit.pipeline, float32WithNaNs(fit.rawTest));
      expect(out.variable!.dims).toEqual([fit.rawTest.rows, 1]);
      const got = out.variable!.data as Float32Array;
      const expected = Array.from(fit.model.predict(X));
      expect(expected.reduce((w, v, i) => Math.max(w, Math.abs(got[i]! - v) / Math.max(1, Math.abs(v))), 0)).toBeLessThan(1e-5);
    });
  });
});
