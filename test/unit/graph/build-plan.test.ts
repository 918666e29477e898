import path from "node:path";
import { describe, expect, it } from "vitest";
import { definePipeline, defineStep, port, SluiceError, Type, type AnyPipeline } from "sluice";
import type { PlanProblem } from "../../../src/define/index.ts";
import { buildPlan, type SourceNode, type StepNode } from "../../../src/graph/index.ts";

const ROOT = path.resolve("/sluice-test-root");

const emit = defineStep({
  name: "emit",
  outputs: { n: port.json<number>() },
  params: Type.Object({ start: Type.Integer({ default: 1, minimum: 0, maximum: 100 }) }),
  run: (ctx) => ({ n: ctx.params.start }),
});
const add = defineStep({
  name: "add",
  inputs: { a: port.json<number>(), b: port.json<number>() },
  outputs: { sum: port.json<number>() },
  run: (ctx) => ({ sum: ctx.inputs.a + ctx.inputs.b }),
});
const pass = defineStep({
  name: "pass",
  inputs: { x: port.json<number>() },
  outputs: { x: port.json<number>() },
  run: (ctx) => ({ x: ctx.inputs.x }),
});
const pass2 = defineStep({
  name: "pass2",
  outputs: { n: port.json<number>() },
  params: Type.Object({ i: Type.Integer() }),
  run: (ctx) => ({ n: ctx.params.i }),
});
const readText = defineStep({
  name: "read-text",
  inputs: { f: port.file() },
  outputs: { text: port.json<string>() },
  params: Type.Object({ encoding: Type.String({ default: "utf8" }), limit: Type.Optional(Type.Integer({ minimum: 1 })) }),
  run: () => ({ text: "" }),
});

function planError(pipeline: AnyPipeline, params: unknown = {}): SluiceError {
  try {
    buildPlan(pipeline, params, { root: ROOT });
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    return err as SluiceError;
  }
  throw new Error("expected buildPlan to throw");
}

function problemsOf(err: SluiceError): PlanProblem[] {
  return err.details.problems as PlanProblem[];
}

