import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace, type RunEvent } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";

const STEPS = `import fs from "node:fs";
import { defineStep, NonRetryableError, port, Type } from "sluice";

const root = new URL("../", import.meta.url);
export const count = (id: string): void => fs.appendFileSync(new URL("counter.log", root), id + "\\n");

export const score = defineStep({
  name: "score",
  outputs: { metrics: port.json<{ accuracy: number }>() },
  params: Type.Object({ accuracy: Type.Number() }),
  run({ params, stepId }) { count(stepId); return { metrics: { accuracy: params.accuracy } }; },
});

export const deploy = defineStep({
  name: "deploy",
  inputs: { metrics: port.json<{ accuracy: number }>() },
  outputs: { done: port.json<boolean>() },
  run({ stepId }) { count(stepId); return { done: true }; },
});

export const list = defineStep({
  name: "list",
  outputs: { items: port.json<Array<{ id: string; value: number }>>() },
  params: Type.Object({ n: Type.Integer(), bump: Type.String({ default: "" }) }),
  run({ params, stepId }) {
    count(stepId);
    return { items: Array.from({ length: params.n }, (_, i) => ({ id: "s" + i, value: params.bump === "s" + i ? i * 100 : i })) };
  },
});

export const square = defineStep({
  name: "square",
  inputs: { item: port.json<{ id: string; value: number }>() },
  outputs: { sq: port.json<number>() },
  run({ inputs, stepId }) { count(stepId); return { sq: inputs.item.value ** 2 }; },
});

export const sum = defineStep({
  name: "sum",
  inputs: { values: port.json<number[]>() },
  outputs: { total: port.json<number>() },
  run({ inputs, stepId }) { count(stepId); return { total: inputs.values.reduce((a, b) => a + b, 0) }; },
});

export const flaky = defineStep({
  name: "flaky",
  outputs: { ok: port.json<number>() },
  retries: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  run({ attempt, stepId }) {
    count(stepId);
    if (attempt < 3) throw new Error("transient failure " + attempt);
    return { ok: attempt };
  },
});

export const fatal = defineStep({
  name: "fatal",
  outputs: { ok: port.json<number>() },
  retries: { attempts: 5, baseDelayMs: 1 },
  run({ stepId }) { count(stepId); throw new NonRetryableError("bad credentials: will not get better"); },
});

export const spin = defineStep({
  name: "spin",
  executor: "thread",
  timeoutMs: 500,
  outputs: { never: port.json<number>() },
  run() { for (;;) { /* a stuck step */ } },
});

export const threadEcho = defineStep({
  name: "thread-echo",
  executor: "thread",
  outputs: { n: port.json<number>() },
  run({ stepId }) { count(stepId); return { n: 7 }; },
});

export const boom = defineStep({
  name: "boom",
  outputs: { n: port.json<number>() },
  run({ stepId }) { count(stepId); throw new Error("boom"); },
});

export const leaf = defineStep({
  name: "leaf",
  inputs: { n: port.json<number>() },
  outputs: { n: port.json<number>() },
  run({ inputs, stepId }) { count(stepId); return { n: inputs.n }; },
});

export const heavy = defineStep({
  name: "heavy",
  resources: { cpu: 2 },
  params: Type.Object({ i: Type.Integer() }),
  outputs: { at: port.json<number>() },
  async run({ params, stepId }) {
    count(stepId + ":start");
    await new Promise((r) => setImmediate(r));
    count(stepId + ":end");
    return { at: params.i };
  },
});
`;

