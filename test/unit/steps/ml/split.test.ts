import { describe, expect, it } from "vitest";
import { createRng } from "../../../../steps/ml/rng.ts";
import { kFold, trainTestSplit } from "../../../../steps/ml/split.ts";

const labels = Array.from({ length: 100 }, (_, i) => (i < 70 ? "a" : i < 90 ? "b" : "c"));
const count = (rows: number[], label: string): number => rows.filter((r) => labels[r] === label).length;

describe("trainTestSplit", () => {
  it("partitions every row into exactly one of train and test, with round(n × fraction) test rows", () => {
    const { train, test } = trainTestSplit(101, { testFraction: 0.2, seed: 7 });
    expect(test).toHaveLength(20);
    expect([...train, ...test].sort((a, b) => a - b)).toEqual(Array.from({ length: 101 }, (_, i) => i));
  });

  it("gives the same split for the same seed and a different one for another seed", () => {
    expect(trainTestSplit(50, { testFraction: 0.3, seed: 1 })).toEqual(trainTestSplit(50, { testFraction: 0.3, seed: 1 }));
    expect(trainTestSplit(50, { testFraction: 0.3, seed: 1 }).test).not.toEqual(trainTestSplit(50, { testFraction: 0.3, seed: 2 }).test);
  });

  it("keeps each class's proportion in the test set when stratified", () => {
    const { train, test } = trainTestSplit(100, { testFraction: 0.2, seed: 3, stratify: labels });
    expect([count(test, "a"), count(test, "b"), count(test, "c")]).toEqual([14, 4, 2]);
    expect([count(train, "a"), count(train, "b"), count(train, "c")]).toEqual([56, 16, 8]);
  });

  it("returns ascending index lists", () => {
    const { train, test } = trainTestSplit(30, { testFraction: 0.5, seed: 9 });
    expect(train).toEqual([...train].sort((a, b) => a - b));
    expect(test).toEqual([...test].sort((a, b) => a - b));
  });

  it("rejects a fraction outside (0, 1), too few rows, and a stratify list of the wrong length", () => {
    expect(() => trainTestSplit(10, { testFraction: 1, seed: 0 })).toThrow(/testFraction must be in \(0, 1\)/);
    expect(() => trainTestSplit(1, { testFraction: 0.5, seed: 0 })).toThrow(/at least 2 rows/);
    expect(() => trainTestSplit(10, { testFraction: 0.5, seed: 0, stratify: ["a"] })).toThrow(/stratify has 1 labels for 10 rows/);
  });
});

describe("kFold", () => {
  it("tests every row exactly once across folds of near-equal size", () => {
    const folds = kFold(23, 5, { seed: 4 });
    expect(folds).toHaveLength(5);
    expect(folds.flatMap((f) => f.test).sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    for (const f of folds) {
      expect([4, 5]).toContain(f.test.length);
      expect(f.train.length + f.test.length).toBe(23);
      expect(f.train.some((r) => f.test.includes(r))).toBe(false);
    }
  });

  it("keeps class proportions in every fold when stratified", () => {
    for (const { test } of kFold(100, 5, { seed: 5, stratify: labels })) {
      expect([count(test, "a"), count(test, "b"), count(test, "c")]).toEqual([14, 4, 2]);
    }
  });

  it("is reproducible for a seed", () => {
    expect(kFold(40, 4, { seed: 11 })).toEqual(kFold(40, 4, { seed: 11 }));
  });

  it("rejects k < 2 and more folds than rows", () => {
    expect(() => kFold(10, 1, { seed: 0 })).toThrow(/k must be an integer ≥ 2/);
    expect(() => kFold(3, 4, { seed: 0 })).toThrow(/3 rows cannot fill 4 folds/);
  });
});

describe("createRng", () => {
  it("repeats its sequence for a seed and stays within [0, 1)", () => {
    const a = createRng(123);
    const b = createRng(123);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(createRng(124).next()).not.toBe(xs[0]);
  });

  it("draws normals with mean near 0 and variance near 1", () => {
    const rng = createRng(8);
    const xs = Array.from({ length: 20000 }, () => rng.normal());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});