describe("buildPlan on a valid pipeline", () => {
  const diamond = definePipeline({
    name: "diamond",
    build(p) {
      const left = p.step("left", emit, { params: { start: 2 } });
      const right = p.step("right", emit);
      const sum = p.step("sum", add, { inputs: { a: left.outputs.n, b: right.outputs.n } });
      p.step("out", pass, { inputs: { x: sum.outputs.sum } });
      p.step("read", readText, { inputs: { f: p.file("data", "data/in.txt") } });
    },
  });

  it("orders nodes topologically, keeping declaration order among ready nodes", () => {
    const plan = buildPlan(diamond, {}, { root: ROOT });
    expect(plan.order).toEqual(["left", "right", "data", "sum", "read", "out"]);
    for (const [id, deps] of plan.deps) {
      for (const dep of deps) expect(plan.order.indexOf(dep)).toBeLessThan(plan.order.indexOf(id));
    }
  });

  it("records each node's distinct upstream and downstream nodes", () => {
    const plan = buildPlan(diamond, {}, { root: ROOT });
    expect(plan.deps.get("sum")).toEqual(["left", "right"]);
    expect(plan.deps.get("left")).toEqual([]);
    expect(plan.dependents.get("sum")).toEqual(["out"]);
    expect(plan.dependents.get("data")).toEqual(["read"]);
  });

  it("resolves each input to the producing node, its number, port and kind, and gives the order as numbers too", () => {
    const plan = buildPlan(diamond, {}, { root: ROOT });
    const sum = plan.nodes.get("sum") as StepNode;
    const n = (id: string): number => plan.numbers.get(id)!;
    expect(sum.inputs).toEqual({ a: { node: "left", port: "n", kind: "json", from: n("left") }, b: { node: "right", port: "n", kind: "json", from: n("right") } });
    expect((plan.nodes.get("read") as StepNode).inputs).toEqual({ f: { node: "data", port: "file", kind: "file", from: n("data") } });
    expect([...plan.orderNumbers].map((k) => plan.nodes.at(k)!.id)).toEqual(plan.order);
  });

  it("wires an input to an output declared later through p.output", () => {
    const later = definePipeline({
      name: "later",
      build(p) {
        p.step("consumer", pass, { inputs: { x: p.output("producer", "n") } });
        p.step("producer", emit);
      },
    });
    const plan = buildPlan(later, {}, { root: ROOT });
    expect(plan.order).toEqual(["producer", "consumer"]);
    expect((plan.nodes.get("consumer") as StepNode).inputs.x).toEqual({ node: "producer", port: "n", kind: "json", from: plan.numbers.get("producer") });
  });

  it("uses an instance's executor and cache overrides, else the step's own", () => {
    const overrides = definePipeline({
      name: "overrides",
      build(p) {
        p.step("a", emit, { executor: "thread", cache: { ttlMs: 1000 } });
        p.step("b", emit);
      },
    });
    const plan = buildPlan(overrides, {}, { root: ROOT });
    expect(plan.nodes.get("a")).toMatchObject({ executor: "thread", cache: { ttlMs: 1000 } });
    expect(plan.nodes.get("b")).toMatchObject({ executor: "inline", cache: true });
  });

  it("gives its nodes by id as a Map filled in the pipeline's order would, and each id's number", () => {
    const plan = buildPlan(diamond, {}, { root: ROOT });
    const ids = ["left", "right", "sum", "out", "data", "read"];
    expect([...plan.nodes.keys()].sort()).toEqual([...ids].sort());
    expect(plan.nodes.size).toBe(6);
    expect([...plan.nodes].map(([id, n]) => [id, n.id])).toEqual([...plan.nodes.keys()].map((id) => [id, id]));
    expect([...plan.nodes.values()].map((n) => n.id)).toEqual([...plan.nodes.keys()]);
    const seen: string[] = [];
    plan.nodes.forEach((n, id, map) => seen.push(`${id}=${n.id}:${map === plan.nodes}`));
    expect(seen).toEqual([...plan.nodes.keys()].map((id) => `${id}=${id}:true`));
    for (const id of ids) {
      expect(plan.nodes.has(id)).toBe(true);
      expect([...plan.nodes.keys()][plan.numbers.get(id)!]).toBe(id); // numbered in that order
    }
    expect(plan.nodes.get("nope")).toBeUndefined();
    expect(plan.nodes.has("nope")).toBe(false);
    // A sub-pipeline's id is taken (numbered below 0) but names no node; its steps are nodes.
    const inner = definePipeline({ name: "inner", build(p) { p.step("e", emit); } });
    const outer = definePipeline({ name: "outer", build(p) { p.pipeline("sub", inner); p.step("e", emit); } });
    const nested = buildPlan(outer, {}, { root: ROOT });
    expect(nested.numbers.get("sub")).toBeLessThan(0);
    expect(nested.nodes.has("sub")).toBe(false);
    expect([...nested.nodes.keys()]).toEqual(["sub/e", "e"]);
  });

  it("returns a frozen plan", () => {
    const plan = buildPlan(diamond, {}, { root: ROOT });
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.params)).toBe(true);
    expect(Object.isFrozen((plan.nodes.get("left") as StepNode).params)).toBe(true);
  });
});

