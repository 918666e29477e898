import { describe, expect, it } from "vitest";
import { float32WithNaNs, readCsv } from "./datasets.ts";
import { trainLogistic } from "../../../../steps/ml/logistic.ts";
import { fromRows, selectRows, selectValues, toFloat32, type Matrix } from "../../../../steps/ml/matrix.ts";
import { accuracy, rocAuc } from "../../../../steps/ml/metrics.ts";
import { exportLogistic } from "../../../../steps/ml/onnx/export-linear.ts";
import { createSession, runFloat } from "../../../../steps/ml/onnx/model.ts";
import { encodeLabels, Pipeline, type PipelineParams } from "../../../../steps/ml/preprocess.ts";
import { trainTestSplit } from "../../../../steps/ml/split.ts";
/** Stratified 80/20 split (seed 42), standard scaling fitted on the training rows, logistic fit. */
function fitDataset(file: string, label: string) {
  const data = readCsv(file, label);
  const { y, classes } = encodeLabels(data.target);
  const split = trainTestSplit(data.X.rows, { testFraction: 0.2, seed: 42, stratify: y });
  const train = selectRows(data.X, split.train);
  const pipeline = Pipeline.fit({ numeric: train });
  const losses: number[] = [];
  const model = trainLogistic(Pipeline.transform(pipeline, { numeric: train }), selectValues(y, split.train), { onEpoch: (_, loss) => losses.push(loss) });
  const rawTest = selectRows(data.X, split.test);
  return { data, y, classes, split, pipeline, model, losses, rawTest, yTest: selectValues(y, split.test), XTest: Pipeline.transform(pipeline, { numeric: rawTest }) };
}

/** Largest absolute gap between ONNX probabilities (float32) and TypeScript ones (float64), labels compared too. */
async function onnxGap(model: ReturnType<typeof trainLogistic>, pipeline: PipelineParams, raw: Matrix): Promise<number> {
  const session = await createSession(exportLogistic(model.params, pipeline));
  const out = await runFloat(session, "input", toFloat32(raw), raw.rows, raw.cols);
  const expected = model.predictProba(Pipeline.transform(pipeline, { numeric: raw }));
  expect(out.probabilities!.dims).toEqual([raw.rows, model.params.nClasses]);
  expect(out.label!.type).toBe("int64");
  expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(Array.from(model.predict(Pipeline.transform(pipeline, { numeric: raw }))));
  const got = out.probabilities!.data as Float32Array;
  return expected.data.reduce((worst, v, i) => Math.max(worst, Math.abs(got[i]! - v)), 0);
}

describe("trainLogistic", () => {
  it("separates a simple binary problem and returns probabilities that sum to 1", () => {
    const X = fromRows([[-2], [-1], [-0.5], [0.5], [1], [2]]);
    const model = trainLogistic(X, [0, 0, 0, 1, 1, 1], { l2: 0.001 });
    expect(Array.from(model.predict(X))).toEqual([0, 0, 0, 1, 1, 1]);
    const p = model.predictProba(X);
    for (let i = 0; i < p.rows; i++) expect(p.data[2 * i]! + p.data[2 * i + 1]!).toBeCloseTo(1, 12);
    expect(model.params.outputs).toBe(1);
  });

  it("gives identical params for the same data, which survive a JSON round trip", () => {
    const X = fromRows([[0, 1], [1, 0], [1, 1], [0, 0], [2, 1], [1, 2]]);
    const y = [0, 1, 2, 0, 1, 2];
    const a = trainLogistic(X, y);
    expect(trainLogistic(X, y).params).toEqual(a.params);
    expect(JSON.parse(JSON.stringify(a.params))).toEqual(a.params);
  });

  it("rejects a single class, labels that are not class indices and missing values", () => {
    expect(() => trainLogistic(fromRows([[1], [2]]), [0, 0])).toThrow(/labels hold 1 distinct class; training a classifier needs at least 2/);
    expect(() => trainLogistic(fromRows([[1], [2]]), [0, 1.5])).toThrow(/y\[1\] = 1.5 is not a class index/);
    expect(() => trainLogistic(fromRows([[1], [NaN]]), [0, 1])).toThrow(/Impute missing values/);
  });

  describe("on breast cancer (binary, stratified 80/20, seed 42, standard scaling)", () => {
    const fit = fitDataset("breast_cancer.csv", "diagnosis");

    it("reaches test accuracy ≥ 0.95 and ROC AUC ≥ 0.99 (scikit-learn reference accuracy 0.979)", () => {
      expect(fit.classes).toEqual(["benign", "malignant"]);
      expect(accuracy(fit.yTest, fit.model.predict(fit.XTest))).toBeGreaterThanOrEqual(0.95);
      expect(rocAuc(fit.yTest, fit.model.predictProba(fit.XTest))).toBeGreaterThanOrEqual(0.99);
    });

    it("reports a non-increasing training loss per L-BFGS iteration", () => {
      expect(fit.losses.length).toBeGreaterThan(1);
      fit.losses.slice(1).forEach((loss, i) => expect(loss).toBeLessThanOrEqual(fit.losses[i]!));
    });

    it("exports to ONNX with imputer and scaler whose probabilities match TypeScript within 1e-5", async () => {
      expect(await onnxGap(fit.model, fit.pipeline, float32WithNaNs(fit.rawTest))).toBeLessThan(1e-5);
    });
  });

  describe("on iris (multinomial, stratified 80/20, seed 42, standard scaling)", () => {
    const fit = fitDataset("iris.csv", "species");

    it("reaches test accuracy ≥ 0.93 (scikit-learn reference 0.96)", () => {
      expect(fit.model.params.outputs).toBe(3);
      expect(accuracy(fit.yTest, fit.model.predict(fit.XTest))).toBeGreaterThanOrEqual(0.93);
    });

    it("exports to ONNX with imputer and scaler whose probabilities match TypeScript within 1e-5", async () => {
      expect(await onnxGap(fit.model, fit.pipeline, float32WithNaNs(fit.rawTest))).toBeLessThan(1e-5);
    });
  });
});
