import { describe, expect, it } from "vitest";
import { cacheKeyOf, keyRecord, CACHE_FORMAT } from "../../../src/hash/cache-key.ts";
import { digestJson, sha256, type Digest } from "../../../src/util/canonical-json.ts";

const code = sha256("code") as Digest;

describe("cache keys", () => {
  it("hash exactly the canonical JSON of the key record, whatever the field values", () => {
    const records = [
      keyRecord({ step: "s", code, version: undefined, params: { b: 1, a: [1, { z: 2, y: null }], u: undefined }, inputs: { x: sha256("x") }, env: ["B", "A"], envValues: { A: "1" } }),
      keyRecord({ step: 'quote"and\\slash', code, version: "2", params: {}, inputs: {}, env: [], envValues: {} }),
      keyRecord({ step: "é", code, version: "v", params: { n: -0, big: 1e21, s: "\u2028" }, inputs: { a: sha256("a"), b: sha256("b") }, env: ["X"], envValues: {} }),
    ];
    for (const r of records) expect(cacheKeyOf(r)).toBe(digestJson(r));
  });

  it("changes with every component and ignores key order of params and env values", () => {
    const base = { step: "s", code, version: undefined, params: { a: 1, b: 2 }, inputs: { x: sha256("x") }, env: ["A"], envValues: { A: "1" } };
    const k = cacheKeyOf(keyRecord(base));
    expect(cacheKeyOf(keyRecord({ ...base, params: { b: 2, a: 1 } }))).toBe(k);
    for (const changed of [{ step: "t" }, { code: sha256("other") as Digest }, { version: "1" }, { params: { a: 1, b: 3 } }, { inputs: { x: sha256("y") } }, { envValues: { A: "2" } }, { envValues: {} }]) {
      expect(cacheKeyOf(keyRecord({ ...base, ...changed }))).not.toBe(k);
    }
    expect(keyRecord(base).format).toBe(CACHE_FORMAT);
  });
});
