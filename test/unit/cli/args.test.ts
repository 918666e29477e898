import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { durationFlag, intFlag, parseParamFlags, sizeFlag } from "../../../src/cli/args.ts";
import { SluiceError } from "../../../src/errors.ts";

function usageError(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe("SLUICE_USAGE");
    return err as SluiceError;
  }
  throw new Error("expected a SLUICE_USAGE error");
}

const schema = Type.Object({
  name: Type.String(),
  top: Type.Integer(),
  lr: Type.Number(),
  verbose: Type.Boolean(),
  tags: Type.Array(Type.String()),
  train: Type.Object({ lr: Type.Number(), tag: Type.String(), opts: Type.Object({ seed: Type.Integer() }) }),
});

describe("parseParamFlags", () => {
  it("keeps a string param a string even when it looks like a number, a boolean or JSON", () => {
    expect(parseParamFlags(["name=007"], schema, "run")).toEqual({ name: "007" });
    expect(parseParamFlags(["name=true"], schema, "run")).toEqual({ name: "true" });
    expect(parseParamFlags(["name=[1,2]"], schema, "run")).toEqual({ name: "[1,2]" });
    expect(parseParamFlags(["name="], schema, "run")).toEqual({ name: "" });
  });

  it("parses integer and number params", () => {
    expect(parseParamFlags(["top=10", "lr=0.5"], schema, "run")).toEqual({ top: 10, lr: 0.5 });
    expect(parseParamFlags(["lr=1e-3"], schema, "run")).toEqual({ lr: 0.001 });
    expect(parseParamFlags(["lr=-2"], schema, "run")).toEqual({ lr: -2 });
  });

  it("leaves a non-numeric value for a number param as text, for schema validation to reject", () => {
    expect(parseParamFlags(["top=ten"], schema, "run")).toEqual({ top: "ten" });
    expect(parseParamFlags(["top="], schema, "run")).toEqual({ top: "" });
  });

  it("parses booleans", () => {
    expect(parseParamFlags(["verbose=true"], schema, "run")).toEqual({ verbose: true });
    expect(parseParamFlags(["verbose=false"], schema, "run")).toEqual({ verbose: false });
    expect(parseParamFlags(["verbose=yes"], schema, "run")).toEqual({ verbose: "yes" });
  });

  it("parses JSON arrays", () => {
    expect(parseParamFlags(['tags=["a","b"]'], schema, "run")).toEqual({ tags: ["a", "b"] });
    expect(parseParamFlags(["tags=[]"], schema, "run")).toEqual({ tags: [] });
  });

  it("nests dotted keys and reads each leaf by its nested schema", () => {
    expect(parseParamFlags(["train.lr=0.01", "train.tag=42", "train.opts.seed=7", "top=3"], schema, "run")).toEqual({
      train: { lr: 0.01, tag: "42", opts: { seed: 7 } },
      top: 3,
    });
  });

  it("keeps everything after the first = as the value", () => {
    expect(parseParamFlags(["name=a=b"], schema, "run")).toEqual({ name: "a=b" });
  });

  it("lets a later flag for the same key win", () => {
    expect(parseParamFlags(["top=1", "top=2"], schema, "run")).toEqual({ top: 2 });
  });

  it("parses a param the schema does not know as JSON when it can, else keeps the text", () => {
    expect(parseParamFlags(["extra=5", "other=hello"], schema, "run")).toEqual({ extra: 5, other: "hello" });
  });

  it("rejects a pair without a name or without = as a usage error naming the pair and the command", () => {
    for (const pair of ["top", "=5", ""]) {
      const err = usageError(() => parseParamFlags([pair], schema, "explain"));
      expect(err.message).toBe(`sluice explain: --param ${JSON.stringify(pair)} is not NAME=VALUE. Example: --param top=10.`);
      expect(err.details).toEqual({ field: pair });
    }
  });

  it("returns an empty object for no flags", () => {
    expect(parseParamFlags([], schema, "run")).toEqual({});
  });

  // Fails today: `top.x` walks into the number set by `top=1` and assigning a property to a
  // primitive throws a TypeError, which the CLI reports as SLUICE_INTERNAL (exit 1) instead of
  // a usage error (exit 2).
  it("rejects a dotted key that goes through a value set by another flag as a usage error", () => {
    const err = usageError(() => parseParamFlags(["top=1", "top.x=2"], schema, "run"));
    expect(err.message).toContain("top.x");
  });

  // Fails today: `__proto__` and `constructor.prototype` segments are walked like any other key,
  // so `--param __proto__.polluted=yes` writes onto Object.prototype for the whole process.
  it("never writes through __proto__ or constructor.prototype", () => {
    const probe = {} as Record<string, unknown>;
    try {
      for (const pair of ["__proto__.polluted=yes", "constructor.prototype.polluted=yes"]) {
        try {
          parseParamFlags([pair], schema, "run");
        } catch (err) {
          expect((err as SluiceError).code).toBe("SLUICE_USAGE");
        }
        expect(probe.polluted).toBeUndefined();
      }
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });
});

describe("intFlag", () => {
  it("returns undefined when the flag is absent", () => {
    expect(intFlag("runs", "limit", undefined)).toBeUndefined();
  });

  it("parses a whole number at or above the minimum", () => {
    expect(intFlag("runs", "limit", "20")).toBe(20);
    expect(intFlag("cache", "keep-runs", "0", 0)).toBe(0);
  });

  // Fails today: Number("") is 0, so `--keep-runs=` (min 0) silently means "keep no runs".
  it("rejects an empty or blank value even when zero is allowed", () => {
    for (const raw of ["", " "]) usageError(() => intFlag("cache", "keep-runs", raw, 0));
  });

  it("rejects a fraction, text, or a number below the minimum, naming the flag", () => {
    for (const raw of ["1.5", "abc", "0", "-3"]) {
      const err = usageError(() => intFlag("runs", "limit", raw));
      expect(err.message).toBe(`sluice runs: --limit ${JSON.stringify(raw)} must be a whole number ≥ 1.`);
      expect(err.details).toEqual({ field: "limit", value: raw });
    }
  });
});

describe("durationFlag", () => {
  it("converts ms, s, m, h and d to milliseconds", () => {
    expect(durationFlag("cache", "older-than", "250ms")).toBe(250);
    expect(durationFlag("cache", "older-than", "45s")).toBe(45_000);
    expect(durationFlag("cache", "older-than", "15m")).toBe(900_000);
    expect(durationFlag("cache", "older-than", "12h")).toBe(43_200_000);
    expect(durationFlag("cache", "older-than", "30d")).toBe(2_592_000_000);
    expect(durationFlag("cache", "older-than", "1.5h")).toBe(5_400_000);
  });

  it("returns undefined when the flag is absent", () => {
    expect(durationFlag("cache", "older-than", undefined)).toBeUndefined();
  });

  it("rejects a number without unit or an unknown unit", () => {
    for (const raw of ["10", "5w", "d", "-1d", "1 day"]) {
      const err = usageError(() => durationFlag("cache", "older-than", raw));
      expect(err.message).toBe(`sluice cache: --older-than ${JSON.stringify(raw)} is not a duration. Use e.g. 30d, 12h, 15m, 45s.`);
    }
  });
});

describe("sizeFlag", () => {
  it("converts decimal and binary units to bytes, case-insensitively", () => {
    expect(sizeFlag("cache", "max-size", "500MB")).toBe(500_000_000);
    expect(sizeFlag("cache", "max-size", "2GiB")).toBe(2 * 1024 ** 3);
    expect(sizeFlag("cache", "max-size", "1.5KiB")).toBe(1536);
    expect(sizeFlag("cache", "max-size", "10 mb")).toBe(10_000_000);
    expect(sizeFlag("cache", "max-size", "1TB")).toBe(1e12);
  });

  it("reads a bare number as bytes", () => {
    expect(sizeFlag("cache", "max-size", "1024")).toBe(1024);
    expect(sizeFlag("cache", "max-size", "7B")).toBe(7);
  });

  it("returns undefined when the flag is absent", () => {
    expect(sizeFlag("cache", "max-size", undefined)).toBeUndefined();
  });

  it("rejects an unknown unit, a negative size or text", () => {
    for (const raw of ["5XB", "-1MB", "big", ""]) {
      const err = usageError(() => sizeFlag("cache", "max-size", raw));
      expect(err.message).toBe(`sluice cache: --max-size ${JSON.stringify(raw)} is not a size. Use e.g. 500MB or 2GiB.`);
    }
  });
});
