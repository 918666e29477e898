/**
 * `sluice serve` over real HTTP on loopback: the run details the Studio draws from. Why a step was
 * a hit or a miss (explain, from the action cache's key records), each run's own graph
 * (`dependsOn` from its pipeline planned with its params; map instances under their map node),
 * the actor filter of the run list (in the store's query), and the metrics a cached step shows
 * (those of the run that produced its outputs).
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createTestWorkspace } from "../../src/testing/index.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";
import { readSse, startServe, type ServeHarness } from "./serve-harness.ts";

/** A map pipeline whose graph depends on a param: `twice` adds a second reader of the map. */
const FAN_FILES: Record<string, string> = {
  "steps/fan.ts": `import { defineStep, port, Type } from "sluice";

export const numbers = defineStep({
  name: "numbers",
  outputs: { list: port.json<number[]>() },
  params: Type.Object({ n: Type.Integer({ default: 4 }) }),
  run: ({ params }) => ({ list: Array.from({ length: params.n }, (_, i) => i) }),
});

export const square = defineStep({
  name: "square",
  inputs: { x: port.json<number>() },
  outputs: { y: port.json<number>() },
  run: ({ inputs }) => ({ y: inputs.x * inputs.x }),
});

export const sum = defineStep({
  name: "sum",
  inputs: { ys: port.json<number[]>() },
  outputs: { total: port.json<number>() },
  run: ({ inputs, metric }) => {
    let acc = 0;
    inputs.ys.forEach((y, i) => metric("running_total", (acc += y), i));
    return { total: acc };
  },
});
`,
  "pipelines/fan.ts": `import { definePipeline, Type } from "sluice";
import { numbers, square, sum } from "../steps/fan.ts";

export default definePipeline({
  name: "fan",
  params: Type.Object({ n: Type.Integer({ minimum: 1, maximum: 100, default: 4 }), twice: Type.Boolean({ default: false }) }),
  build(p, params) {
    const nums = p.step("numbers", numbers, { params: { n: params.n } });
    const sq = p.map("square", square, { over: nums.outputs.list, as: "x", key: (x) => String(x) });
    p.step("sum", sum, { inputs: { ys: sq.outputs.y } });
    if (params.twice) p.step("again", sum, { inputs: { ys: sq.outputs.y } });
  },
});
`,
};

let h: ServeHarness | undefined;
afterEach(async () => {
  await h?.close();
  h?.tw.remove();
  h = undefined;
});

async function start(): Promise<ServeHarness> {
  return startServe({ reuse: createTestWorkspace({ ...DEMO_FILES, ...FAN_FILES }) });
}

/** Starts a run over HTTP as `role`, waits for it to finish, returns its id. */
async function runToEnd(s: ServeHarness, pipeline: string, params: Record<string, unknown> = {}, role: "operator" | "admin" = "operator"): Promise<string> {
  const res = await s.request(`/api/v1/pipelines/${pipeline}/runs`, { method: "POST", role, headers: { "content-type": "application/json" }, body: JSON.stringify({ params }) });
  expect(res.status).toBe(202);
  const { runId } = (await res.json()) as { runId: string };
  await s.server.runs.get(runId)!.done;
  return runId;
}