describe("buildPlan on an invalid pipeline", () => {
  const allWrong = definePipeline({
    name: "all-wrong",
    build(p) {
      // A two-step cycle through a forward reference: "a" reads "b", "b" reads "a".
      const b = p.step("b", pass, { inputs: { x: p.output("a", "x") } });
      p.step("a", pass, { inputs: { x: b.outputs.x } });
      const e = p.step("e", emit);
      p.step("u", emit, { inputs: { nope: e.outputs.n } } as never);
      p.step("w", add, { inputs: { a: e.outputs.n } } as never);
      p.step("r", readText, { inputs: { f: e.outputs.n as never } });
      p.step("e", emit);
      p.step("p-type", emit, { params: { start: "ten" as never } });
      p.step("p-range", emit, { params: { start: 1000 } });
      p.step("p-unknown", emit, { params: { strat: 1 } as never });
    },
  });

  it("throws one SLUICE_PLAN_INVALID listing every problem together", () => {
    const err = planError(allWrong);
    expect(err.code).toBe("SLUICE_PLAN_INVALID");
    expect(err.details.pipeline).toBe("all-wrong");
    expect(problemsOf(err).map((p) => [p.code, p.step, p.field])).toEqual([
      ["SLUICE_DUPLICATE_ID", "e", undefined],
      ["SLUICE_INPUT_UNKNOWN", "u", "nope"],
      ["SLUICE_INPUT_UNWIRED", "w", "b"],
      ["SLUICE_PORT_TYPE_MISMATCH", "r", "f"],
      ["SLUICE_PARAMS_INVALID", "p-type", "start"],
      ["SLUICE_PARAMS_INVALID", "p-range", "start"],
      ["SLUICE_PARAMS_INVALID", "p-unknown", "strat"],
      ["SLUICE_CYCLE", "a", undefined],
    ]);
    expect(err.message).toContain('pipeline "all-wrong" is not valid (8 problems)');
    for (const p of problemsOf(err)) expect(err.message).toContain(p.message);
  });

  it("shows a cycle as a closed path in edge direction", () => {
    const cycle = problemsOf(planError(allWrong)).find((p) => p.code === "SLUICE_CYCLE")!;
    expect(cycle.message).toBe('pipeline "all-wrong": cycle "a" → "b" → "a". A step cannot depend on its own outputs; break the cycle.');
  });

  it("names the producer before its consumer in a three-step cycle", () => {
    const triangle = definePipeline({
      name: "triangle",
      build(p) {
        const x = p.step("x", pass, { inputs: { x: p.output("z", "x") } });
        const y = p.step("y", pass, { inputs: { x: x.outputs.x } });
        p.step("z", pass, { inputs: { x: y.outputs.x } });
      },
    });
    const [cycle] = problemsOf(planError(triangle));
    const path = /cycle (.*)\. A step/.exec(cycle!.message)![1]!.split(" → ").map((s) => JSON.parse(s) as string);
    expect(path[0]).toBe(path.at(-1));
    const ring = path.slice(0, -1);
    expect(ring).toHaveLength(3);
    // Every edge in the path must be producer → consumer: x → y → z → x.
    const next = { x: "y", y: "z", z: "x" } as Record<string, string>;
    for (let i = 0; i < ring.length; i++) expect(path[i + 1]).toBe(next[ring[i]!]);
  });

  it("names pipeline, step and input for an unknown input and lists the declared inputs", () => {
    const p = problemsOf(planError(allWrong)).find((x) => x.code === "SLUICE_INPUT_UNKNOWN")!;
    expect(p.message).toBe('pipeline "all-wrong" › step "u" › input "nope": step "emit" declares no such input (it takes no inputs). Remove it or fix the name.');
  });

  it("names the unwired input and shows how to wire it", () => {
    const p = problemsOf(planError(allWrong)).find((x) => x.code === "SLUICE_INPUT_UNWIRED")!;
    expect(p.message).toBe('pipeline "all-wrong" › step "w" › input "b" is not wired. Pass inputs: { b: <an output> }.');
  });

  it("names both kinds and the producing port when kinds do not match", () => {
    const p = problemsOf(planError(allWrong)).find((x) => x.code === "SLUICE_PORT_TYPE_MISMATCH")!;
    expect(p.message).toBe('pipeline "all-wrong" › step "r" › input "f": expected file, got json from "e.n". Wire a file output or add a convert step.');
  });

  it("names pipeline › step › param for a wrong type, a value out of range and an unknown key", () => {
    const msgs = problemsOf(planError(allWrong)).filter((x) => x.code === "SLUICE_PARAMS_INVALID").map((x) => x.message);
    expect(msgs[0]).toMatch(/^pipeline "all-wrong" › step "p-type" › param "start" must be integer \(got "ten"\)\.$/);
    expect(msgs[1]).toMatch(/^pipeline "all-wrong" › step "p-range" › param "start" must be <= 100 \(got 1000\)\.$/);
    expect(msgs[2]).toBe('pipeline "all-wrong" › step "p-unknown" › param "strat" is not a known param (got 1).');
  });

  it("reports a reference to a node that does not exist and to a port a node lacks", () => {
    const dangling = definePipeline({
      name: "dangling",
      build(p) {
        p.step("e", emit);
        p.step("c1", pass, { inputs: { x: p.output("ghost", "x") } });
        p.step("c2", pass, { inputs: { x: p.output("e", "missing") } });
        p.step("c3", readText, { inputs: { f: p.output("data", "dir") } });
        p.file("data", "in.txt");
      },
    });
    const msgs = problemsOf(planError(dangling)).map((p) => [p.code, p.message]);
    expect(msgs).toEqual([
      ["SLUICE_INPUT_UNWIRED", 'pipeline "dangling" › step "c1" › input "x": no node "ghost" in the pipeline. Add it or wire another output.'],
      ["SLUICE_INPUT_UNWIRED", 'pipeline "dangling" › step "c2" › input "x": "e" has no output "missing" (outputs: n).'],
      ["SLUICE_INPUT_UNWIRED", 'pipeline "dangling" › step "c3" › input "f": "data" has no output "dir" (outputs: file).'],
    ]);
  });

  it("reports a non-reference wired into an input", () => {
    const literal = definePipeline({ name: "literal", build(p) { p.step("c", pass, { inputs: { x: 5 as never } }); } });
    const [p] = problemsOf(planError(literal));
    expect(p).toMatchObject({ code: "SLUICE_INPUT_UNWIRED", step: "c", field: "x" });
    expect(p!.message).toContain("expected an output reference");
  });

  it("turns an exception thrown by build into SLUICE_DEFINITION_INVALID with the cause", () => {
    const boom = new Error("boom");
    const broken = definePipeline({ name: "broken", build() { throw boom; } });
    const err = planError(broken);
    expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(err.message).toBe('pipeline "broken": build() threw: boom. Fix the pipeline\'s build function.');
    expect(err.cause).toBe(boom);
  });
});

