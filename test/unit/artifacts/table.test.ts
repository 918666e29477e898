import { describe, expect, it } from "vitest";
import {
  column,
  createTable,
  dropColumns,
  filterRows,
  selectColumns,
  tableFromRows,
  tableToRows,
  takeRows,
  toFloat64Matrix,
  type Table,
} from "../../../src/artifacts/index.ts";
import { thrown } from "../../helpers/errors.ts";

function sample(): Table {
  return createTable([
    { name: "x", type: "float64", values: new Float64Array([1.5, 2.5, 3.5, 4.5]), nulls: new Uint8Array([0, 1, 0, 0]) },
    { name: "n", type: "int32", values: new Int32Array([1, 2, 3, 4]) },
    { name: "big", type: "int64", values: new BigInt64Array([1n, 2n, 9007199254740993n, -4n]) },
    { name: "ok", type: "bool", values: new Uint8Array([1, 0, 1, 0]) },
    { name: "label", type: "string", values: ["a", "b", "c", ""], nulls: new Uint8Array([0, 0, 0, 1]) },
  ]);
}

describe("createTable", () => {
  it("counts rows from the columns and drops an all-zero null bitmap", () => {
    const t = createTable([{ name: "a", type: "int32", values: new Int32Array([1, 2]), nulls: new Uint8Array(2) }]);
    expect(t.numRows).toBe(2);
    expect(t.columns[0]!.nulls).toBeUndefined();
  });

  it("refuses columns of different lengths, naming both columns", () => {
    const err = thrown(() =>
      createTable([
        { name: "a", type: "int32", values: new Int32Array(3) },
        { name: "b", type: "int32", values: new Int32Array(2) },
      ]),
    );
    expect(err.code).toBe("SLUICE_DATA_INVALID");
    expect(err.message).toContain('column "b"');
    expect(err.message).toContain('has 2 rows but column "a" has 3');
  });

  it("refuses a duplicate column name", () => {
    const err = thrown(() =>
      createTable([
        { name: "a", type: "int32", values: new Int32Array(1) },
        { name: "a", type: "float64", values: new Float64Array(1) },
      ]),
    );
    expect(err.message).toContain('column "a": the name is used by two columns');
  });

  it("refuses a values array that does not match the declared type", () => {
    const err = thrown(() => createTable([{ name: "a", type: "float64", values: new Int32Array(1) }]));
    expect(err.message).toContain("a float64 column needs its values in a Float64Array");
  });

  it("refuses a null bitmap of the wrong length", () => {
    const err = thrown(() => createTable([{ name: "a", type: "int32", values: new Int32Array(2), nulls: new Uint8Array(3) }]));
    expect(err.message).toContain("null bitmap must be a Uint8Array of 2 entries");
  });
});

describe("column access and selection", () => {
  it("names the missing column and lists the present ones", () => {
    const err = thrown(() => column(sample(), "y"));
    expect(err.code).toBe("SLUICE_DATA_INVALID");
    expect(err.message).toContain('column "y": no such column; the table has "x", "n", "big", "ok", "label"');
    expect(err.details["present"]).toEqual(["x", "n", "big", "ok", "label"]);
  });

  it("selects columns in the order asked and drops the named ones", () => {
    expect(selectColumns(sample(), ["label", "x"]).columns.map((c) => c.name)).toEqual(["label", "x"]);
    expect(dropColumns(sample(), ["big", "ok"]).columns.map((c) => c.name)).toEqual(["x", "n", "label"]);
    expect(() => dropColumns(sample(), ["nope"])).toThrow(/no such column/);
  });

  it("filters rows by mask or predicate and keeps each column's nulls aligned", () => {
    const byMask = filterRows(sample(), new Uint8Array([0, 1, 1, 1]));
    const byFn = filterRows(sample(), (r) => r > 0);
    for (const t of [byMask, byFn]) {
      expect(t.numRows).toBe(3);
      expect(tableToRows(t).map((r) => [r["x"], r["label"]])).toEqual([
        [null, "b"],
        [3.5, "c"],
        [4.5, null],
      ]);
    }
  });

  it("takes rows in the given order, repeats allowed, and refuses an index outside the table", () => {
    const t = takeRows(sample(), new Int32Array([3, 0, 0]));
    expect(tableToRows(t).map((r) => r["n"])).toEqual([4, 1, 1]);
    expect(t.columns.find((c) => c.name === "label")!.nulls).toEqual(new Uint8Array([1, 0, 0]));
    expect(() => takeRows(sample(), [4])).toThrow(/row index 4 \(at position 0\) is outside the table's 4 rows/);
  });
});

describe("toFloat64Matrix", () => {
  it("lays out the named columns row-major with nulls as NaN, int64 as numbers and bools as 0/1", () => {
    const m = toFloat64Matrix(sample(), ["x", "n", "ok"]);
    expect(m.rows).toBe(4);
    expect(m.cols).toBe(3);
    expect(Array.from(m.data)).toEqual([1.5, 1, 1, NaN, 2, 0, 3.5, 3, 1, 4.5, 4, 0]);
    expect(toFloat64Matrix(sample(), ["big"]).data[2]).toBe(9007199254740992);
  });

  it("refuses a string column, naming it", () => {
    const err = thrown(() => toFloat64Matrix(sample(), ["x", "label"]));
    expect(err.message).toContain('column "label": is a string column, not numeric');
  });
});

describe("rows", () => {
  it("round-trips a table through records, int64 as bigint and nulls as null", () => {
    const rows = tableToRows(sample());
    expect(rows[1]).toEqual({ x: null, n: 2, big: 2n, ok: false, label: "b" });
    const back = tableFromRows(rows, { big: "int64" });
    expect(back.columns.map((c) => c.type)).toEqual(["float64", "int32", "int64", "bool", "string"]);
    expect(tableToRows(back)).toEqual(rows);
  });

  it("infers int32 only when every number is an int32, and treats a missing key as null", () => {
    const t = tableFromRows([{ a: 1, b: 1 }, { a: 2.5 }, { a: 3, b: 2 ** 31 }]);
    expect(t.columns.map((c) => [c.name, c.type])).toEqual([
      ["a", "float64"],
      ["b", "float64"],
    ]);
    expect(t.columns[1]!.nulls).toEqual(new Uint8Array([0, 1, 0]));
  });

  it("refuses a column that mixes types, naming the row and column", () => {
    const err = thrown(() => tableFromRows([{ a: 1 }, { a: "two" }]));
    expect(err.message).toBe('rows, row 2, column "a": "two" is a string but the column held a number at row 1. Make every value of column "a" the same type, or pass `types` to say which one it is.');
  });

  it("refuses a value that does not fit the declared type", () => {
    const err = thrown(() => tableFromRows([{ a: 1 }, { a: 1.5 }], { a: "int32" }));
    expect(err.message).toContain('rows, row 2, column "a": 1.5 is not a valid int32 value');
  });
});