/** Polls real state (here: the run store) until `check` holds. */
async function untilTrue(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function getJson<T = any>(s: ServeHarness, path: string): Promise<{ status: number; json: T }> {
  const res = await s.request(path);
  return { status: res.status, json: (await res.json()) as T };
}

describe("sluice serve: run details", () => {
  it("explains each step: a hit names the run whose outputs it reused, a miss lists exactly the key components that changed", async () => {
    h = await start();
    const first = await runToEnd(h, "demo", { factor: 1 });
    const second = await runToEnd(h, "demo", { factor: 3 });
    const explain = (run: string, step: string) => getJson(h!, `/api/v1/runs/${run}/steps/${step}/explain`);

    const never = await explain(first, "scale");
    expect(never.status).toBe(200);
    expect(never.json).toMatchObject({ hit: false, comparedWith: null, changes: [], summary: ["never run before: no earlier entry of this step"] });

    const load = await explain(second, "load");
    expect(load.json).toMatchObject({ runId: second, stepId: "load", status: "cached", hit: true, fromRun: first, changes: [] });

    const scale = await explain(second, "scale");
    expect(scale.json).toMatchObject({ hit: false, reason: "no cache entry for this key", comparedWith: { runId: first } });
    expect(scale.json.changes).toEqual([{ component: "param", path: "factor", old: 1, new: 3 }]);
    expect(scale.json.summary).toEqual(["param factor: 1 → 3"]);
    const firstScale = (await getJson(h, `/api/v1/runs/${first}`)).json.steps.find((s: { stepId: string }) => s.stepId === "scale");
    const secondScale = (await getJson(h, `/api/v1/runs/${second}`)).json.steps.find((s: { stepId: string }) => s.stepId === "scale");
    expect(scale.json.key).toBe(secondScale.cacheKey);
    expect(scale.json.comparedWith.key).toBe(firstScale.cacheKey);

    const total = await explain(second, "total");
    expect(total.json.changes).toEqual([{ component: "input", port: "scores", old: expect.stringMatching(/^sha256:/), new: expect.stringMatching(/^sha256:/) }]);

    // A code change: only the step importing the edited helper misses, and its explain names the file.
    h.tw.write("steps/shout-helper.ts", `export function shout(s: string): string {\n  return s.toUpperCase() + "!!";\n}\n`);
    const third = await runToEnd(h, "demo", { factor: 3 });
    const shout = await explain(third, "shout");
    expect(shout.json).toMatchObject({ hit: false, comparedWith: { runId: first } });
    expect(shout.json.changes).toEqual([{ component: "code", file: expect.stringMatching(/shout-helper\.ts$/), old: expect.any(String), new: expect.any(String) }]);
    expect((await explain(third, "scale")).json).toMatchObject({ hit: true, fromRun: second });

    // A step still running has no key record yet: explain says so rather than guessing.
    h.tw.write("block", "");
    const started = await h.request("/api/v1/pipelines/gated/runs", { method: "POST", role: "operator", headers: { "content-type": "application/json" }, body: "{}" });
    const { runId: gated } = (await started.json()) as { runId: string };
    let whileRunning: { status: number; json: any } | undefined;
    await readSse(await h.request(`/api/v1/runs/${gated}/events`), async (m) => {
      if (m.event !== "step.started" || m.data.stepId !== "gate") return;
      // The step record lands with the recorder's next flush: wait for it on the store itself.
      await untilTrue(async () => (await h!.ws.runs.listStepRuns(gated)).some((s) => s.stepId === "gate" && s.status === "running"), "the gate's running record");
      whileRunning = await explain(gated, "gate");
      fs.rmSync(h!.tw.path("block"));
    });
    expect(whileRunning!.json).toMatchObject({ status: "running", hit: false, changes: [], summary: [expect.stringMatching(/^the step has not finished yet/)] });

    // The route is published, and unknown runs and steps are 404s naming what was missing.
    const doc = (await getJson(h, "/api/v1/openapi.json")).json;
    expect(doc.paths["/api/v1/runs/{id}/steps/{step}/explain"].get).toBeDefined();
    const noRun = await explain("r-nope", "scale");
    expect([noRun.status, noRun.json.error.code]).toEqual([404, "SLUICE_RUN_NOT_FOUND"]);
    const noStep = await explain(second, "nope");
    expect([noStep.status, noStep.json.error.code, noStep.json.error.field]).toEqual([404, "SLUICE_RUN_NOT_FOUND", "step"]);
  });

  it("gives each step of a run its dependsOn from the run's own plan: params that change the graph, and map instances under their map node", async () => {
    h = await start();
    const demo = (await getJson(h, `/api/v1/runs/${await runToEnd(h, "demo")}`)).json;
    const demoDeps = Object.fromEntries(demo.steps.map((s: { stepId: string; dependsOn: string[] }) => [s.stepId, s.dependsOn]));
    expect(demoDeps).toEqual({ load: [], normalize: ["load"], scale: ["normalize"], total: ["scale"], shout: ["normalize"], blob: ["normalize"] });

    const twice = await runToEnd(h, "fan", { n: 3, twice: true });
    const run = (await getJson(h, `/api/v1/runs/${twice}`)).json;
    expect(run.graph).toEqual([
      { id: "numbers", kind: "step", dependsOn: [] },
      { id: "square", kind: "map", dependsOn: ["numbers"] },
      { id: "sum", kind: "step", dependsOn: ["square"] },
      { id: "again", kind: "step", dependsOn: ["square"] },
    ]);
    const byId = new Map(run.steps.map((s: { stepId: string }) => [s.stepId, s]));
    expect(byId.get("again")).toMatchObject({ dependsOn: ["square"] });
    for (const i of [0, 1, 2]) expect(byId.get(`square[${i}]`)).toMatchObject({ dependsOn: ["numbers"], mapOf: "square" });
    // The pipeline's default plan has no "again": the run's graph is its own.
    const pipeline = (await getJson(h, "/api/v1/pipelines/fan")).json;
    expect(pipeline.steps.map((s: { id: string }) => s.id)).toEqual(["numbers", "square", "sum"]);

    // A pipeline that is gone (or no longer plans with the run's params): the run still reads, with no edges.
    fs.rmSync(h.tw.path("pipelines/fan.ts"));
    await h.close();
    h = await startServe({ reuse: h.tw });
    const stale = (await getJson(h, `/api/v1/runs/${twice}`)).json;
    expect(stale.graph).toBeNull();
    expect(stale.steps.every((s: { dependsOn: string[] }) => s.dependsOn.length === 0)).toBe(true);
  });

  it("filters the run list by actor in the store's query, with pipeline, status and trigger", async () => {
    h = await start();
    const byOperator = [await runToEnd(h, "demo"), await runToEnd(h, "gated")];
    const byAdmin = await runToEnd(h, "demo", {}, "admin");
    const actorOf = async (id: string): Promise<string> => (await getJson(h!, `/api/v1/runs/${id}`)).json.run.actor;
    const [operator, admin] = [await actorOf(byOperator[0]!), await actorOf(byAdmin)];
    expect(operator).toMatch(/^operator-/);
    const ids = async (q: string): Promise<string[]> => (await getJson<Array<{ id: string }>>(h!, `/api/v1/runs?${q}`)).json.map((r) => r.id);
    expect(await ids(`actor=${operator}`)).toEqual([...byOperator].reverse());
    expect(await ids(`actor=${admin}`)).toEqual([byAdmin]);
    expect(await ids(`actor=${operator}&pipeline=demo&trigger=http&status=succeeded`)).toEqual([byOperator[0]]);
    expect(await ids(`actor=${operator}&limit=1`)).toEqual([byOperator[1]]);
    expect(await ids(`actor=${operator}&trigger=cron`)).toEqual([]);
    expect(await ids("actor=nobody")).toEqual([]);
    const bad = await getJson(h, "/api/v1/runs?actor=ada%0aforged");
    expect([bad.status, bad.json.error.code]).toEqual([400, "SLUICE_REQUEST_INVALID"]);
    const doc = (await getJson(h, "/api/v1/openapi.json")).json;
    expect(doc.paths["/api/v1/runs"].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["pipeline", "status", "trigger", "actor"]));
  });

  it("answers a cached step's metrics with those of the run that produced its outputs, marked fromRun", async () => {
    h = await start();
    const producer = await runToEnd(h, "fan");
    const cached = await runToEnd(h, "fan");
    const own = (await getJson<Array<{ name: string; value: number; step: number; fromRun?: string }>>(h, `/api/v1/runs/${producer}/steps/sum/metrics`)).json;
    expect(own.map((p) => [p.name, p.step, p.value])).toEqual([["running_total", 0, 0], ["running_total", 1, 1], ["running_total", 2, 5], ["running_total", 3, 14]]);
    expect(own.every((p) => p.fromRun === undefined)).toBe(true);

    expect((await getJson(h, `/api/v1/runs/${cached}`)).json.steps.find((s: { stepId: string }) => s.stepId === "sum").status).toBe("cached");
    expect((await getJson(h, `/api/v1/runs/${cached}/metrics`)).json).toEqual([]); // the run itself sampled nothing
    const borrowed = (await getJson<Array<{ runId: string; stepId: string; name: string; value: number; fromRun?: string }>>(h, `/api/v1/runs/${cached}/steps/sum/metrics`)).json;
    expect(borrowed).toEqual(own.map((p) => ({ ...p, fromRun: producer })));
    // A step that ran and sampled nothing stays empty; so does a cached one whose producer sampled nothing.
    expect((await getJson(h, `/api/v1/runs/${producer}/steps/numbers/metrics`)).json).toEqual([]);
    expect((await getJson(h, `/api/v1/runs/${cached}/steps/numbers/metrics`)).json).toEqual([]);
  });
});