const PIPELINES = `import { definePipeline, port, Type } from "sluice";
import * as s from "../steps/all.ts";

export const gated = definePipeline({
  name: "gated",
  params: Type.Object({ accuracy: Type.Number({ default: 0.95 }) }),
  build(p, { accuracy }) {
    const sc = p.step("score", s.score, { params: { accuracy } });
    const d = p.step("deploy", s.deploy, { inputs: { metrics: sc.outputs.metrics }, when: p.when(sc.outputs.metrics, (m) => m.accuracy >= 0.9, "accuracy >= 0.9") });
    p.step("after-deploy", s.deploy, { inputs: { metrics: sc.outputs.metrics }, when: p.when(d.outputs.done, (x) => x) });
  },
});

export const mapped = definePipeline({
  name: "mapped",
  params: Type.Object({ n: Type.Integer({ default: 5 }), bump: Type.String({ default: "" }) }),
  build(p, params) {
    const l = p.step("list", s.list, { params });
    const m = p.map("square", s.square, { over: l.outputs.items, as: "item", key: (it) => it.id });
    p.step("sum", s.sum, { inputs: { values: m.outputs.sq } });
  },
});

const inner = definePipeline({
  name: "inner",
  inputs: { metrics: port.json<{ accuracy: number }>() },
  outputs: { done: port.json<boolean>() },
  build(p, _params, inputs) {
    const d = p.step("deploy", s.deploy, { inputs: { metrics: inputs.metrics } });
    return { done: d.outputs.done };
  },
});

export const nested = definePipeline({
  name: "nested",
  build(p) {
    const sc = p.step("score", s.score, { params: { accuracy: 0.5 } });
    const sub = p.pipeline("release", inner, { inputs: { metrics: sc.outputs.metrics } });
    p.step("confirm", s.deploy, { inputs: { metrics: sc.outputs.metrics }, when: p.when(sub.outputs.done, (x) => x === true) });
  },
});

export const retrying = definePipeline({ name: "retrying", build(p) { p.step("flaky", s.flaky); } });
export const fatalOne = definePipeline({ name: "fatal", build(p) { p.step("fatal", s.fatal); } });
export const stuck = definePipeline({
  name: "stuck",
  build(p) {
    p.step("spin", s.spin);
    p.step("other", s.threadEcho);
  },
});
export const afterStuck = definePipeline({ name: "after-stuck", build(p) { p.step("echo", s.threadEcho); } });

export const branches = definePipeline({
  name: "branches",
  build(p) {
    const b = p.step("boom", s.boom);
    p.step("after-boom", s.leaf, { inputs: { n: b.outputs.n } });
    const t = p.step("fine", s.threadEcho);
    p.step("after-fine", s.leaf, { inputs: { n: t.outputs.n } });
  },
});

export const budgeted = definePipeline({
  name: "budgeted",
  build(p) {
    p.step("h1", s.heavy, { params: { i: 1 } });
    p.step("h2", s.heavy, { params: { i: 2 } });
  },
});
`;

let tw: TestWorkspace;
let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.close();
  ws = undefined;
  tw.remove();
});
async function open(): Promise<Workspace> {
  tw = createTestWorkspace({ "steps/all.ts": STEPS, "pipelines/all.ts": PIPELINES });
  ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
  return ws;
}
const counter = (): string[] => (tw.exists("counter.log") ? tw.read("counter.log").split("\n").filter(Boolean) : []);
const reset = (): void => fs.rmSync(tw.path("counter.log"), { force: true });
const byId = (steps: Array<{ id: string; status: string }>): Record<string, string> => Object.fromEntries(steps.map((s) => [s.id, s.status]));
const json = (w: Workspace, d: string | undefined): unknown => JSON.parse(w.cas.getBytes(d as never)!.toString());

describe("when", () => {
  it("runs the gated step when its condition holds", async () => {
    const w = await open();
    const r = await w.run(await w.load("gated"));
    expect(r.status).toBe("succeeded");
    // after-deploy is the same step on the same input as deploy: same key, so it takes deploy's result.
    expect(byId(r.steps)).toEqual({ score: "succeeded", deploy: "succeeded", "after-deploy": "cached" });
  });

  it("skips the step and its dependents, not fails them, when the condition is false; the run succeeds and dry-run says why", async () => {
    const w = await open();
    const r = await w.run(await w.load("gated"), { params: { accuracy: 0.5 } });
    expect(r.status).toBe("succeeded");
    expect(byId(r.steps)).toEqual({ score: "succeeded", deploy: "skipped", "after-deploy": "skipped" });
    expect(counter()).toEqual(["score"]);
    const rows = await w.runs.listStepRuns(r.runId);
    expect(rows.find((x) => x.stepId === "deploy")?.reason).toBe("when accuracy >= 0.9 was false");
    const preview = await w.preview(await w.load("gated"), { accuracy: 0.5 });
    expect(preview.map((p) => [p.id, p.decision, p.reason])).toEqual([
      ["score", "cached", "cache hit"],
      ["deploy", "skipped", "when accuracy >= 0.9 is false"],
      ["after-deploy", "skipped", 'upstream "deploy" is skipped'],
    ]);
  });
});