describe("buildPlan params", () => {
  const withParams = definePipeline({
    name: "with-params",
    params: Type.Object({
      top: Type.Integer({ default: 10, minimum: 1 }),
      label: Type.String({ default: "report" }),
      train: Type.Object({ lr: Type.Number({ default: 0.1 }) }, { default: {} }),
    }),
    build(p, params) {
      p.step("e", emit, { params: { start: params.top } });
    },
  });

  it("rejects invalid pipeline params with SLUICE_PARAMS_INVALID naming the param and listing known params", () => {
    const err = planError(withParams, { top: "ten" });
    expect(err.code).toBe("SLUICE_PARAMS_INVALID");
    expect(err.details).toMatchObject({ pipeline: "with-params", field: "top" });
    expect(err.message).toContain('pipeline "with-params" › param "top" must be integer (got "ten")');
    expect(err.message).toContain("Fix: pass --param NAME=VALUE matching the schema (params: top, label, train).");
  });

  it("rejects an unknown pipeline param and a nested one out of type, all in one error", () => {
    const err = planError(withParams, { tpo: 3, train: { lr: "fast" } });
    expect(err.code).toBe("SLUICE_PARAMS_INVALID");
    expect(err.message).toContain('param "tpo" is not a known param (got 3)');
    expect(err.message).toContain('param "train.lr" must be number (got "fast")');
  });

  it("says when a pipeline takes no params at all", () => {
    const none = definePipeline({ name: "none", build() {} });
    expect(planError(none, { x: 1 }).message).toContain("(this pipeline takes no params)");
  });

  it("applies defaults to pipeline params and to step params, and build sees the defaults", () => {
    const raw = {};
    const plan = buildPlan(withParams, raw, { root: ROOT });
    expect(plan.params).toEqual({ top: 10, label: "report", train: { lr: 0.1 } });
    expect((plan.nodes.get("e") as StepNode).params).toEqual({ start: 10 });
    expect(raw).toEqual({});
  });

  it("keeps each instance's params as they were passed, though build reuses and changes one object", () => {
    const nested = defineStep({
      name: "nested",
      outputs: { n: port.json<number>() },
      params: Type.Object({ i: Type.Integer(), opt: Type.Object({ a: Type.Integer(), b: Type.Integer({ default: 2 }) }) }),
      run: (ctx) => ({ n: ctx.params.i }),
    });
    const shared = { i: 0 };
    const opt = { a: 1 };
    const p = definePipeline({
      name: "reuse",
      build(b) {
        for (let i = 0; i < 3; i++) {
          shared.i = i;
          b.step(`e${i}`, pass2, { params: shared });
        }
        // `b` is left to its default (the static type asks for it).
        b.step("n", nested, { params: { i: 7, opt: opt as { a: number; b: number } } });
      },
    });
    const plan = buildPlan(p, undefined, { root: ROOT });
    expect([0, 1, 2].map((i) => (plan.nodes.get(`e${i}`) as StepNode).params)).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect((plan.nodes.get("n") as StepNode).params).toEqual({ i: 7, opt: { a: 1, b: 2 } });
    // The default went into the plan's copy, not into the object build passed.
    expect(opt).toEqual({ a: 1 });
    expect(shared).toEqual({ i: 2 });
  });

  it("fills a step's param defaults when the instance passes none", () => {
    const p = definePipeline({ name: "step-defaults", build(b) { b.step("read", readText, { inputs: { f: b.file("f", "x.txt") } }); } });
    expect((buildPlan(p, undefined, { root: ROOT }).nodes.get("read") as StepNode).params).toEqual({ encoding: "utf8" });
  });
});

