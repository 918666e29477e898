import { describe, expect, it } from "vitest";
import type { KeyRecord } from "../../../src/hash/cache-key.ts";
import { diffJson, explainChanges, formatChange, type CodeFiles, type KeyChange } from "../../../src/hash/explain.ts";
import { sha256, type Digest } from "../../../src/util/canonical-json.ts";

const d = (s: string): Digest => sha256(s);

function record(over: Partial<KeyRecord> = {}): KeyRecord {
  return {
    format: 1,
    step: "count",
    code: d("code-1"),
    version: null,
    params: { top: 10, stopwords: ["the", "a"], model: { lr: 0.1, layers: 2 } },
    inputs: { tokens: d("tokens-1") },
    env: { API_URL: d("https://a"), TOKEN: null },
    ...over,
  };
}

const code1: CodeFiles = { files: { "steps/count.ts": d("count-1"), "steps/util.ts": d("util-1") }, packages: { "safe-stable-stringify": "3.0.0" } };

describe("diffJson", () => {
  it("returns nothing for equal values, whatever the key order", () => {
    expect(diffJson({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it("names nested changes by dotted path and array items by index", () => {
    expect(diffJson({ a: { b: 1, c: [1, 2, { d: "x" }] } }, { a: { b: 2, c: [1, 3, { d: "y" }] } })).toEqual([
      { path: "a.b", old: 1, new: 2 },
      { path: "a.c[1]", old: 2, new: 3 },
      { path: "a.c[2].d", old: "x", new: "y" },
    ]);
  });

  it("reports added and removed keys with undefined on the missing side, sorted by key", () => {
    expect(diffJson({ z: 1, a: 1 }, { a: 1, m: 2 })).toEqual([
      { path: "m", old: undefined, new: 2 },
      { path: "z", old: 1, new: undefined },
    ]);
  });

  it("reports an array whose length changed as one change of the whole array", () => {
    expect(diffJson({ tags: ["a"] }, { tags: ["a", "b"] })).toEqual([{ path: "tags", old: ["a"], new: ["a", "b"] }]);
  });

  it("reports a change of type at the path where it happens, and a top-level scalar at the empty path", () => {
    expect(diffJson({ a: { b: 1 } }, { a: [1] })).toEqual([{ path: "a", old: { b: 1 }, new: [1] }]);
    expect(diffJson(1, 2)).toEqual([{ path: "", old: 1, new: 2 }]);
  });

  it("prefixes every path with the given prefix", () => {
    expect(diffJson({ x: [0, 1] }, { x: [0, 2] }, "params")).toEqual([{ path: "params.x[1]", old: 1, new: 2 }]);
  });
});

describe("explainChanges", () => {
  it("finds no change between identical records", () => {
    expect(explainChanges({ record: record(), code: code1 }, { record: record(), code: code1 })).toEqual([]);
  });

  it("reports each changed component: version, code file, package, param, input digest and env", () => {
    const code2: CodeFiles = {
      files: { "steps/count.ts": d("count-2"), "steps/extra.ts": d("extra-1") },
      packages: { "safe-stable-stringify": "3.0.1" },
    };
    const cur = record({
      version: "2",
      code: d("code-2"),
      params: { top: 20, stopwords: ["the", "a"], model: { lr: 0.1, layers: 3 } },
      inputs: { tokens: d("tokens-2") },
      env: { API_URL: null, TOKEN: d("secret") },
    });
    const changes = explainChanges({ record: record(), code: code1 }, { record: cur, code: code2 });
    expect(changes).toEqual<KeyChange[]>([
      { component: "version", old: null, new: "2" },
      { component: "code", file: "steps/count.ts", old: d("count-1"), new: d("count-2") },
      { component: "code", file: "steps/extra.ts", old: null, new: d("extra-1") },
      { component: "code", file: "steps/util.ts", old: d("util-1"), new: null },
      { component: "package", name: "safe-stable-stringify", old: "3.0.0", new: "3.0.1" },
      { component: "param", path: "model.layers", old: 2, new: 3 },
      { component: "param", path: "top", old: 10, new: 20 },
      { component: "input", port: "tokens", old: d("tokens-1"), new: d("tokens-2") },
      { component: "env", name: "API_URL", old: d("https://a"), new: null },
      { component: "env", name: "TOKEN", old: null, new: d("secret") },
    ]);
  });

  it("reports a changed step name and cache format", () => {
    const changes = explainChanges({ record: record(), code: undefined }, { record: record({ step: "count2", format: 2 }), code: undefined });
    expect(changes).toEqual([
      { component: "format", old: 1, new: 2 },
      { component: "step", old: "count", new: "count2" },
    ]);
  });

  it("reports a new or dropped input port", () => {
    const changes = explainChanges({ record: record(), code: code1 }, { record: record({ inputs: { tokens: d("tokens-1"), extra: d("e") } }), code: code1 });
    expect(changes).toEqual([{ component: "input", port: "extra", old: null, new: d("e") }]);
  });

  it("falls back to the code digest when either side has no recorded manifest", () => {
    const changes = explainChanges({ record: record(), code: undefined }, { record: record({ code: d("code-2") }), code: code1 });
    expect(changes).toEqual([{ component: "code", file: "(code manifest not recorded)", old: d("code-1"), new: d("code-2") }]);
  });

  it("ignores manifest differences when the code digest is unchanged", () => {
    const other: CodeFiles = { files: {}, packages: {} };
    expect(explainChanges({ record: record(), code: code1 }, { record: record(), code: other })).toEqual([]);
  });
});

describe("formatChange", () => {
  const digestA = d("a");
  const digestB = d("b");

  it("describes code files as changed, added or no longer imported", () => {
    expect(formatChange({ component: "code", file: "steps/count.ts", old: digestA, new: digestB })).toBe("code steps/count.ts changed");
    expect(formatChange({ component: "code", file: "steps/new.ts", old: null, new: digestB })).toBe("code steps/new.ts added");
    expect(formatChange({ component: "code", file: "steps/old.ts", old: digestA, new: null })).toBe("code steps/old.ts no longer imported");
  });

  it("shows package versions old → new, with (none) for a missing side", () => {
    expect(formatChange({ component: "package", name: "p-queue", old: "9.3.4", new: "9.3.5" })).toBe("package p-queue 9.3.4 → 9.3.5");
    expect(formatChange({ component: "package", name: "ajv", old: null, new: "8.20.0" })).toBe("package ajv (none) → 8.20.0");
    expect(formatChange({ component: "package", name: "ajv", old: "8.20.0", new: null })).toBe("package ajv 8.20.0 → (none)");
  });

  it("shows params as JSON old → new, and (unset) for a missing side", () => {
    expect(formatChange({ component: "param", path: "top", old: 10, new: 20 })).toBe("param top: 10 → 20");
    expect(formatChange({ component: "param", path: "model.name", old: "a", new: "b" })).toBe('param model.name: "a" → "b"');
    expect(formatChange({ component: "param", path: "tags[1]", old: undefined, new: ["x"] })).toBe('param tags[1]: (unset) → ["x"]');
  });

  it("shortens input digests to their first 12 hex digits", () => {
    expect(formatChange({ component: "input", port: "tokens", old: digestA, new: digestB })).toBe(`input tokens: ${digestA.slice(7, 19)} → ${digestB.slice(7, 19)}`);
    expect(formatChange({ component: "input", port: "extra", old: null, new: digestB })).toMatch(new RegExp(`^input extra: .+ → ${digestB.slice(7, 19)}$`));
  });

  it("says an env var was set, unset or changed without showing its value", () => {
    expect(formatChange({ component: "env", name: "TOKEN", old: null, new: digestA })).toBe("env TOKEN set");
    expect(formatChange({ component: "env", name: "TOKEN", old: digestA, new: null })).toBe("env TOKEN unset");
    expect(formatChange({ component: "env", name: "TOKEN", old: digestA, new: digestB })).toBe("env TOKEN changed");
  });

  it("shows version, format and step old → new", () => {
    expect(formatChange({ component: "version", old: null, new: "2" })).toBe('version null → "2"');
    expect(formatChange({ component: "format", old: 1, new: 2 })).toBe("format 1 → 2");
    expect(formatChange({ component: "step", old: "count", new: "count2" })).toBe('step "count" → "count2"');
  });
});
