import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { column, createTable, type Table } from "sluice";
import { filterRows, fitPreprocess, readTable, selectColumns, split } from "../../../../steps/ml/steps/index.ts";
import { cleanUp, dataPath, readData, runStep, tempDir } from "./harness.ts";

afterAll(cleanUp);

/** Writes a CSV into a temp folder and returns its path. */
function csv(name: string, text: string): string {
  const p = path.join(tempDir(), name);
  fs.writeFileSync(p, text);
  return p;
}

const labels = (t: Table, name: string): string[] => column(t, name).values as string[];
const share = (values: string[], v: string): number => values.filter((x) => x === v).length / values.length;

describe("read-table", () => {
  it("reads a CSV with typed columns", async () => {
    const { outputs } = await runStep(readTable, { file: dataPath("iris.csv") }, { textColumns: ["species"] });
    const t = outputs.table as Table;
    expect(t.numRows).toBe(150);
    expect(t.columns.map((c) => c.type)).toEqual(["float64", "float64", "float64", "float64", "string"]);
  });

  it("rejects a ragged row naming the file, the row and the column", async () => {
    const file = csv("ragged.csv", "a,b,label\n1,2,x\n3,4,y\n5,z\n");
    await expect(runStep(readTable, { file })).rejects.toMatchObject({ code: "SLUICE_DATA_INVALID", message: expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, row 4, column "label": 2 fields? but the header has 3`)) });
  });

  it("rejects text in a numeric column naming the file, the row and the column", async () => {
    const file = csv("text.csv", "a,b,label\n1,2,x\n3,oops,y\n5,6,x\n");
    const err = await runStep(readTable, { file }, { textColumns: ["label"] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "SLUICE_DATA_INVALID", details: { row: 3, column: "b" } });
    expect((err as Error).message).toContain(`${file}, row 3, column "b": "oops" is not a number`);
  });
});

describe("select-columns and filter-rows", () => {
  it("keeps or drops the named columns", async () => {
    const table = await readData("iris.csv");
    const kept = (await runStep(selectColumns, { table }, { columns: ["species", "petal_width"] })).outputs.table as Table;
    expect(kept.columns.map((c) => c.name)).toEqual(["species", "petal_width"]);
    const dropped = (await runStep(selectColumns, { table }, { columns: ["species"], drop: true })).outputs.table as Table;
    expect(dropped.columns.map((c) => c.name)).toEqual(["sepal_length", "sepal_width", "petal_length", "petal_width"]);
  });

  it("keeps the rows matching every condition, nulls failing comparisons", async () => {
    const table = createTable([
      { name: "x", type: "float64", values: Float64Array.from([1, 2, 3, 4]), nulls: Uint8Array.from([0, 0, 1, 0]) },
      { name: "k", type: "string", values: ["a", "b", "a", "a"] },
    ]);
    const out = (await runStep(filterRows, { table }, { where: [{ column: "x", op: ">=", value: 1 }, { column: "k", op: "in", value: ["a"] }] })).outputs.table as Table;
    expect(Array.from(column(out, "x").values as Float64Array)).toEqual([1, 4]);
    const nulls = (await runStep(filterRows, { table }, { where: [{ column: "x", op: "isNull" }] })).outputs.table as Table;
    expect(nulls.numRows).toBe(1);
    await expect(runStep(filterRows, { table }, { where: [{ column: "k", op: "<", value: 1 }] })).rejects.toThrow(/compares numbers, but column "k" is string/);
  });
});

describe("split", () => {
  it("splits 80/20 with every class keeping its share, the same for the same seed", async () => {
    const table = await readData("breast_cancer.csv");
    const a = (await runStep(split, { table }, { label: "diagnosis", seed: 42 })).outputs;
    const b = (await runStep(split, { table }, { label: "diagnosis", seed: 42 })).outputs;
    const c = (await runStep(split, { table }, { label: "diagnosis", seed: 7 })).outputs;
    expect([a.train.numRows, a.test.numRows]).toEqual([455, 114]);
    const all = labels(table, "diagnosis");
    for (const part of [a.train, a.test]) expect(Math.abs(share(labels(part, "diagnosis"), "malignant") - share(all, "malignant"))).toBeLessThan(0.01);
    expect(column(b.test, "mean_radius").values).toEqual(column(a.test, "mean_radius").values);
    expect(column(c.test, "mean_radius").values).not.toEqual(column(a.test, "mean_radius").values);
  });

  it("rejects a label with a single class, naming the column", async () => {
    const table = createTable([{ name: "x", type: "float64", values: Float64Array.from([1, 2, 3, 4]) }, { name: "y", type: "string", values: ["a", "a", "a", "a"] }]);
    await expect(runStep(split, { table }, { label: "y" })).rejects.toMatchObject({ code: "SLUICE_DATA_INVALID", message: expect.stringContaining('column "y": the label has a single class ("a" in all 4 rows)') });
  });

  it("splits a regression target without stratifying", async () => {
    const table = await readData("diabetes.csv");
    const { outputs } = await runStep(split, { table }, { label: "progression", stratify: false });
    expect([outputs.train.numRows, outputs.test.numRows]).toEqual([354, 88]);
  });
});

describe("fit-preprocess", () => {
  it("fits on the training table only: the scaler's offsets are the training means", async () => {
    const table = await readData("iris.csv");
    const { train } = (await runStep(split, { table }, { label: "species" })).outputs;
    const spec = (await runStep(fitPreprocess, { train }, { label: "species", task: "classification" })).outputs.params;
    const trainMean = (column(train, "sepal_length").values as Float64Array).reduce((a, v) => a + v, 0) / train.numRows;
    const allMean = (column(table, "sepal_length").values as Float64Array).reduce((a, v) => a + v, 0) / table.numRows;
    expect(spec.pipeline.scaler.offset[0]).toBeCloseTo(trainMean, 12);
    expect(trainMean).not.toBeCloseTo(allMean, 6);
    expect(spec).toMatchObject({ task: "classification", label: "species", numeric: ["sepal_length", "sepal_width", "petal_length", "petal_width"], classes: ["setosa", "versicolor", "virginica"] });
  });

  it("rejects an all-null column at fit time, naming it", async () => {
    const file = csv("empty-col.csv", "a,empty,label\n1,,x\n2,,y\n3,,x\n");
    const train = (await runStep(readTable, { file }, { textColumns: ["label"] })).outputs.table;
    await expect(runStep(fitPreprocess, { train }, { label: "label", task: "classification" })).rejects.toMatchObject({
      code: "SLUICE_DATA_INVALID",
      details: { column: "empty" },
      message: expect.stringContaining('column "empty": has no value in any of the 3 training rows (all null)'),
    });
  });

  it("rejects a text feature column that is not declared categorical, naming row and column", async () => {
    const train = createTable([{ name: "a", type: "string", values: ["1", "2", "x"] }, { name: "y", type: "float64", values: Float64Array.from([1, 2, 3]) }]);
    await expect(runStep(fitPreprocess, { train }, { label: "y", task: "regression" })).rejects.toThrow(/row 3, column "a": is text \("x"\) but the feature is numeric/);
  });

  it("rejects a classification label with a single class in the training rows", async () => {
    const train = createTable([{ name: "a", type: "float64", values: Float64Array.from([1, 2]) }, { name: "y", type: "string", values: ["k", "k"] }]);
    await expect(runStep(fitPreprocess, { train }, { label: "y", task: "classification" })).rejects.toThrow(/column "y": the label has a single class \("k"\); a classifier needs at least 2/);
  });
});
