import { describe, expect, it } from "vitest";
import { defineStep, isStep, port, Type } from "sluice";
import { thrown } from "../../helpers/errors.ts";

const run = () => ({});

describe("defineStep", () => {
  it("rejects a name with spaces, naming the step and the allowed characters", () => {
    const err = thrown(() => defineStep({ name: "bad name!", run }));
    expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(err.message).toContain('step "bad name!"');
    expect(err.message).toContain("name must match");
    expect(err.details).toMatchObject({ step: "bad name!" });
    expect(err.details.problems).toHaveLength(1);
  });

  it("rejects an empty name and a name starting with a dash", () => {
    expect(thrown(() => defineStep({ name: "", run })).code).toBe("SLUICE_DEFINITION_INVALID");
    expect(thrown(() => defineStep({ name: "-lead", run })).message).toContain('step "-lead"');
  });

  it("accepts letters, digits, dots, dashes and underscores in a name", () => {
    expect(defineStep({ name: "v2.load_rows-fast", run }).name).toBe("v2.load_rows-fast");
  });

  it("rejects an input port of unknown kind, naming the port, the kind and the port helpers", () => {
    const err = thrown(() => defineStep({ name: "loader", inputs: { rows: { kind: "blob" } as never }, run }));
    expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(err.message).toContain('step "loader"');
    expect(err.message).toContain('input "rows" has kind "blob"');
    expect(err.message).toContain("port.json()");
  });

  it("rejects an output port that is not a port spec at all", () => {
    const err = thrown(() => defineStep({ name: "writer", outputs: { out: "file" }, run } as never));
    expect(err.message).toContain('output "out" has kind undefined');
  });

  it("rejects an executor it cannot run, listing the ones it can", () => {
    const err = thrown(() => defineStep({ name: "gpu-step", executor: "gpu" as never, run }));
    expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(err.message).toContain('step "gpu-step"');
    expect(err.message).toContain('executor "gpu" is unknown; use one of inline, thread');
  });

  it("rejects a cache policy that is neither a boolean nor a positive ttl", () => {
    for (const cache of [{ ttlMs: 0 }, { ttlMs: -5 }, { ttlMs: Number.NaN }, "yes", {}] as never[]) {
      const err = thrown(() => defineStep({ name: "cached", cache, run }));
      expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
      expect(err.message).toContain('step "cached": cache must be true, false or { ttlMs: <positive number> }');
    }
  });

  it("accepts true, false and a positive ttl as cache policies", () => {
    expect(defineStep({ name: "a", cache: false, run }).cache).toBe(false);
    expect(defineStep({ name: "b", cache: { ttlMs: 60_000 }, run }).cache).toEqual({ ttlMs: 60_000 });
  });

  it("rejects params that are not a TypeBox object schema", () => {
    const err = thrown(() => defineStep({ name: "p", params: Type.String() as never, run }));
    expect(err.message).toContain("params must be a TypeBox object schema");
  });

  it("rejects a declaration whose run is not a function", () => {
    const err = thrown(() => defineStep({ name: "lazy" } as never));
    expect(err.message).toContain('step "lazy": run must be a function');
  });

  it("reports every problem of one declaration in a single error", () => {
    const err = thrown(() =>
      defineStep({ name: "x y", executor: "gpu" as never, cache: { ttlMs: -1 }, inputs: { a: { kind: "csv" } as never }, run }),
    );
    expect(err.details.problems).toHaveLength(4);
    expect(err.message).toMatch(/name must match.*input "a".*executor "gpu".*cache must be/s);
  });

  it("records the declaring module's URL from the call stack when module is omitted", () => {
    const step = defineStep({ name: "here", run });
    expect(step.moduleUrl).toBe(import.meta.url);
  });

  it("keeps an explicit module URL", () => {
    const step = defineStep({ name: "there", module: "file:///elsewhere/steps.ts", run });
    expect(step.moduleUrl).toBe("file:///elsewhere/steps.ts");
  });

  it("returns a frozen step that cannot be changed after declaration", () => {
    const step = defineStep({ name: "frozen", run });
    expect(Object.isFrozen(step)).toBe(true);
    expect(() => {
      (step as { name: string }).name = "other";
    }).toThrow(TypeError);
  });

  it("fills defaults: inline executor, cache on, empty ports and params, no version", () => {
    const step = defineStep({ name: "plain", run });
    expect(step).toMatchObject({ executor: "inline", cache: true, inputs: {}, outputs: {}, env: [], version: undefined, description: undefined });
    expect(step.params.type).toBe("object");
    expect(step.params.properties).toEqual({});
  });

  it("stores a numeric version as a string, since it is part of the cache key", () => {
    expect(defineStep({ name: "v", version: 3, run }).version).toBe("3");
  });

  it("copies the env list so later edits of the declaration do not change the step", () => {
    const env = ["API_URL"];
    const step = defineStep({ name: "envy", env, run });
    env.push("SECRET");
    expect(step.env).toEqual(["API_URL"]);
  });

  it("keeps declared ports and marks the result as a step", () => {
    const step = defineStep({
      name: "ported",
      inputs: { rows: port.json<number[]>({ description: "numbers" }), src: port.file() },
      outputs: { model: port.dir(), table: port.table() },
      run: () => ({ model: { path: "m" }, table: new Uint8Array() }),
    });
    expect(step.inputs).toEqual({ rows: { kind: "json", description: "numbers" }, src: { kind: "file" } });
    expect(step.outputs).toEqual({ model: { kind: "dir" }, table: { kind: "table" } });
    expect(isStep(step)).toBe(true);
    expect(isStep({ name: "ported" })).toBe(false);
    expect(isStep(null)).toBe(false);
  });
});
