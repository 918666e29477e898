import { describe, expect, it } from "vitest";
import { float32WithNaNs, readCsv } from "./datasets.ts";
import { trainRidge } from "../../../../steps/ml/linear.ts";
import { fromRows, selectRows, selectValues, toFloat32 } from "../../../../steps/ml/matrix.ts";
import { r2 } from "../../../../steps/ml/metrics.ts";
import { exportRidge } from "../../../../steps/ml/onnx/export-linear.ts";
import { createSession, runFloat } from "../../../../steps/ml/onnx/model.ts";
import { Pipeline } from "../../../../steps/ml/preprocess.ts";
import { trainTestSplit } from "../../../../steps/ml/split.ts";
describe("trainRidge", () => {
  it("recovers exact coefficients and intercept of noise-free data when the penalty is tiny", () => {
    const X = fromRows([[1, 2], [2, 0], [3, 5], [4, 1], [0, 7]]);
    const y = Array.from({ length: 5 }, (_, i) => 3 * X.data[2 * i]! - 2 * X.data[2 * i + 1]! + 10);
    const { params } = trainRidge(X, y, { alpha: 1e-10 });
    expect(params.weights[0]).toBeCloseTo(3, 6);
    expect(params.weights[1]).toBeCloseTo(-2, 6);
    expect(params.intercept).toBeCloseTo(10, 6);
  });

  it("shrinks weights but never the intercept: a huge penalty predicts the target mean", () => {
    const X = fromRows([[1], [2], [3], [4]]);
    const { params, predict } = trainRidge(X, [10, 20, 30, 40], { alpha: 1e12 });
    expect(Math.abs(params.weights[0]!)).toBeLessThan(1e-8);
    expect(Array.from(predict(X)).every((v) => Math.abs(v - 25) < 1e-6)).toBe(true);
  });

  it("reports its training loss once through onEpoch", () => {
    const calls: [number, number][] = [];
    trainRidge(fromRows([[0], [1], [2]]), [1, 3, 5], { alpha: 0, onEpoch: (e, loss) => calls.push([e, loss]) });
    expect(calls).toHaveLength(1);
    expect(calls[0]![1]).toBeCloseTo(0, 12);
  });

  it("rejects missing values, mismatched targets and a singular system without a penalty", () => {
    expect(() => trainRidge(fromRows([[NaN]]), [1])).toThrow(/X\[0, 0\] is NaN. Impute missing values/);
    expect(() => trainRidge(fromRows([[1], [2]]), [1])).toThrow(/X has 2 rows but y has 1 values/);
    expect(() => trainRidge(fromRows([[1, 2], [2, 4], [3, 6]]), [1, 2, 3], { alpha: 0 })).toThrow(/not positive definite/);
  });

  it("exports without preprocessing when given no pipeline, and refuses a pipeline of another width", async () => {
    const X = fromRows([[1, 2], [2, 0], [3, 5], [4, 1]]);
    const model = trainRidge(X, [1, 2, 3, 5]);
    const session = await createSession(exportRidge(model.params, null));
    const out = await runFloat(session, "input", toFloat32(X), 4, 2);
    Array.from(model.predict(X)).forEach((v, i) => expect(Math.abs((out.variable!.data as Float32Array)[i]! - v)).toBeLessThan(1e-5));
    const wide = Pipeline.fit({ numeric: fromRows([[1, 2, 3]]) });
    expect(() => exportRidge(model.params, wide)).toThrow(/preprocessing produces 3 features but the model takes 2/);
  });

  describe("on the diabetes data (stratification off, 80/20 split, seed 42, standard scaling)", () => {
    const data = readCsv("diabetes.csv", "progression");
    const y = Float64Array.from(data.target, Number);
    const split = trainTestSplit(data.X.rows, { testFraction: 0.2, seed: 42 });
    const train = selectRows(data.X, split.train);
    const pipeline = Pipeline.fit({ numeric: train });
    const model = trainRidge(Pipeline.transform(pipeline, { numeric: train }), selectValues(y, split.train), { alpha: 1 });

    it("reaches a test R² of at least 0.40 (scikit-learn reference 0.49)", () => {
      const score = r2(selectValues(y, split.test), model.predict(Pipeline.transform(pipeline, { numeric: selectRows(data.X, split.test) })));
      expect(score).toBeGreaterThanOrEqual(0.4);
    });

    it("exports to ONNX with imputer and scaler whose output matches the TypeScript prediction within 1e-5 relative", async () => {
      // Targets reach ~350: float32 arithmetic carries ~3e-5 absolute error there, so the bound is relative.
      const raw = float32WithNaNs(selectRows(data.X, split.test));
      const session = await createSession(exportRidge(model.params, pipeline));
      const out = await runFloat(session, "input", toFloat32(raw), raw.rows, raw.cols);
      expect(out.variable!.dims).toEqual([raw.rows, 1]);
      const expected = model.predict(Pipeline.transform(pipeline, { numeric: raw }));
      const got = out.variable!.data as Float32Array;
      let worst = 0;
      expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[i]! - v) / Math.max(1, Math.abs(v)))));
      expect(worst).toBeLessThan(1e-5);
    });
  });
});
