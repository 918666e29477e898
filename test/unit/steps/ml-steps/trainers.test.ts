import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { column, createTable, takeRows, type Table } from "sluice";
import { predictGbdtProba, predictGbdtRaw } from "../../../../steps/ml/gbdt.ts";
import { predictRidge } from "../../../../steps/ml/linear.ts";
import { predictLogisticProba } from "../../../../steps/ml/logistic.ts";
import { predictMlpProba } from "../../../../steps/ml/mlp.ts";
import { Pipeline } from "../../../../steps/ml/preprocess.ts";
import { numericMatrix, roundToFloat32, type FeatureSpec } from "../../../../steps/ml/steps/features.ts";
import { evaluate, fitPreprocess, scoreBatch, split, trainGbdt, trainLogistic, trainMlp, trainRidge } from "../../../../steps/ml/steps/index.ts";
import { cleanUp, readData, runStep, type StepResult } from "./harness.ts";

afterAll(cleanUp);

interface Prepared {
  train: Table;
  test: Table;
  spec: FeatureSpec;
}

/** read → stratified (classification) 80/20 split, seed 42 → preprocessing fitted on train. */
async function prepare(file: string, label: string, task: "classification" | "regression"): Promise<Prepared> {
  const table = await readData(file);
  const { train, test } = (await runStep(split, { table }, { label, seed: 42, testFraction: 0.2, stratify: task === "classification" })).outputs;
  const spec = (await runStep(fitPreprocess, { train }, { label, task })).outputs.params as FeatureSpec;
  return { train, test, spec };
}

/** Trains, evaluates through onnxruntime-node and batch-scores the test rows in chunks. */
async function fit(data: Prepared, step: Parameters<typeof runStep>[0], params: Record<string, unknown> = {}): Promise<{ trained: StepResult; metrics: Record<string, number>; scores: Table }> {
  const trained = await runStep(step, { train: data.train, preprocess: data.spec }, params);
  const ev = await runStep(evaluate, { model: trained.outputs.onnx, test: data.test });
  const scores = (await runStep(scoreBatch, { model: trained.outputs.onnx, table: data.test }, { chunkRows: 25, parallelism: 2 })).outputs.scores as Table;
  return { trained, metrics: ev.outputs.metrics.metrics, scores };
}

/** `rows × classes` probabilities of the score table's `proba_*` columns. */
function probaColumns(scores: Table, classes: string[]): Float64Array {
  const out = new Float64Array(scores.numRows * classes.length);
  classes.forEach((c, k) => (column(scores, `proba_${c}`).values as Float64Array).forEach((v, i) => (out[i * classes.length + k] = v)));
  return out;
}

const maxGap = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((w, v, i) => Math.max(w, Math.abs(v - b[i]!)), 0);

