import { Dictionary, Int32 as ArrowInt32, makeTable, Table as ArrowTable, tableFromIPC, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import { describe, expect, it } from "vitest";
import { createTable, decodeTable, encodeTable, tableToRows, type Table } from "../../../src/artifacts/index.ts";
import { SluiceError } from "../../../src/errors.ts";

function withNulls(): Table {
  return createTable([
    { name: "f", type: "float64", values: new Float64Array([1.5, 0, -0, NaN, Infinity]), nulls: new Uint8Array([0, 1, 0, 0, 0]) },
    { name: "i", type: "int32", values: new Int32Array([-2147483648, 0, 7, 2147483647, 0]), nulls: new Uint8Array([0, 0, 0, 0, 1]) },
    { name: "l", type: "int64", values: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, 5n, 9007199254740993n]), nulls: new Uint8Array([0, 0, 1, 0, 0]) },
    { name: "b", type: "bool", values: new Uint8Array([1, 0, 1, 0, 1]), nulls: new Uint8Array([1, 0, 0, 0, 0]) },
    { name: "s", type: "string", values: ["é日本", "", "", "a,b\n\"c\"", "x"], nulls: new Uint8Array([0, 0, 1, 0, 0]) },
  ]);
}

describe("encodeTable / decodeTable", () => {
  it("round-trips every column type with nulls", () => {
    const t = withNulls();
    const back = decodeTable(encodeTable(t));
    expect(back.numRows).toBe(5);
    expect(back.columns.map((c) => [c.name, c.type])).toEqual(t.columns.map((c) => [c.name, c.type]));
    expect(tableToRows(back)).toEqual(tableToRows(t));
    expect(Object.is(back.columns[0]!.values[2], -0)).toBe(true);
    expect(back.columns[1]!.nulls).toEqual(new Uint8Array([0, 0, 0, 0, 1]));
  });

  it("gives identical bytes for the same table, every time", () => {
    const a = encodeTable(withNulls());
    const b = encodeTable(withNulls());
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(encodeTable(decodeTable(a)), a)).toBe(0);
  });

  it("gives identical bytes whatever sits under a null and whether an empty bitmap is given", () => {
    const a = createTable([{ name: "v", type: "float64", values: new Float64Array([1, 111, 3]), nulls: new Uint8Array([0, 1, 0]) }]);
    const b = createTable([{ name: "v", type: "float64", values: new Float64Array([1, 222, 3]), nulls: new Uint8Array([0, 1, 0]) }]);
    expect(Buffer.compare(encodeTable(a), encodeTable(b))).toBe(0);
    const c = createTable([{ name: "s", type: "string", values: ["a", "b"], nulls: new Uint8Array(2) }]);
    const d = createTable([{ name: "s", type: "string", values: ["a", "b"] }]);
    expect(Buffer.compare(encodeTable(c), encodeTable(d))).toBe(0);
  });

  it("writes the Arrow IPC file format that apache-arrow reads", () => {
    const bytes = encodeTable(withNulls());
    expect(Buffer.from(bytes.subarray(0, 6)).toString("latin1")).toBe("ARROW1");
    const arrow = tableFromIPC(bytes);
    expect(arrow.numRows).toBe(5);
    expect(arrow.getChild("s")!.get(0)).toBe("é日本");
  });

  it("round-trips a table with zero rows and one with no columns", () => {
    const empty = createTable([{ name: "a", type: "int32", values: new Int32Array(0) }]);
    const back = decodeTable(encodeTable(empty));
    expect(back.numRows).toBe(0);
    expect(back.columns.map((c) => c.type)).toEqual(["int32"]);
    expect(decodeTable(encodeTable(createTable([]))).columns).toEqual([]);
  });

  it("converts narrower Arrow types (float32, int16, dictionary strings) to table types", () => {
    const numbers = makeTable({ f: new Float32Array([1.5, 2]), s: new Int16Array([-3, 4]), f32: new Float32Array([0.5, 1]) });
    const dict = vectorFromArray(["x", "y"], new Dictionary(new Utf8(), new ArrowInt32()));
    const bytes = tableToIPC(numbers.assign(new ArrowTable({ d: dict })), "stream");
    const t = decodeTable(bytes);
    expect(t.columns.map((c) => [c.name, c.type])).toEqual([
      ["f", "float64"],
      ["s", "int32"],
      ["f32", "float64"],
      ["d", "string"],
    ]);
    expect(tableToRows(t)).toEqual([
      { f: 1.5, s: -3, f32: 0.5, d: "x" },
      { f: 2, s: 4, f32: 1, d: "y" },
    ]);
  });

  it("refuses bytes that are not Arrow IPC with a data error naming the source", () => {
    try {
      decodeTable(new Uint8Array([1, 2, 3, 4]), "cache object sha256:abc");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SluiceError);
      expect((err as SluiceError).code).toBe("SLUICE_DATA_INVALID");
      expect((err as SluiceError).message).toMatch(/^cache object sha256:abc: not readable as Arrow IPC/);
    }
  });
});
