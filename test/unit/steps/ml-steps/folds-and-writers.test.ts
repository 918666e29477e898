import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { column, parseCsv, parseParquet, takeRows, type Table } from "sluice";
import { kFold, readTable, writeTable, type Fold } from "../../../../steps/ml/steps/index.ts";
import { cleanUp, dataPath, runStep } from "./harness.ts";

afterAll(cleanUp);

async function iris(): Promise<Table> {
  return (await runStep(readTable, { file: dataPath("iris.csv") }, { textColumns: ["species"] })).outputs.table as Table;
}

describe("k-fold", () => {
  it("covers every row once as validation, keeps class shares per fold, and is the same for a seed", async () => {
    const t = await iris();
    const folds = (await runStep(kFold, { table: t }, { k: 5, label: "species" })).outputs.folds as Fold[];
    expect(folds).toHaveLength(5);
    expect(folds.flatMap((f) => f.test).sort((a, b) => a - b)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    const species = column(t, "species").values as string[];
    for (const f of folds) {
      expect(f.train.length + f.test.length).toBe(150);
      expect(f.test.filter((i) => species[i] === "setosa")).toHaveLength(10);
    }
    const again = (await runStep(kFold, { table: t }, { k: 5, label: "species" })).outputs.folds;
    expect(again).toEqual(folds);
  });

  it("refuses more folds than rows", async () => {
    const three = takeRows(await iris(), [0, 1, 2]);
    await expect(runStep(kFold, { table: three }, { k: 5 })).rejects.toMatchObject({ code: "SLUICE_DATA_INVALID", message: expect.stringContaining("has 3 rows, fewer than k = 5 folds") });
  });
});

describe("write-table", () => {
  it("writes CSV and Parquet that read back to the same table", async () => {
    const t = await iris();
    const csv = (await runStep(writeTable, { table: t }, { format: "csv" })).outputs.file as { path: string };
    const fromCsv = parseCsv(fs.readFileSync(csv.path), "iris.csv");
    expect(fromCsv.numRows).toBe(150);
    expect(column(fromCsv, "species").values).toEqual(column(t, "species").values);
    const pq = (await runStep(writeTable, { table: t }, { format: "parquet" })).outputs.file as { path: string };
    const fromPq = await parseParquet(fs.readFileSync(pq.path), "iris.parquet");
    expect(Array.from(column(fromPq, "sepal_length").values as Float64Array)).toEqual(Array.from(column(t, "sepal_length").values as Float64Array));
  });
});