describe("trainers on breast cancer (binary, stratified 80/20, seed 42), scored by onnxruntime-node", () => {
  let data: Prepared;
  beforeAll(async () => {
    data = await prepare("breast_cancer.csv", "diagnosis", "classification");
  });

  it("logistic: accuracy ≥ 0.95, ROC AUC ≥ 0.99, ONNX probabilities within 1e-5 of TypeScript, a learning curve per iteration", async () => {
    const { trained, metrics, scores } = await fit(data, trainLogistic);
    expect(metrics["accuracy"]).toBeGreaterThanOrEqual(0.95);
    expect(metrics["roc_auc"]).toBeGreaterThanOrEqual(0.99);
    expect(metrics["log_loss"]).toBeGreaterThan(0);
    const X = Pipeline.transform(data.spec.pipeline, { numeric: roundToFloat32(numericMatrix(data.test, data.spec.numeric, "test")) });
    expect(maxGap(probaColumns(scores, data.spec.classes), predictLogisticProba(trained.outputs.model, X).data)).toBeLessThan(1e-5);
    const curve = trained.metrics.filter((m) => m.name === "train_loss");
    expect(curve.length).toBeGreaterThan(5);
    expect(curve.at(-1)!.value).toBeLessThan(curve[0]!.value);
  });

  it("MLP: accuracy ≥ 0.95, ONNX probabilities within 1e-5 of TypeScript, train and validation curves", async () => {
    const { trained, metrics, scores } = await fit(data, trainMlp);
    expect(metrics["accuracy"]).toBeGreaterThanOrEqual(0.95);
    const X = Pipeline.transform(data.spec.pipeline, { numeric: roundToFloat32(numericMatrix(data.test, data.spec.numeric, "test")) });
    expect(maxGap(probaColumns(scores, data.spec.classes), predictMlpProba(trained.outputs.model, X).data)).toBeLessThan(1e-5);
    expect(trained.metrics.some((m) => m.name === "valid_loss")).toBe(true);
  });

  it("GBDT: accuracy ≥ 0.95, ONNX probabilities within 1e-5 of TypeScript, one loss point per iteration", async () => {
    const { trained, metrics, scores } = await fit(data, trainGbdt, { maxIter: 60 });
    expect(metrics["accuracy"]).toBeGreaterThanOrEqual(0.95);
    const X = Pipeline.transform({ ...data.spec.pipeline, scaler: null }, { numeric: numericMatrix(data.test, data.spec.numeric, "test") });
    expect(maxGap(probaColumns(scores, data.spec.classes), predictGbdtProba(trained.outputs.model, X).data)).toBeLessThan(1e-5);
    expect(trained.metrics.filter((m) => m.name === "train_loss").map((m) => m.step)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    const labels = column(scores, "prediction").values as string[];
    expect(new Set(labels)).toEqual(new Set(["benign", "malignant"]));
  });

  it("rejects training rows that hold a single class, naming the label column", async () => {
    const benign = createTable(data.train.columns.map((c) => ({ ...c })));
    const keep = (column(benign, "diagnosis").values as string[]).map((v, i) => (v === "benign" ? i : -1)).filter((i) => i >= 0);
    await expect(runStep(trainLogistic, { train: takeRows(benign, keep), preprocess: data.spec })).rejects.toThrow(/column "diagnosis": the training rows hold a single class \("benign"\); a classifier needs at least 2/);
  });

  it("scores rows with missing feature values through the imputer in the graph: finite metrics", async () => {
    const holes = createTable(data.test.columns.map((c) => (c.name === "mean_radius" ? { ...c, nulls: Uint8Array.from({ length: data.test.numRows }, (_, i) => (i % 3 === 0 ? 1 : 0)) } : c)));
    const trained = await runStep(trainLogistic, { train: data.train, preprocess: data.spec });
    const m = (await runStep(evaluate, { model: trained.outputs.onnx, test: holes })).outputs.metrics.metrics as Record<string, number>;
    expect(Object.values(m).every(Number.isFinite)).toBe(true);
    expect(m["accuracy"]).toBeGreaterThan(0.9);
  });
});

describe("trainers on iris (3 classes) and diabetes (regression)", () => {
  it("iris: logistic and MLP reach ≥ 0.93 test accuracy; the evaluation has per-class scores and a 3 × 3 confusion matrix", async () => {
    const data = await prepare("iris.csv", "species", "classification");
    for (const step of [trainLogistic, trainMlp]) {
      const trained = await runStep(step, { train: data.train, preprocess: data.spec });
      const ev = (await runStep(evaluate, { model: trained.outputs.onnx, test: data.test })).outputs.metrics;
      expect(ev.metrics.accuracy).toBeGreaterThanOrEqual(0.93);
      expect(Object.keys(ev.perClass)).toEqual(["setosa", "versicolor", "virginica"]);
      expect(ev.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(30);
    }
  });

  it("diabetes: ridge R² ≥ 0.40 through onnxruntime-node, ONNX within 1e-5 relative of TypeScript; GBDT regression agrees too", async () => {
    const data = await prepare("diabetes.csv", "progression", "regression");
    const ridge = await fit(data, trainRidge);
    expect(ridge.metrics["r2"]).toBeGreaterThanOrEqual(0.4);
    expect(ridge.metrics["rmse"]).toBeGreaterThan(ridge.metrics["mae"]!);
    const raw = roundToFloat32(numericMatrix(data.test, data.spec.numeric, "test"));
    const ts = predictRidge(ridge.trained.outputs.model, Pipeline.transform(data.spec.pipeline, { numeric: raw }));
    const got = column(ridge.scores, "prediction").values as Float64Array;
    expect(Array.from(got).reduce((w, v, i) => Math.max(w, Math.abs(v - ts[i]!) / Math.max(1, Math.abs(ts[i]!))), 0)).toBeLessThan(1e-5);
    const trees = await fit(data, trainGbdt, { maxIter: 40 });
    const tsTrees = predictGbdtRaw(trees.trained.outputs.model, Pipeline.transform({ ...data.spec.pipeline, scaler: null }, { numeric: numericMatrix(data.test, data.spec.numeric, "test") }));
    expect(maxGap(column(trees.scores, "prediction").values as Float64Array, Array.from(tsTrees, Math.fround))).toBeLessThanOrEqual(1e-5);
  });

  it("a trainer refuses preprocessing fitted for the other task", async () => {
    const data = await prepare("iris.csv", "species", "classification");
    await expect(runStep(trainRidge, { train: data.train, preprocess: data.spec })).rejects.toThrow(/preprocessing was fitted for classification/);
  });
});
