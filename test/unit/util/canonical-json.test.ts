import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/util/canonical-json.ts";

/** The definition, written plainly: what canonicalJson's fast paths must agree with. */
function reference(v: unknown): string | undefined {
  if (v === null) return "null";
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? String(v === 0 ? 0 : v) : "null";
    case "boolean":
      return String(v);
    case "bigint":
      return v.toString();
    case "object": {
      const withJson = v as { toJSON?: () => unknown };
      if (typeof withJson.toJSON === "function") return reference(withJson.toJSON());
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return reference(Array.from(v as unknown as ArrayLike<unknown>));
      if (Array.isArray(v)) return `[${v.map((x) => reference(x) ?? "null").join(",")}]`;
      const parts: string[] = [];
      for (const k of Object.keys(v).sort()) {
        const c = reference((v as Record<string, unknown>)[k]);
        if (c !== undefined) parts.push(`${JSON.stringify(k)}:${c}`);
      }
      return `{${parts.join(",")}}`;
    }
    default:
      return undefined;
  }
}

/** A small deterministic generator (no Math.random: the same values every run). */
function* values(seed: number, count: number): Generator<unknown> {
  let s = seed >>> 0;
  const next = (n: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  const keys = ["a", "b", "in", "out", "Z", "é", "10", "9", "__proto__x", "k\"q", "", "lr"];
  const leaves: unknown[] = [0, -0, 1, -7, 2.5, 1e21, NaN, Infinity, -Infinity, "", "x", "sha256:ab", 'q"\\\n', "\ud800", true, false, null, undefined, 12n];
  const make = (depth: number): unknown => {
    const r = next(10);
    if (depth > 2 || r < 5) return leaves[next(leaves.length)];
    if (r < 7) return Array.from({ length: next(4) }, () => make(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = next(5); i > 0; i--) o[keys[next(keys.length)]!] = make(depth + 1);
    return o;
  };
  for (let i = 0; i < count; i++) yield make(0);
}

describe("canonicalJson", () => {
  it("writes what the plain definition writes, for thousands of mixed values", () => {
    let objects = 0;
    for (const v of values(7, 5000)) {
      if (typeof v === "object" && v !== null && !Array.isArray(v)) objects++;
      expect(canonicalJson(v)).toBe(reference(v) ?? "null");
    }
    expect(objects).toBeGreaterThan(500);
  });

  it("is the same whatever order the keys were written in, and drops undefined members", () => {
    const a = canonicalJson({ b: 2, a: "x", c: undefined, d: null });
    expect(a).toBe('{"a":"x","b":2,"d":null}');
    expect(canonicalJson({ d: null, a: "x", b: 2 })).toBe(a);
    // Integer-like keys come first in Object.keys; canonical order is by code unit.
    expect(canonicalJson({ 9: "n", 10: "t", a: 1 })).toBe('{"10":"t","9":"n","a":1}');
  });

  it("writes numbers one way: -0 as 0, non-finite as null", () => {
    expect(canonicalJson({ x: -0, y: NaN, z: Infinity, w: 1e21 })).toBe('{"w":1e+21,"x":0,"y":null,"z":null}');
    expect(canonicalJson([-0, 0.1])).toBe("[0,0.1]");
  });

  it("writes a String object by its own keys, as the general path does", () => {
    expect(canonicalJson(Object("ab"))).toBe('{"0":"a","1":"b"}');
  });
});
