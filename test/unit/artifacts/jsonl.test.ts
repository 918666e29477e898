import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseJsonl, readJsonl, tableToRows } from "../../../src/artifacts/index.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-jsonl-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("parseJsonl", () => {
  it("builds columns from the union of keys, a missing key or null being a null", () => {
    const t = parseJsonl('{"a":1,"s":"x"}\n\n{"a":2,"b":true}\n{"a":3.5,"s":null}\n', "t.jsonl");
    expect(t.columns.map((c) => [c.name, c.type])).toEqual([
      ["a", "float64"],
      ["s", "string"],
      ["b", "bool"],
    ]);
    expect(tableToRows(t)).toEqual([
      { a: 1, s: "x", b: null },
      { a: 2, s: null, b: true },
      { a: 3.5, s: null, b: null },
    ]);
  });

  it("honours declared types", () => {
    const t = parseJsonl('{"id":1}\n{"id":2}\n', "t.jsonl", { types: { id: "int64" } });
    expect(tableToRows(t)).toEqual([{ id: 1n }, { id: 2n }]);
  });

  it("names the file, line and column of a value of another type", () => {
    expect(() => parseJsonl('{"a":1}\n\n{"a":"two"}\n', "t.jsonl")).toThrow('t.jsonl, row 3, column "a": "two" is a string but the column held a number at row 1.');
  });

  it("names the file and line of a line that is not a JSON object", () => {
    expect(() => parseJsonl('{"a":1}\n{"a":\n', "t.jsonl")).toThrow(/^t\.jsonl, row 2: the line is not valid JSON/);
    expect(() => parseJsonl("[1,2]\n", "t.jsonl")).toThrow("t.jsonl, row 1: the line holds an array, not an object.");
  });

  it("refuses a nested value, naming the column", () => {
    expect(() => parseJsonl('{"a":{"b":1}}\n', "t.jsonl")).toThrow('t.jsonl, row 1, column "a": {"b":1} is not a number, bigint, boolean, string or null.');
  });
});

describe("readJsonl", () => {
  it("reads a file and refuses a missing one with SLUICE_INPUT_MISSING", async () => {
    const path = join(dir, "t.jsonl");
    writeFileSync(path, '{"a":1}\n{"a":2}\n');
    expect(tableToRows(await readJsonl(path))).toEqual([{ a: 1 }, { a: 2 }]);
    await expect(readJsonl(join(dir, "nope.jsonl"))).rejects.toMatchObject({ code: "SLUICE_INPUT_MISSING" });
  });
});
