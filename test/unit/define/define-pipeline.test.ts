import { describe, expect, it } from "vitest";
import { definePipeline, defineStep, isPipeline, port, Type } from "sluice";
import { recordPipeline } from "../../../src/define/index.ts";
import { thrown } from "../../helpers/errors.ts";

const emit = defineStep({ name: "emit", outputs: { n: port.json<number>() }, run: () => ({ n: 1 }) });
const double = defineStep({ name: "double", inputs: { n: port.json<number>() }, outputs: { n: port.json<number>() }, run: (ctx) => ({ n: ctx.inputs.n * 2 }) });

describe("definePipeline", () => {
  it("rejects a bad name, a missing build and a non-object params schema in one error", () => {
    const err = thrown(() => definePipeline({ name: "no spaces", params: Type.Number() as never } as never));
    expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(err.message).toContain('pipeline "no spaces"');
    expect(err.details).toMatchObject({ pipeline: "no spaces" });
    expect(err.details.problems).toEqual([
      expect.stringContaining("name must match"),
      "build must be a function",
      expect.stringContaining("params must be a TypeBox object schema"),
    ]);
  });

  it("returns a frozen pipeline with empty params, no schedules and the declaring module's URL", () => {
    const pipeline = definePipeline({ name: "empty", build() {} });
    expect(Object.isFrozen(pipeline)).toBe(true);
    expect(pipeline.params.type).toBe("object");
    expect(pipeline.params.properties).toEqual({});
    expect(pipeline.schedules).toEqual([]);
    expect(pipeline.description).toBeUndefined();
    expect(pipeline.moduleUrl).toBe(import.meta.url);
    expect(isPipeline(pipeline)).toBe(true);
    expect(isPipeline(emit)).toBe(false);
  });

  it("copies the schedules so later edits of the declaration do not change the pipeline", () => {
    const schedules = [{ cron: "0 * * * *", timezone: "UTC", overlap: "skip" as const, misfire: "skip" as const }];
    const pipeline = definePipeline({ name: "hourly", schedules, build() {} });
    schedules.push({ cron: "5 * * * *", timezone: "UTC", overlap: "skip", misfire: "skip" });
    expect(pipeline.schedules).toEqual([{ id: "0 * * * *@UTC", cron: "0 * * * *", timezone: "UTC", params: {}, overlap: "skip", misfire: "skip" }]);
  });
});

describe("recordPipeline", () => {
  it("records sources and step instances in declaration order without running any step", () => {
    let ran = false;
    const spy = defineStep({ name: "spy", inputs: { f: port.file() }, run: () => ((ran = true), {}) });
    const pipeline = definePipeline({
      name: "rec",
      build(p) {
        const f = p.file("data", "data/in.txt");
        p.dir("corpus", "data/corpus");
        p.step("use", spy, { inputs: { f }, params: {}, executor: "thread", cache: false });
      },
    });
    const { nodes, problems } = recordPipeline(pipeline, {});
    expect(problems).toEqual([]);
    expect(ran).toBe(false);
    expect(nodes.map((n) => [n.kind, n.id])).toEqual([["source", "data"], ["source", "corpus"], ["step", "use"]]);
    expect(nodes[2]).toMatchObject({ executor: "thread", cache: false, inputs: { f: { __ref: true, node: "data", port: "file", kind: "file" } } });
  });

  it("hands out output references that name the node, the port and its kind", () => {
    let handle: unknown;
    recordPipeline(definePipeline({ name: "refs", build(p) { handle = p.step("e", emit); } }), {});
    expect(handle).toEqual({ id: "e", outputs: { n: { __ref: true, node: "e", port: "n", kind: "json" } } });
  });

  it("reports a duplicate id, an invalid id and a value that is not a step, keeping the first instance", () => {
    const pipeline = definePipeline({
      name: "rec-bad",
      build(p) {
        const e = p.step("e", emit);
        p.step("e", double, { inputs: { n: e.outputs.n } });
        p.step("has space", emit);
        p.step("fake", { name: "fake" } as never);
      },
    });
    const { nodes, problems } = recordPipeline(pipeline, {});
    expect(nodes.map((n) => n.id)).toEqual(["e"]);
    expect(problems.map((p) => [p.code, p.step])).toEqual([
      ["SLUICE_DUPLICATE_ID", "e"],
      ["SLUICE_BAD_ID", "has space"],
      ["SLUICE_NOT_A_STEP", "fake"],
    ]);
    expect(problems[0]!.message).toBe('pipeline "rec-bad" › step "e": the id is used twice. Give each step instance its own id.');
  });

  it("passes the params it is given to build", () => {
    let seen: unknown;
    const pipeline = definePipeline({ name: "params", params: Type.Object({ top: Type.Integer() }), build(_p, params) { seen = params; } });
    recordPipeline(pipeline, { top: 7 });
    expect(seen).toEqual({ top: 7 });
  });
});
