import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as csvParse } from "csv-parse/sync";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { column, createTable, encodeTable, parseCsv, readCsv, tableToRows, writeCsv, type ColumnType, type Table } from "../../../src/artifacts/index.ts";
import { scanNumber } from "../../../src/artifacts/csv-number.ts";
import { thrown } from "../../helpers/errors.ts";

const DATA = fileURLToPath(new URL("../../../data/ml/", import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-csv-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const types = (t: Table): Record<string, ColumnType> => Object.fromEntries(t.columns.map((c) => [c.name, c.type]));

describe("parseCsv type inference", () => {
  it("infers int32, float64, bool and string per column", () => {
    const t = parseCsv("i,f,b,s,mixed,big\n1,1.5,true,a,1,2147483648\n-2,2,False,b,x,3\n", "t.csv");
    expect(types(t)).toEqual({ i: "int32", f: "float64", b: "bool", s: "string", mixed: "string", big: "float64" });
    expect(tableToRows(t)).toEqual([
      { i: 1, f: 1.5, b: true, s: "a", mixed: "1", big: 2147483648 },
      { i: -2, f: 2, b: false, s: "b", mixed: "x", big: 3 },
    ]);
  });

  it("reads a number written with a decimal point or exponent as float64", () => {
    const t = parseCsv("a,b,c\n101.0,1e3,.5\n7,2E-2,-0.25\n", "t.csv");
    expect(types(t)).toEqual({ a: "float64", b: "float64", c: "float64" });
    expect(tableToRows(t)[1]).toEqual({ a: 7, b: 0.02, c: -0.25 });
  });

  it("treats the default null tokens as nulls, but a quoted token as text", () => {
    const t = parseCsv('x,s\n1,"NA"\nNA,NA\n,null\nNaN,""\n4,ok\n', "t.csv");
    expect(types(t)).toEqual({ x: "int32", s: "string" });
    expect(tableToRows(t).map((r) => [r["x"], r["s"]])).toEqual([
      [1, "NA"],
      [null, null],
      [null, null],
      [null, ""],
      [4, "ok"],
    ]);
  });

  it("uses the null tokens given, including one that reads as a number", () => {
    const t = parseCsv("x\n-999\n2\nNA\n", "t.csv", { nullValues: ["-999"] });
    expect(types(t)).toEqual({ x: "string" });
    const u = parseCsv("x\n-999\n2\n3\n", "t.csv", { nullValues: ["-999"] });
    expect(types(u)).toEqual({ x: "int32" });
    expect(tableToRows(u).map((r) => r["x"])).toEqual([null, 2, 3]);
  });

  it("calls a column with no values a string column", () => {
    expect(types(parseCsv("a,b\n,1\n", "t.csv"))).toEqual({ a: "string", b: "int32" });
    expect(types(parseCsv("a,b\n", "t.csv"))).toEqual({ a: "string", b: "string" });
  });

  it("reads quoted fields with delimiters, doubled quotes and line breaks, CRLF, a BOM and another delimiter", () => {
    const t = parseCsv('\uFEFFid;text\r\n1;"a;b"\r\n2;"say ""hi"""\r\n3;"two\r\nlines"\r\n', "t.csv", { delimiter: ";" });
    expect(tableToRows(t)).toEqual([
      { id: 1, text: "a;b" },
      { id: 2, text: 'say "hi"' },
      { id: 3, text: "two\r\nlines" },
    ]);
  });

  it("skips blank lines, except in a one-column file where a blank line is a null", () => {
    expect(parseCsv("a,b\n1,2\n\n3,4\n\n", "t.csv").numRows).toBe(2);
    const one = parseCsv("a\n1\n\n3\n\n", "t.csv");
    expect(tableToRows(one).map((r) => r["a"])).toEqual([1, null, 3]);
  });

  it("honours declared types: int64 as bigint, bool from 0/1, string kept as written", () => {
    const t = parseCsv("id,flag,code\n9007199254740993,1,007\n-5,false,010\n", "t.csv", { types: { id: "int64", flag: "bool", code: "string" } });
    expect(tableToRows(t)).toEqual([
      { id: 9007199254740993n, flag: true, code: "007" },
      { id: -5n, flag: false, code: "010" },
    ]);
  });

  it("parses numbers exactly as Number() does", () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const texts = ["0", "-0", "+3", "007", "1.", ".5", "1e308", "1e-320", "123456789012345678", "0.1000000000000000055511151231257827", " 4.5 ", "Infinity", "-inf", "nan"];
    for (let i = 0; i < 2000; i++) texts.push((rnd() * 10 ** Math.floor(rnd() * 30 - 15)).toPrecision(1 + Math.floor(rnd() * 17)), String(rnd() * 1e6 - 5e5));
    const scan = { value: 0, int: false };
    for (const s of texts) {
      expect(scanNumber(s, 0, s.length, scan), s).toBe(true);
      const expected = /^[+-]?inf/i.test(s.trim()) ? (s.trim().startsWith("-") ? -Infinity : Infinity) : Number(s);
      expect(Object.is(scan.value, expected) || (Number.isNaN(scan.value) && Number.isNaN(expected)), s).toBe(true);
    }
    for (const s of ["", " ", "1e", "e5", "0x10", "1..2", "--1", "1 2", "1e5.5", "١"]) expect(scanNumber(s, 0, s.length, scan), s).toBe(false);
  });

  it("agrees with csv-parse on the text of every field of a file with quotes", () => {
    const text = 'a,b,c\n"x, y",2,"he said ""no"""\n,,\n"multi\nline",5,plain\n';
    const ours = parseCsv(text, "t.csv", { types: { a: "string", b: "string", c: "string" }, nullValues: [] });
    const theirs = csvParse(text) as string[][];
    expect(tableToRows(ours).map((r) => Object.values(r))).toEqual(theirs.slice(1));
  });
});

describe("parseCsv errors name the file, row and column, and say the fix", () => {
  it("reports a row with too few fields", () => {
    const err = thrown(() => parseCsv("a,b,c\n1,2,3\n4,5\n", "data/x.csv"));
    expect(err.code).toBe("SLUICE_DATA_INVALID");
    expect(err.message).toBe('data/x.csv, row 3, column "c": 2 fields but the header has 3; the row ends before this column. Add the missing fields (leave a field empty for a null), or fix a quote that swallows a delimiter.');
    expect(err.details).toMatchObject({ source: "data/x.csv", row: 3, column: "c", expected: 3, found: 2 });
  });

  it("reports a row with too many fields, counting the lines of a quoted line break", () => {
    const err = thrown(() => parseCsv('a,b\n"x\ny",1\n1,2,3\n', "x.csv"));
    expect(err.message).toBe("x.csv, row 4: 3 fields but the header has 2. Remove the extra fields, or quote a value that contains the delimiter.");
  });

  it("reports text in a column declared numeric", () => {
    const err = thrown(() => parseCsv("x,y\n1,2\n3,abc\n", "x.csv", { types: { y: "float64" } }));
    expect(err.message).toBe('x.csv, row 3, column "y": "abc" is not a number, but the column is declared float64. Fix the value, leave the field empty for a null, or declare column "y" as "string" in `types`.');
    const big = thrown(() => parseCsv("n\n1\n3000000000\n", "x.csv", { types: { n: "int32" } }));
    expect(big.message).toContain('x.csv, row 3, column "n": "3000000000" is not an integer between -2147483648 and 2147483647');
  });

  it("reports an empty file and a file of blank lines as having no header", () => {
    for (const text of ["", "\n\n"]) {
      expect(thrown(() => parseCsv(text, "empty.csv")).message).toBe("empty.csv, row 1: the file is empty: no header row. Start the file with a header row naming each column, e.g. `x,y,label`.");
    }
  });

  it("reports an empty or duplicate header name", () => {
    expect(thrown(() => parseCsv("a,,c\n1,2,3\n", "h.csv")).message).toContain("h.csv, row 1: header field 2 is empty");
    expect(thrown(() => parseCsv("a,b,a\n1,2,3\n", "h.csv")).message).toContain('h.csv, row 1, column "a": the header names this column twice (fields 1 and 3)');
  });

  it("reports an unclosed quote and text after a closing quote", () => {
    expect(thrown(() => parseCsv('a,b\n1,"open\n2,3\n', "q.csv")).message).toContain('q.csv, row 2, column "b": a quoted field has no closing quote');
    expect(thrown(() => parseCsv('a,b\n1,"x"y\n', "q.csv")).message).toContain('q.csv, row 2, column "b": text follows the closing quote of field 2');
  });

  it("reports a declared type for a column the header does not have", () => {
    expect(thrown(() => parseCsv("a\n1\n", "t.csv", { types: { b: "int32" } })).message).toContain('t.csv, row 1, column "b": `types` declares a column the header does not have; the header has "a"');
  });

  it("reports bytes that are not UTF-8", () => {
    expect(thrown(() => parseCsv(new Uint8Array([0x61, 0x0a, 0xff, 0x0a]), "bin.csv")).message).toBe("bin.csv: the file is not valid UTF-8. Re-save it as UTF-8.");
  });
});

describe("readCsv and writeCsv", () => {
  it("reads a file from disk, naming the path in errors", async () => {
    const path = join(dir, "bad.csv");
    writeFileSync(path, "a,b\n1,2\n3\n");
    await expect(readCsv(path)).rejects.toThrow(`${path}, row 3, column "b"`);
  });

  it("throws SLUICE_INPUT_MISSING for a missing file", async () => {
    const path = join(dir, "nope.csv");
    await expect(readCsv(path)).rejects.toMatchObject({ code: "SLUICE_INPUT_MISSING", details: { path } });
  });

  it("round-trips read → write → read, nulls and awkward text included", async () => {
    const t = createTable([
      { name: "f", type: "float64", values: new Float64Array([0.1, -0, 1e-300, Infinity, 0]), nulls: new Uint8Array([0, 0, 0, 0, 1]) },
      { name: "i", type: "int32", values: new Int32Array([1, -2, 3, 4, 5]) },
      { name: "l", type: "int64", values: new BigInt64Array([2n ** 62n, 0n, -1n, 0n, 3n]), nulls: new Uint8Array([0, 1, 0, 0, 0]) },
      { name: "b", type: "bool", values: new Uint8Array([1, 0, 0, 1, 0]) },
      { name: "s, \"quoted\"", type: "string", values: ["NA", "", " pad ", "a,b", 'line\n"two"'], nulls: new Uint8Array([0, 0, 0, 0, 0]) },
    ]);
    const path = join(dir, "t.csv");
    writeFileSync(path, writeCsv(t));
    const back = await readCsv(path, { types: types(t) });
    expect(Buffer.compare(encodeTable(back), encodeTable(t))).toBe(0);
    expect(writeCsv(back)).toBe(writeCsv(t));
  });

  it("writes nulls as empty fields and a one-column null as a blank line that reads back as null", () => {
    const t = createTable([{ name: "a", type: "int32", values: new Int32Array([1, 0, 3]), nulls: new Uint8Array([0, 1, 0]) }]);
    expect(writeCsv(t)).toBe("a\n1\n\n3\n");
    expect(tableToRows(parseCsv(writeCsv(t), "t.csv"))).toEqual(tableToRows(t));
  });
});

describe("the datasets in data/ml", () => {
  it("iris: 150 rows, 4 float64 features and a string species", async () => {
    const t = await readCsv(join(DATA, "iris.csv"));
    expect(t.numRows).toBe(150);
    expect(types(t)).toEqual({ sepal_length: "float64", sepal_width: "float64", petal_length: "float64", petal_width: "float64", species: "string" });
    expect(new Set(column(t, "species").values as string[])).toEqual(new Set(["setosa", "versicolor", "virginica"]));
    expect(t.columns.every((c) => c.nulls === undefined)).toBe(true);
  });

  it("breast_cancer: 569 rows, 30 float64 features and a string diagnosis", async () => {
    const t = await readCsv(join(DATA, "breast_cancer.csv"));
    expect(t.numRows).toBe(569);
    expect(t.columns).toHaveLength(31);
    expect(t.columns.slice(0, 30).every((c) => c.type === "float64")).toBe(true);
    expect(column(t, "diagnosis").type).toBe("string");
    expect(column(t, "mean_radius").values[0]).toBe(17.99);
  });

  it("diabetes: 442 rows, 11 numeric columns", async () => {
    const t = await readCsv(join(DATA, "diabetes.csv"));
    expect(t.numRows).toBe(442);
    expect(t.columns).toHaveLength(11);
    expect(t.columns.every((c) => c.type === "int32" || c.type === "float64")).toBe(true);
    expect(column(t, "progression").type).toBe("float64");
    expect(column(t, "age").type).toBe("int32");
  });
});
