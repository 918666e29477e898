import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { predictGbdt, predictGbdtProba, trainGbdt, type GbdtMatrix, type GbdtOptions, type GbdtParams } from "../../../../steps/ml/gbdt.ts";
import { exportGbdt } from "../../../../steps/ml/onnx/export-trees.ts";
import { createSession, runFloat } from "../../../../steps/ml/onnx/model.ts";

/** A seeded uniform generator in [0, 1) (mulberry32), private to the tests. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A data/ml CSV: every column but `target` is a numeric feature; the target stays text. */
function readCsv(file: string, target: string): { X: GbdtMatrix; target: string[] } {
  const [header, ...lines] = fs.readFileSync(new URL(`../../../../data/ml/${file}`, import.meta.url), "utf8").trim().split(/\r?\n/);
  const names = header!.split(",");
  const t = names.indexOf(target);
  const cells = lines.map((line) => line.split(","));
  const data = Float64Array.from(cells.flatMap((row) => row.filter((_, j) => j !== t).map(Number)));
  return { X: { rows: cells.length, cols: names.length - 1, data }, target: cells.map((row) => row[t]!) };
}

/** Class indices in sorted-name order. */
function encode(names: readonly string[]): Float64Array {
  const classes = [...new Set(names)].sort();
  return Float64Array.from(names, (n) => classes.indexOf(n));
}