describe("buildPlan at scale and with sources", () => {
  it("plans a 5,000-step chain without overflowing the stack", () => {
    const n = 5000;
    const chain = definePipeline({
      name: "chain",
      build(p) {
        let prev = p.step("s0", emit).outputs.n;
        for (let i = 1; i < n; i++) prev = p.step(`s${i}`, pass, { inputs: { x: prev } }).outputs.x;
      },
    });
    const plan = buildPlan(chain, {}, { root: ROOT });
    expect(plan.order).toHaveLength(n);
    expect(plan.order[0]).toBe("s0");
    expect(plan.order[n - 1]).toBe(`s${n - 1}`);
    expect(plan.order.every((id, i) => id === `s${i}`)).toBe(true);
  });

  it("reports a 5,000-step cycle without overflowing the stack", () => {
    const n = 5000;
    const ring = definePipeline({
      name: "ring",
      build(p) {
        let prev = p.output(`s${n - 1}`, "x");
        for (let i = 0; i < n; i++) prev = p.step(`s${i}`, pass, { inputs: { x: prev } }).outputs.x;
      },
    });
    const [cycle] = problemsOf(planError(ring));
    expect(cycle!.code).toBe("SLUICE_CYCLE");
    expect(cycle!.message.split(" → ")).toHaveLength(n + 1);
  });

  it("resolves relative source paths against the root option and keeps absolute ones", () => {
    const abs = path.resolve("/elsewhere/model.bin");
    const sources = definePipeline({
      name: "sources",
      build(p) {
        p.file("in", "data/in.txt");
        p.dir("corpus", "./data/../corpus");
        p.file("model", abs);
      },
    });
    const plan = buildPlan(sources, {}, { root: ROOT });
    expect(plan.nodes.get("in")).toEqual({ kind: "source", id: "in", sourceKind: "file", path: path.join(ROOT, "data", "in.txt"), relPath: "data/in.txt" });
    expect((plan.nodes.get("corpus") as SourceNode).path).toBe(path.join(ROOT, "corpus"));
    expect((plan.nodes.get("model") as SourceNode).path).toBe(abs);
    const other = buildPlan(sources, {}, { root: path.resolve("/other-root") });
    expect((other.nodes.get("in") as SourceNode).path).toBe(path.resolve("/other-root/data/in.txt"));
  });
});