describe("map", () => {
  it("runs one instance per element, collects their outputs in order, and reruns only a changed element and the collector", async () => {
    const w = await open();
    const events: RunEvent[] = [];
    const first = await w.run(await w.load("mapped"), { onEvent: (e) => events.push(e) });
    expect(first.status).toBe("succeeded");
    expect(json(w, first.outputs.get("square")?.sq)).toEqual([0, 1, 4, 9, 16]);
    expect(json(w, first.outputs.get("sum")?.total)).toBe(30);
    expect(counter().filter((c) => c.startsWith("square")).sort()).toEqual(["square[s0]", "square[s1]", "square[s2]", "square[s3]", "square[s4]"]);
    expect(events.find((e) => e.type === "map.expanded")).toMatchObject({ stepId: "square", count: 5 });
    expect(events.find((e) => e.type === "map.finished")).toMatchObject({ stepId: "square", status: "succeeded", counts: { succeeded: 5, cached: 0 } });

    reset();
    const again = await w.run(await w.load("mapped"));
    expect(counter()).toEqual([]);
    expect(byId(again.steps).square).toBe("cached");

    reset();
    const changed = await w.run(await w.load("mapped"), { params: { bump: "s2" } });
    expect(counter().sort()).toEqual(["list", "square[s2]", "sum"]);
    expect(json(w, changed.outputs.get("sum")?.total)).toBe(0 + 1 + 40000 + 9 + 16);

    reset();
    await w.run(await w.load("mapped"), { params: { n: 6, bump: "s2" } });
    expect(counter().sort()).toEqual(["list", "square[s5]", "sum"]);
    const preview = await w.preview(await w.load("mapped"), { n: 7, bump: "s2" });
    expect(preview.find((p) => p.id === "list")?.decision).toBe("run");
  });

  it("fails the map clearly when `over` is not an array of unique keys", async () => {
    const w = await open();
    tw.write("pipelines/dup.ts", `import { definePipeline } from "sluice";
import * as s from "../steps/all.ts";
export default definePipeline({ name: "dup", build(p) {
  const l = p.step("list", s.list, { params: { n: 3 } });
  p.map("square", s.square, { over: l.outputs.items, as: "item", key: () => "same" });
} });
`);
    const r = await w.run(await w.load("dup"));
    expect(r.status).toBe("failed");
    expect(r.error?.message).toContain('two elements have the key "same"');
  });
});

describe("sub-pipelines", () => {
  it("runs an inner pipeline as a step: its steps are cached one by one and its outputs feed the outer pipeline", async () => {
    const w = await open();
    const r = await w.run(await w.load("nested"));
    expect(r.status).toBe("succeeded");
    // confirm is the deploy step on the same input as release/deploy: same key, one execution.
    expect(byId(r.steps)).toEqual({ score: "succeeded", "release/deploy": "succeeded", confirm: "cached" });
    expect(counter()).toEqual(["score", "release/deploy"]);
    reset();
    const again = await w.run(await w.load("nested"));
    expect(Object.values(byId(again.steps))).toEqual(["cached", "cached", "cached"]);
    expect(counter()).toEqual([]);
  });
});

describe("failure handling", () => {
  it("retries a step that fails twice and succeeds on the third attempt, recording the attempts", async () => {
    const w = await open();
    const events: RunEvent[] = [];
    const r = await w.run(await w.load("retrying"), { onEvent: (e) => events.push(e) });
    expect(r.status).toBe("succeeded");
    expect(r.steps[0]).toMatchObject({ id: "flaky", status: "succeeded", attempts: 3 });
    expect(events.filter((e) => e.type === "step.retrying").map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2]);
    const rows = await w.runs.listStepRuns(r.runId);
    expect(rows[0]).toMatchObject({ status: "succeeded", attempts: 3 });
  });

  it("fails at once on NonRetryableError", async () => {
    const w = await open();
    const r = await w.run(await w.load("fatal"));
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("SLUICE_NON_RETRYABLE");
    expect(counter()).toEqual(["fatal"]);
  });

  it("stops a thread step stuck in a busy loop at its timeout, and later steps still get a working pool", async () => {
    const w = await open();
    const t0 = Date.now();
    const r = await w.run(await w.load("stuck"), { keepGoing: true });
    const took = Date.now() - t0;
    expect(r.status).toBe("failed");
    expect(byId(r.steps)).toEqual({ spin: "failed", other: "succeeded" });
    expect(r.error?.code).toBe("SLUICE_STEP_TIMEOUT");
    expect(r.error?.message).toContain("timed out after 500 ms");
    expect(took).toBeLessThan(30_000);
    const next = await w.run(await w.load("after-stuck"), { force: "all" });
    expect(next.status).toBe("succeeded");
  });

  it("with keep-going runs every branch that does not depend on the failure", async () => {
    const w = await open();
    const stop = await w.run(await w.load("branches"), { concurrency: 1 });
    expect(stop.status).toBe("failed");
    expect(byId(stop.steps)["after-boom"]).toBe("skipped");
    reset();
    const keep = await w.run(await w.load("branches"), { keepGoing: true, concurrency: 1 });
    expect(keep.status).toBe("failed");
    expect(byId(keep.steps)).toMatchObject({ boom: "failed", "after-boom": "skipped", "after-fine": expect.stringMatching(/succeeded|cached/) });
  });

  it("never runs more CPU-heavy work at once than the budget allows", async () => {
    const w = await open();
    const r = await w.run(await w.load("budgeted"), { budget: { cpu: 2, memoryMb: 1024 } });
    expect(r.status).toBe("succeeded");
    const log = counter();
    // Each heavy step needs both cores: the second starts only after the first ended.
    expect(log.indexOf(log.find((l) => l.endsWith(":end"))!)).toBe(1);
  });
});