/** 80/20 split, shuffled with a fixed seed; stratified by `strata` when given. */
function split(rows: number, seed: number, strata?: ArrayLike<number>): { train: number[]; test: number[] } {
  const next = random(seed);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < rows; i++) groups.set(strata ? strata[i]! : 0, [...(groups.get(strata ? strata[i]! : 0) ?? []), i]);
  const train: number[] = [];
  const test: number[] = [];
  for (const group of groups.values()) {
    for (let i = group.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [group[i], group[j]] = [group[j]!, group[i]!];
    }
    const cut = Math.round(group.length * 0.2);
    test.push(...group.slice(0, cut));
    train.push(...group.slice(cut));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

function rowsOf(X: GbdtMatrix, ids: readonly number[]): GbdtMatrix {
  const data = new Float64Array(ids.length * X.cols);
  ids.forEach((r, i) => data.set(X.data.subarray(r * X.cols, (r + 1) * X.cols), i * X.cols));
  return { rows: ids.length, cols: X.cols, data };
}

/** A copy with roughly `rate` of the cells set to NaN. */
function withNaNs(X: GbdtMatrix, rate: number, seed: number): GbdtMatrix {
  const next = random(seed);
  return { ...X, data: X.data.map((v) => (next() < rate ? Number.NaN : v)) };
}

function accuracy(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  let hits = 0;
  for (let i = 0; i < y.length; i++) hits += pred[i] === y[i] ? 1 : 0;
  return hits / y.length;
}

function r2(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  const mean = Array.from(y).reduce((s, v) => s + v, 0) / y.length;
  let res = 0;
  let tot = 0;
  for (let i = 0; i < y.length; i++) {
    res += (y[i]! - pred[i]!) ** 2;
    tot += (y[i]! - mean) ** 2;
  }
  return 1 - res / tot;
}

/** Loads a dataset, splits it 80/20 (seed 42) and trains on the 80 %. */
function fit(file: string, label: string, task: GbdtOptions["task"], options: Partial<GbdtOptions> = {}, nanRate = 0) {
  const data = readCsv(file, label);
  const y = task === "regression" ? Float64Array.from(data.target, Number) : encode(data.target);
  const { train, test } = split(data.X.rows, 42, task === "regression" ? undefined : y);
  const XTrain = withNaNs(rowsOf(data.X, train), nanRate, 7);
  const model = trainGbdt(XTrain, train.map((i) => y[i]!), { task, ...options });
  return { model, XTest: rowsOf(data.X, test), yTest: test.map((i) => y[i]!) };
}

/** Runs the exported model in onnxruntime on float32 inputs. */
async function runOnnx(params: GbdtParams, X: GbdtMatrix) {
  const session = await createSession(exportGbdt(params));
  return runFloat(session, "input", Float32Array.from(X.data), X.rows, X.cols);
}

function maxGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe("trainGbdt on the real datasets", () => {
  it("classifies breast cancer with accuracy ≥ 0.95 on a held-out 20 %", () => {
    const { model, XTest, yTest } = fit("breast_cancer.csv", "diagnosis", "classification");
    expect(model.params.task).toBe("binary");
    expect(accuracy(model.predict(XTest), yTest)).toBeGreaterThanOrEqual(0.95);
  });

  it("classifies iris with accuracy ≥ 0.93 on a held-out 20 %, one tree per class per iteration", () => {
    const { model, XTest, yTest } = fit("iris.csv", "species", "classification");
    expect(model.params.task).toBe("multiclass");
    expect(model.params.trees).toHaveLength(3 * model.params.iterations);
    expect(model.params.trees.map((t) => t.output).slice(0, 6)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(accuracy(model.predict(XTest), yTest)).toBeGreaterThanOrEqual(0.93);
  });

  it("predicts diabetes progression with R² ≥ 0.30 on a held-out 20 %", () => {
    const { model, XTest, yTest } = fit("diabetes.csv", "progression", "regression", { maxIter: 100, learningRate: 0.05 });
    expect(r2(model.predict(XTest), yTest)).toBeGreaterThanOrEqual(0.3);
  });

  it("reports a falling training loss through onIteration, once per iteration", () => {
    const calls: [number, number, number | null][] = [];
    const { model } = fit("breast_cancer.csv", "diagnosis", "classification", { maxIter: 30, onIteration: (i, train, valid) => calls.push([i, train, valid]) });
    expect(calls.map((c) => c[0])).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(calls.every((c) => c[2] === null)).toBe(true);
    expect(calls[29]![1]).toBeLessThan(calls[0]![1] / 3);
    expect(model.trainLosses).toEqual(calls.map((c) => c[1]));
  });
});

describe("trainGbdt behaviour", () => {
  it("gives byte-identical JSON for the same seed and a different model for another seed", () => {
    const options: Partial<GbdtOptions> = { subsample: 0.7, earlyStopping: true, maxIter: 40 };
    const a = fit("breast_cancer.csv", "diagnosis", "classification", { ...options, seed: 3 }, 0.05).model;
    const b = fit("breast_cancer.csv", "diagnosis", "classification", { ...options, seed: 3 }, 0.05).model;
    const c = fit("breast_cancer.csv", "diagnosis", "classification", { ...options, seed: 4 }, 0.05).model;
    expect(JSON.stringify(a.params)).toBe(JSON.stringify(b.params));
    expect(JSON.stringify(a.params)).not.toBe(JSON.stringify(c.params));
    const revived = JSON.parse(JSON.stringify(a.params)) as GbdtParams;
    const { XTest } = fit("breast_cancer.csv", "diagnosis", "classification", { maxIter: 1 });
    expect(predictGbdtProba(revived, XTest).data).toEqual(a.predictProba(XTest).data);
  });

  it("stops early on pure noise, well before maxIter, with one validation loss per iteration", () => {
    const next = random(11);
    const rows = 2000;
    const X: GbdtMatrix = { rows, cols: 5, data: Float64Array.from({ length: rows * 5 }, next) };
    const y = Float64Array.from({ length: rows }, () => (next() < 0.5 ? 1 : 0));
    const valid: number[] = [];
    const model = trainGbdt(X, y, { task: "classification", maxIter: 200, earlyStopping: true, nIterNoChange: 5, onIteration: (_, __, v) => valid.push(v!) });
    expect(model.params.iterations).toBeLessThan(50);
    expect(model.params.trees).toHaveLength(model.params.iterations);
    expect(model.validLosses).toEqual(valid);
  });

  it("learns where missing values go: rows with NaN in the feature are told apart", () => {
    const next = random(5);
    const rows = 1000;
    const data = new Float64Array(rows);
    const y = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const kind = i % 3;
      data[i] = kind === 2 ? Number.NaN : kind === 0 ? next() : 1 + next();
      y[i] = kind === 1 ? 0 : 1;
    }
    const model = trainGbdt({ rows, cols: 1, data }, y, { task: "classification", maxIter: 20 });
    expect(Array.from(model.predict({ rows: 3, cols: 1, data: Float64Array.from([0.5, 1.5, Number.NaN]) }))).toEqual([1, 0, 1]);
  });

  it("keeps thresholds in float32 so adjacent float32 values still separate", () => {
    const lo = 1;
    const hi = Math.fround(1 + 2 ** -23);
    const rows = 200;
    const data = Float64Array.from({ length: rows }, (_, i) => (i % 2 ? hi : lo));
    const y = Float64Array.from({ length: rows }, (_, i) => i % 2);
    const model = trainGbdt({ rows, cols: 1, data }, y, { task: "classification", maxIter: 5 });
    const split = model.params.trees[0]!.nodes[0]!;
    expect(split.threshold).toBe(lo);
    expect(Array.from(model.predict({ rows: 2, cols: 1, data: Float64Array.from([lo, hi]) }))).toEqual([0, 1]);
    for (const tree of model.params.trees) for (const node of tree.nodes) expect(Math.fround(node.threshold)).toBe(node.threshold);
  });

  it("respects maxDepth and maxLeafNodes", () => {
    const deep = fit("diabetes.csv", "progression", "regression", { maxIter: 5, maxDepth: 2, maxLeafNodes: 100, minSamplesLeaf: 1 }).model;
    const depth = (nodes: GbdtParams["trees"][number]["nodes"], i = 0): number => (nodes[i]!.feature < 0 ? 0 : 1 + Math.max(depth(nodes, nodes[i]!.left), depth(nodes, nodes[i]!.right)));
    expect(Math.max(...deep.params.trees.map((t) => depth(t.nodes)))).toBe(2);
    const wide = fit("diabetes.csv", "progression", "regression", { maxIter: 5, maxLeafNodes: 5, minSamplesLeaf: 1 }).model;
    expect(Math.max(...wide.params.trees.map((t) => t.nodes.filter((n) => n.feature < 0).length))).toBe(5);
  });

  it("rejects invalid options and labels with every problem named", () => {
    const X: GbdtMatrix = { rows: 4, cols: 1, data: Float64Array.from([1, 2, 3, 4]) };
    expect(() => trainGbdt(X, [0, 1, 0, 1], { task: "classification", maxBins: 300, subsample: 0 })).toThrow(/maxBins must be an integer in \[2, 255\].*subsample must be in \(0, 1\]/);
    expect(() => trainGbdt(X, [0, 1, 0.5, 1], { task: "classification" })).toThrow(/label 2 is 0.5/);
    expect(() => trainGbdt(X, [0, 1, 2], { task: "regression" })).toThrow(/y has 3 values but X has 4 rows/);
  });
});

describe("exportGbdt in onnxruntime", () => {
  it("matches TypeScript regression within 1e-5 of the float32 output, NaNs included", async () => {
    const { model, XTest } = fit("diabetes.csv", "progression", "regression", { subsample: 0.8 }, 0.1);
    const X = withNaNs(XTest, 0.1, 9);
    const out = await runOnnx(model.params, X);
    expect(out.variable!.dims).toEqual([X.rows, 1]);
    const ts = model.predict(X);
    // Outputs reach ~300, where one float32 step is 3e-5: compare with the float32 rounding of the TS value.
    expect(maxGap(out.variable!.data as Float32Array, ts.map(Math.fround))).toBeLessThanOrEqual(1e-5);
    expect(maxGap(out.variable!.data as Float32Array, ts)).toBeLessThanOrEqual(1e-7 * Math.max(...ts));
  });

  it("matches TypeScript binary probabilities within 1e-5 and labels exactly, NaNs included", async () => {
    const { model, XTest } = fit("breast_cancer.csv", "diagnosis", "classification", { subsample: 0.8 }, 0.1);
    const missing = model.params.trees.flatMap((t) => t.nodes.filter((n) => n.feature >= 0).map((n) => n.missingLeft));
    expect(new Set(missing)).toEqual(new Set([true, false]));
    const X = withNaNs(XTest, 0.1, 9);
    const out = await runOnnx(model.params, X);
    expect(out.probabilities!.dims).toEqual([X.rows, 2]);
    expect(maxGap(out.probabilities!.data as Float32Array, model.predictProba(X).data)).toBeLessThanOrEqual(1e-5);
    expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(Array.from(model.predict(X)));
  });

  it("matches TypeScript multiclass probabilities within 1e-5 and labels exactly, NaNs included", async () => {
    const { model, XTest } = fit("iris.csv", "species", "classification", {}, 0.1);
    const X = withNaNs(XTest, 0.2, 9);
    const out = await runOnnx(model.params, X);
    expect(out.probabilities!.dims).toEqual([X.rows, 3]);
    expect(maxGap(out.probabilities!.data as Float32Array, model.predictProba(X).data)).toBeLessThanOrEqual(1e-5);
    expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(Array.from(model.predict(X)));
  });

  it("separates missing values from all others with a float32-max threshold, in TypeScript and ONNX alike", async () => {
    const next = random(8);
    const rows = 600;
    const data = Float64Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? Number.NaN : next() * 100 - 50));
    const y = Float64Array.from(data, (v) => (Number.isNaN(v) ? 1 : 0));
    const model = trainGbdt({ rows, cols: 1, data }, y, { task: "classification", maxIter: 10 });
    expect(model.params.trees[0]!.nodes[0]).toMatchObject({ feature: 0, threshold: 3.4028234663852886e38, missingLeft: false });
    const X: GbdtMatrix = { rows: 4, cols: 1, data: Float64Array.from([Number.NaN, -3e38, 0, 3e38]) };
    expect(Array.from(model.predict(X))).toEqual([1, 0, 0, 0]);
    const out = await runOnnx(model.params, X);
    expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual([1, 0, 0, 0]);
    expect(maxGap(out.probabilities!.data as Float32Array, model.predictProba(X).data)).toBeLessThanOrEqual(1e-5);
  });

  it("keeps the sigmoid of a binary ensemble whose leaf weights are all positive", async () => {
    const leaf = { feature: -1, threshold: 0, missingLeft: false, left: -1, right: -1, value: 0.3 };
    const params: GbdtParams = {
      kind: "gbdt", task: "binary", features: 1, nClasses: 2, outputs: 1, baseScore: [-1], iterations: 2,
      trees: [
        { output: 0, nodes: [leaf] },
        { output: 0, nodes: [{ feature: 0, threshold: 0.5, missingLeft: true, left: 1, right: 2, value: 0 }, { ...leaf, value: 0.1 }, { ...leaf, value: 1.2 }] },
      ],
    };
    const X: GbdtMatrix = { rows: 3, cols: 1, data: Float64Array.from([0, 1, Number.NaN]) };
    const out = await runOnnx(params, X);
    expect(maxGap(out.probabilities!.data as Float32Array, predictGbdtProba(params, X).data)).toBeLessThanOrEqual(1e-6);
    expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(Array.from(predictGbdt(params, X)));
    expect(Array.from(predictGbdt(params, X))).toEqual([0, 1, 0]);
  });
});
