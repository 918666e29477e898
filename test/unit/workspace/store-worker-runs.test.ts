import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { SAFETY_NET_AUTOCHECKPOINT_PAGES } from "../../../src/store/store-worker/index.ts";

const FILES = {
  "steps/s.ts": `import { defineStep, port, Type } from "sluice";
export const chatty = defineStep({
  name: "chatty",
  outputs: { n: port.json<number>() },
  params: Type.Object({ i: Type.Integer() }),
  run({ params, log, metric }) {
    log("info", "working", { i: params.i });
    metric("score", params.i / 10, params.i);
    return { n: params.i };
  },
});
`,
  "pipelines/many.ts": `import { definePipeline, Type } from "sluice";
import { chatty } from "../steps/s.ts";
export default definePipeline({
  name: "many",
  params: Type.Object({ n: Type.Integer({ default: 6 }) }),
  build(p, { n }) { for (let i = 0; i < n; i++) p.step("c" + i, chatty, { params: { i } }); },
});
`,
};

let tw: TestWorkspace;
let ws: Workspace | undefined;

beforeEach(() => {
  tw = createTestWorkspace(FILES);
});

afterEach(async () => {
  await ws?.close();
  ws = undefined;
  tw.remove();
});

const autocheckpoint = (w: Workspace): number => w.db.pragma("wal_autocheckpoint", { simple: true }) as number;

/** A debug logger, and a promise of the first line whose message is `msg`. */
function loggerAwaiting(msg: string): { logger: Logger; seen: Promise<void> } {
  let seen!: () => void;
  const promise = new Promise<void>((r) => (seen = r));
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      if ((JSON.parse(chunk.toString()) as { msg: string }).msg === msg) seen();
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), seen: promise };
}

/** Every run's status, step statuses, and the data of its "working" log lines and its metric steps. */
async function recorded(w: Workspace, runId: string): Promise<{ status: string | undefined; steps: string[]; logs: unknown[]; metrics: (number | null)[] }> {
  const byStep = (a: { stepId: string | null }, b: { stepId: string | null }): number => String(a.stepId).localeCompare(String(b.stepId));
  return {
    status: (await w.runs.getRun(runId))?.status,
    steps: (await w.runs.listStepRuns(runId)).sort(byStep).map((s) => `${s.stepId} ${s.status}`),
    logs: (await w.runs.listLogs(runId)).filter((l) => l.msg === "working").sort(byStep).map((l) => l.data),
    metrics: (await w.runs.listMetrics(runId)).sort(byStep).map((m) => m.step),
  };
}

describe("a workspace's store worker", () => {
  it("starts at the first run with enough steps, and the step rows, logs, metrics and status of that run and of later ones all land", async () => {
    const { logger, seen: ready } = loggerAwaiting("store worker ready");
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }), { storeWorkerMinSteps: 5, logger });
    const info = await ws.load("many");
    const small = await ws.run(info, { params: { n: 2 } });
    expect(autocheckpoint(ws)).toBe(1000); // no worker yet: the cache connection checkpoints itself

    // Written on the main thread until the worker has opened the run database, by it afterwards.
    const big = await ws.run(info, { params: { n: 6 } });
    expect(autocheckpoint(ws)).toBe(SAFETY_NET_AUTOCHECKPOINT_PAGES);
    await ready;
    const later = await ws.run(info, { params: { n: 8 } });

    expect(await recorded(ws, small.runId)).toEqual({ status: "succeeded", steps: ["c0 succeeded", "c1 succeeded"], logs: [{ i: 0 }, { i: 1 }], metrics: [0, 1] });
    expect(await recorded(ws, big.runId)).toEqual({
      status: "succeeded",
      steps: ["c0 cached", "c1 cached", "c2 succeeded", "c3 succeeded", "c4 succeeded", "c5 succeeded"],
      logs: [{ i: 2 }, { i: 3 }, { i: 4 }, { i: 5 }],
      metrics: [2, 3, 4, 5],
    });
    expect(await recorded(ws, later.runId)).toEqual({
      status: "succeeded",
      steps: [...[0, 1, 2, 3, 4, 5].map((i) => `c${i} cached`), "c6 succeeded", "c7 succeeded"],
      logs: [{ i: 6 }, { i: 7 }],
      metrics: [6, 7],
    });
  });

  it("lets a run below the threshold record exactly as before, without starting the worker", async () => {
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }), { storeWorkerMinSteps: 5 });
    const summary = await ws.run(await ws.load("many"), { params: { n: 4 } });
    expect(autocheckpoint(ws)).toBe(1000);
    expect(await recorded(ws, summary.runId)).toEqual({ status: "succeeded", steps: [0, 1, 2, 3].map((i) => `c${i} succeeded`), logs: [0, 1, 2, 3].map((i) => ({ i })), metrics: [0, 1, 2, 3] });
  });
});
