import { describe, expect, it } from "vitest";
import { fromRows } from "../../../../steps/ml/matrix.ts";
import { accuracy, confusionMatrix, logLoss, mae, precisionRecallF1, r2, rmse, rocAuc } from "../../../../steps/ml/metrics.ts";

// Expected values below were worked out by hand and match scikit-learn 1.2's functions.
const yTrue = [0, 0, 1, 1, 2, 2, 2];
const yPred = [0, 1, 1, 1, 2, 0, 2];

describe("classification metrics", () => {
  it("computes accuracy and the confusion matrix (rows true, columns predicted)", () => {
    expect(accuracy(yTrue, yPred)).toBeCloseTo(5 / 7, 12);
    expect(confusionMatrix(yTrue, yPred)).toEqual([
      [1, 1, 0],
      [0, 2, 0],
      [1, 0, 2],
    ]);
  });

  it("computes per-class and macro precision, recall and F1", () => {
    const report = precisionRecallF1(yTrue, yPred);
    expect(report.perClass.map((s) => s.support)).toEqual([2, 2, 3]);
    expect(report.perClass[0]!.precision).toBeCloseTo(0.5, 12);
    expect(report.perClass[1]!.precision).toBeCloseTo(2 / 3, 12);
    expect(report.perClass[2]!.recall).toBeCloseTo(2 / 3, 12);
    expect(report.perClass[2]!.f1).toBeCloseTo(0.8, 12);
    expect(report.macro.precision).toBeCloseTo((0.5 + 2 / 3 + 1) / 3, 12);
    expect(report.macro.recall).toBeCloseTo((0.5 + 1 + 2 / 3) / 3, 12);
    expect(report.macro.f1).toBeCloseTo((0.5 + 0.8 + 0.8) / 3, 12);
  });

  it("scores a class that is never predicted as 0 rather than NaN", () => {
    const report = precisionRecallF1([0, 1, 1], [1, 1, 1]);
    expect(report.perClass[0]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(Number.isNaN(report.macro.f1)).toBe(false);
  });

  it("computes binary ROC AUC with tied scores sharing their rank", () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBeCloseTo(0.875, 12);
    expect(rocAuc([0, 0, 1, 1], fromRows([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]))).toBeCloseTo(0.75, 12);
  });

  it("computes multiclass ROC AUC as the macro mean of one-vs-rest AUCs", () => {
    const proba = fromRows([[0.8, 0.1, 0.1], [0.3, 0.4, 0.3], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]]);
    const y = [0, 1, 1, 2, 2];
    const pairwise = (k: number): number => {
      let wins = 0;
      let pairs = 0;
      for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) {
        if (y[i] !== k || y[j] === k) continue;
        pairs++;
        const a = proba.data[i * 3 + k]!;
        const b = proba.data[j * 3 + k]!;
        wins += a > b ? 1 : a === b ? 0.5 : 0;
      }
      return wins / pairs;
    };
    expect(rocAuc(y, proba)).toBeCloseTo((pairwise(0) + pairwise(1) + pairwise(2)) / 3, 12);
  });

  it("computes log loss with probabilities clipped away from 0", () => {
    expect(logLoss([0, 1], fromRows([[0.9, 0.1], [0.2, 0.8]]))).toBeCloseTo((-Math.log(0.9) - Math.log(0.8)) / 2, 12);
    expect(Number.isFinite(logLoss([0], fromRows([[0, 1]])))).toBe(true);
  });
});

describe("regression metrics", () => {
  const t = [3, -0.5, 2, 7];
  const p = [2.5, 0, 2, 8];
  it("computes RMSE, MAE and R²", () => {
    expect(rmse(t, p)).toBeCloseTo(Math.sqrt(0.375), 12);
    expect(mae(t, p)).toBeCloseTo(0.5, 12);
    expect(r2(t, p)).toBeCloseTo(0.9486081370449679, 12);
  });
});

describe("degenerate inputs throw a clear error instead of returning NaN", () => {
  it("refuses empty inputs", () => {
    expect(() => accuracy([], [])).toThrow(/accuracy: no rows to score \(empty input\)/);
    expect(() => rmse([], [])).toThrow(/rmse: no rows/);
    expect(() => logLoss([], fromRows([]))).toThrow(/logLoss: no rows/);
  });

  it("refuses ROC AUC when only one class is present", () => {
    expect(() => rocAuc([1, 1, 1], [0.2, 0.5, 0.9])).toThrow(/needs both classes.*only positives/);
    expect(() => rocAuc([0, 0, 0], fromRows([[1, 0, 0], [1, 0, 0], [1, 0, 0]]))).toThrow(/class 0 vs rest.*only positives/);
  });

  it("refuses R² on a constant target", () => {
    expect(() => r2([2, 2, 2], [1, 2, 3])).toThrow(/yTrue is constant/);
  });

  it("refuses mismatched lengths, NaN and labels outside the classes", () => {
    expect(() => accuracy([0, 1], [0])).toThrow(/yTrue has 2 values but the predictions have 1/);
    expect(() => mae([1, NaN], [1, 2])).toThrow(/row 1 is not finite/);
    expect(() => confusionMatrix([0, 3], [0, 1], 2)).toThrow(/label 3, not a class index in 0..1/);
  });
});
