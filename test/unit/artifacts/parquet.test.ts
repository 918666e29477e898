import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTable, encodeTable, parseParquet, readParquet, tableToRows, writeParquet } from "../../../src/artifacts/index.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-parquet-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("writeParquet / readParquet", () => {
  it("round-trips every column type with nulls, int64 as BigInt beyond 2^53", async () => {
    const t = createTable([
      { name: "f", type: "float64", values: new Float64Array([1.5, 0, -2.25]), nulls: new Uint8Array([0, 1, 0]) },
      { name: "i", type: "int32", values: new Int32Array([-2147483648, 2147483647, 0]), nulls: new Uint8Array([0, 0, 1]) },
      { name: "l", type: "int64", values: new BigInt64Array([9007199254740993n, 0n, -(2n ** 63n)]), nulls: new Uint8Array([0, 1, 0]) },
      { name: "b", type: "bool", values: new Uint8Array([1, 0, 0]), nulls: new Uint8Array([1, 0, 0]) },
      { name: "s", type: "string", values: ["é日本", "", ""], nulls: new Uint8Array([0, 0, 1]) },
    ]);
    const path = join(dir, "t.parquet");
    writeFileSync(path, await writeParquet(t));
    const back = await readParquet(path);
    expect(back.columns.map((c) => c.type)).toEqual(["float64", "int32", "int64", "bool", "string"]);
    expect(back.columns[2]!.values[0]).toBe(9007199254740993n);
    expect(tableToRows(back)).toEqual(tableToRows(t));
    expect(Buffer.compare(encodeTable(back), encodeTable(t))).toBe(0);
  });

  it("round-trips more rows than one row group", async () => {
    const n = 2500;
    const t = createTable([{ name: "x", type: "float64", values: Float64Array.from({ length: n }, (_, i) => i / 7) }]);
    const back = await parseParquet(await writeParquet(t), "t.parquet");
    expect(back.numRows).toBe(n);
    expect(Buffer.compare(encodeTable(back), encodeTable(t))).toBe(0);
  });

  it("round-trips a table with zero rows", async () => {
    const t = createTable([{ name: "x", type: "int64", values: new BigInt64Array(0) }]);
    const back = await parseParquet(await writeParquet(t), "t.parquet");
    expect(back.numRows).toBe(0);
    expect(back.columns.map((c) => c.type)).toEqual(["int64"]);
  });

  it("names the file and column of a Parquet type with no table type", async () => {
    const bytes = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "when", data: [new Date(0)], type: "TIMESTAMP" }] }));
    await expect(parseParquet(bytes, "ts.parquet")).rejects.toThrow('ts.parquet, column "when": Parquet type INT64/TIMESTAMP_MILLIS has no table column type');
  });

  it("refuses bytes that are not Parquet, and a missing file with SLUICE_INPUT_MISSING", async () => {
    await expect(parseParquet(new Uint8Array([1, 2, 3]), "junk.parquet")).rejects.toMatchObject({ code: "SLUICE_DATA_INVALID", message: expect.stringMatching(/^junk\.parquet: not readable as Parquet/) });
    await expect(readParquet(join(dir, "nope.parquet"))).rejects.toMatchObject({ code: "SLUICE_INPUT_MISSING" });
  });
});
