import { describe, expect, it } from "vitest";
import { fromRows, selectRows, toFloat32, toRows } from "../../../../steps/ml/matrix.ts";
import { exportPreprocess } from "../../../../steps/ml/onnx/export-preprocess.ts";
import { createSession, ort } from "../../../../steps/ml/onnx/model.ts";
import { encodeLabels, Imputer, MinMaxScaler, OneHotEncoder, Pipeline, StandardScaler } from "../../../../steps/ml/preprocess.ts";

const X = fromRows([
  [1, 10, NaN],
  [2, NaN, 5],
  [2, 30, 5],
  [NaN, 40, 7],
  [9, 40, 8],
]);

describe("Imputer", () => {
  it("fills NaN with the column mean, median, most frequent value or a constant", () => {
    expect(Imputer.fit(X, { strategy: "mean" }).statistics).toEqual([3.5, 30, 6.25]);
    expect(Imputer.fit(X, { strategy: "median" }).statistics).toEqual([2, 35, 6]);
    expect(Imputer.fit(X, { strategy: "most_frequent" }).statistics).toEqual([2, 40, 5]);
    expect(Imputer.fit(X, { strategy: "constant", fillValue: -1 }).statistics).toEqual([-1, -1, -1]);
    const filled = Imputer.transform(Imputer.fit(X, { strategy: "median" }), X);
    expect(toRows(filled)[0]).toEqual([1, 10, 6]);
    expect(toRows(filled)[3]).toEqual([2, 40, 7]);
  });

  it("learns its statistics from the rows it is fitted on only", () => {
    const params = Imputer.fit(selectRows(X, [0, 1]), { strategy: "mean" });
    expect(params.statistics).toEqual([1.5, 10, 5]);
    expect(Array.from(Imputer.transform(params, X).data).some(Number.isNaN)).toBe(false);
  });

  it("breaks most_frequent ties toward the smallest value and falls back to 0 for an all-missing column", () => {
    expect(Imputer.fit(fromRows([[3], [1], [3], [1]]), { strategy: "most_frequent" }).statistics).toEqual([1]);
    expect(Imputer.fit(fromRows([[NaN], [NaN]]), { strategy: "mean" }).statistics).toEqual([0]);
  });

  it("requires a fill value for the constant strategy and the fitted column count at transform", () => {
    expect(() => Imputer.fit(X, { strategy: "constant" })).toThrow(/needs a finite fillValue/);
    expect(() => Imputer.transform(Imputer.fit(X, { strategy: "mean" }), fromRows([[1, 2]]))).toThrow(/input has 2 columns, the params were fitted on 3/);
  });
});

describe("scalers", () => {
  const Y = fromRows([[1, 5], [3, 5], [5, 5]]);
  it("standardises to mean 0 and population std 1, keeping a constant column at scale 1", () => {
    const params = StandardScaler.fit(Y);
    expect(params.offset).toEqual([3, 5]);
    expect(params.scale[0]).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(params.scale[1]).toBe(1);
    const Z = StandardScaler.transform(params, Y);
    expect(toRows(Z).map((r) => r[1])).toEqual([0, 0, 0]);
    expect(Z.data[0]! + Z.data[2]! + Z.data[4]!).toBeCloseTo(0, 12);
  });

  it("maps the training range onto [0, 1]", () => {
    const params = MinMaxScaler.fit(Y);
    expect(toRows(MinMaxScaler.transform(params, Y))).toEqual([[0, 0], [0.5, 0], [1, 0]]);
    expect(toRows(MinMaxScaler.transform(params, fromRows([[7, 6]])))).toEqual([[1.5, 1]]);
  });

  it("refuses to fit on missing values", () => {
    expect(() => StandardScaler.fit(X)).toThrow(/column 0 contains NaN. Impute missing values before scaling/);
  });
});

describe("OneHotEncoder", () => {
  it("encodes sorted training categories and turns an unknown category into all zeros", () => {
    const params = OneHotEncoder.fit([["red", "blue", "red"], ["s", "m", "l"]]);
    expect(params.categories).toEqual([["blue", "red"], ["l", "m", "s"]]);
    expect(toRows(OneHotEncoder.transform(params, [["red", "green"], ["m", "l"]]))).toEqual([
      [0, 1, 0, 1, 0],
      [0, 0, 1, 0, 0],
    ]);
  });
});

describe("Pipeline", () => {
  const input = { numeric: X, categorical: [["a", "b", "a", "c", "b"]] };

  it("imputes then scales the numeric block and appends the one-hot block", () => {
    const params = Pipeline.fit(input);
    const out = Pipeline.transform(params, input);
    expect(out.cols).toBe(6);
    const filled = Imputer.transform(params.imputer!, X);
    const scaled = StandardScaler.transform(StandardScaler.fit(filled), filled);
    expect(toRows(out).map((r) => r.slice(0, 3))).toEqual(toRows(scaled));
    expect(toRows(out).map((r) => r.slice(3))).toEqual([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]]);
  });

  it("keeps its fitted params as plain JSON that transforms identically after a round trip", () => {
    const params = Pipeline.fit(input, { impute: { strategy: "median" }, scale: "minmax" });
    const copy = JSON.parse(JSON.stringify(params)) as typeof params;
    expect(copy).toEqual(params);
    expect(Pipeline.transform(copy, input)).toEqual(Pipeline.transform(params, input));
  });

  it("says so when categorical columns were fitted but are not given", () => {
    expect(() => Pipeline.transform(Pipeline.fit(input), { numeric: X })).toThrow(/fitted with 1 categorical columns but none were given/);
  });

  it("exports to ONNX as raw float and string inputs whose features match the TypeScript transform within 1e-5", async () => {
    const params = Pipeline.fit(input);
    const raw = fromRows([[NaN, 20, 6], [5, NaN, NaN], [1, 10, 5]]);
    const cats = [["b", "zzz", "a"]];
    const session = await createSession(exportPreprocess(params));
    const out = await session.run({
      input: new ort.Tensor("float32", toFloat32(raw), [3, 3]),
      categorical: new ort.Tensor("string", cats[0]!, [3, 1]),
    });
    const expected = Pipeline.transform(params, { numeric: raw, categorical: cats });
    expect(out.features!.dims).toEqual([3, 6]);
    const got = out.features!.data as Float32Array;
    expected.data.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-5));
    expect(Array.from(got.slice(9, 12))).toEqual([0, 0, 0]);
  });
});

describe("encodeLabels", () => {
  it("maps labels to indices of the sorted classes and rejects unknown labels", () => {
    const { classes, y } = encodeLabels(["setosa", "virginica", "setosa", "versicolor"]);
    expect(classes).toEqual(["setosa", "versicolor", "virginica"]);
    expect(Array.from(y)).toEqual([0, 2, 0, 1]);
    expect(() => encodeLabels(["x"], ["a", "b"])).toThrow(/label "x", which is not one of the classes \[a, b\]/);
  });
});
