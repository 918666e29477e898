import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { column, dropColumns, type Table } from "sluice";
import { fitPreprocess, scoreBatch, split, trainLogistic } from "../../../../steps/ml/steps/index.ts";
import { cleanUp, readData, runStep } from "./harness.ts";

afterAll(cleanUp);

describe("score-batch", () => {
  let onnx: string;
  let test: Table;
  beforeAll(async () => {
    const table = await readData("iris.csv");
    const parts = (await runStep(split, { table }, { label: "species" })).outputs;
    test = parts.test;
    const spec = (await runStep(fitPreprocess, { train: parts.train }, { label: "species", task: "classification" })).outputs.params;
    onnx = (await runStep(trainLogistic, { train: parts.train, preprocess: spec })).outputs.onnx;
  });

  it("gives the same scores in parallel chunks as in one chunk, with the input columns, prediction and one probability per class", async () => {
    const one = (await runStep(scoreBatch, { model: onnx, table: test }, { chunkRows: 1000, parallelism: 1 })).outputs.scores as Table;
    const many = await runStep(scoreBatch, { model: onnx, table: test }, { chunkRows: 7, parallelism: 3 });
    const t = many.outputs.scores as Table;
    expect(t.columns.map((c) => c.name)).toEqual([...test.columns.map((c) => c.name), "prediction", "proba_setosa", "proba_versicolor", "proba_virginica"]);
    for (const c of t.columns) expect(c.values).toEqual(column(one, c.name).values);
    expect(many.logs.find((l) => l.msg === "scored")?.data).toEqual({ rows: 30, chunks: 5, threads: 3 });
    for (let i = 0; i < t.numRows; i++) {
      const sum = ["setosa", "versicolor", "virginica"].reduce((a, k) => a + (column(t, `proba_${k}`).values as Float64Array)[i]!, 0);
      expect(sum).toBeCloseTo(1, 5);
    }
    const bare = (await runStep(scoreBatch, { model: onnx, table: test }, { keepColumns: false })).outputs.scores as Table;
    expect(bare.columns.map((c) => c.name)).toEqual(["prediction", "proba_setosa", "proba_versicolor", "proba_virginica"]);
  });

  it("names a feature column missing at scoring time", async () => {
    const partial = dropColumns(test, ["petal_width"]);
    await expect(runStep(scoreBatch, { model: onnx, table: partial })).rejects.toMatchObject({
      code: "SLUICE_DATA_INVALID",
      details: { column: "petal_width" },
      message: expect.stringContaining('score-batch › input "table", column "petal_width": missing from the table; model "logistic" needs "sepal_length", "sepal_width", "petal_length", "petal_width"'),
    });
  });

  it("scores a table without the label column (new data)", async () => {
    const unlabeled = dropColumns(test, ["species"]);
    const t = (await runStep(scoreBatch, { model: onnx, table: unlabeled })).outputs.scores as Table;
    expect(column(t, "prediction").values).toHaveLength(30);
  });
});
