import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { threadId } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace, type RunEvent } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";

const STEPS = `import fs from "node:fs";
import path from "node:path";
import { threadId } from "node:worker_threads";
import { defineStep, port, Type } from "sluice";

const root = new URL("../", import.meta.url);
const count = (id: string): void => fs.appendFileSync(new URL("counter.log", root), id + "\\n");

export const seed = defineStep({
  name: "seed",
  outputs: { n: port.json<number>() },
  params: Type.Object({ n: Type.Integer({ default: 1 }) }),
  run({ params, stepId }) { count(stepId); return { n: params.n }; },
});

export const onThread = defineStep({
  name: "on-thread",
  executor: "thread",
  inputs: { n: port.json<number>() },
  outputs: { thread: port.json<number>(), doubled: port.json<number>() },
  run({ inputs, stepId, log }) { count(stepId); log("info", "in a worker", { threadId }); return { thread: threadId, doubled: inputs.n * 2 }; },
});

export const flaky = defineStep({
  name: "flaky",
  inputs: { n: port.json<number>() },
  outputs: { n: port.json<number>() },
  run({ inputs, stepId }) {
    count(stepId);
    if (fs.existsSync(new URL("fail", root))) throw new Error("asked to fail");
    return { n: inputs.n + 1 };
  },
});

export const echo = defineStep({
  name: "echo",
  inputs: { n: port.json<number>() },
  outputs: { n: port.json<number>() },
  run({ inputs, stepId }) { count(stepId); return { n: inputs.n }; },
});

export const undeclared = defineStep({
  name: "undeclared",
  outputs: { a: port.json<number>() },
  run: () => ({ a: 1, b: 2 }) as never,
});

export const makeDir = defineStep({
  name: "make-dir",
  inputs: { n: port.json<number>() },
  outputs: { dir: port.dir() },
  run({ inputs, outDir }) {
    const d = path.join(outDir, "tree");
    fs.mkdirSync(path.join(d, "sub"), { recursive: true });
    fs.writeFileSync(path.join(d, "a.txt"), "a".repeat(inputs.n));
    fs.writeFileSync(path.join(d, "sub", "b.txt"), "b");
    return { dir: { path: d } };
  },
});

export const readDir = defineStep({
  name: "read-dir",
  inputs: { dir: port.dir() },
  outputs: { listing: port.json<string[]>() },
  run({ inputs }) {
    return { listing: [fs.readFileSync(path.join(inputs.dir, "a.txt"), "utf8"), fs.readFileSync(path.join(inputs.dir, "sub", "b.txt"), "utf8")] };
  },
});

export const always = defineStep({
  name: "always",
  cache: false,
  outputs: { n: port.json<number>() },
  run({ stepId }) { count(stepId); return { n: 1 }; },
});

export const shortLived = defineStep({
  name: "short-lived",
  cache: { ttlMs: 60_000 },
  outputs: { n: port.json<number>() },
  run({ stepId }) { count(stepId); return { n: 1 }; },
});

export const passOn = defineStep({
  name: "pass-on",
  inputs: { n: port.json<number>() },
  outputs: { n: port.json<number>() },
  run: ({ inputs }) => ({ n: inputs.n + 1 }),
});

export const add = defineStep({
  name: "add",
  inputs: { a: port.json<number>(), b: port.json<number>() },
  outputs: { n: port.json<number>() },
  run({ inputs, stepId }) { count(stepId); return { n: inputs.a + inputs.b }; },
});

export const withEnv = defineStep({
  name: "with-env",
  env: ["MODE"],
  outputs: { mode: port.json<string>() },
  run({ env, stepId }) { count(stepId); return { mode: env.MODE ?? "unset" }; },
});
`;

const PIPELINES = `import { definePipeline } from "sluice";
import * as s from "../steps/all.ts";

export const threads = definePipeline({ name: "threads", build(p) {
  const a = p.step("seed", s.seed, { params: { n: 21 } });
  const t = p.step("thread", s.onThread, { inputs: { n: a.outputs.n } });
  p.step("after", s.echo, { inputs: { n: t.outputs.doubled } });
} });

export const failing = definePipeline({ name: "failing", build(p) {
  const a = p.step("seed", s.seed);
  const f = p.step("flaky", s.flaky, { inputs: { n: a.outputs.n } });
  p.step("after-flaky", s.echo, { inputs: { n: f.outputs.n } });
  p.step("sibling", s.echo, { inputs: { n: a.outputs.n } });
} });

export const twins = definePipeline({ name: "twins", build(p) {
  const a = p.step("seed", s.seed);
  p.step("left", s.echo, { inputs: { n: a.outputs.n } });
  p.step("right", s.echo, { inputs: { n: a.outputs.n } });
} });

export const sameTwice = definePipeline({ name: "same-twice", build(p) {
  const a = p.step("seed", s.seed, { params: { n: 20 } });
  const sum = p.step("add", s.add, { inputs: { a: a.outputs.n, b: a.outputs.n } });
  p.step("after", s.echo, { inputs: { n: sum.outputs.n } });
} });

export const bad = definePipeline({ name: "bad", build(p) { p.step("u", s.undeclared); } });

export const dirs = definePipeline({ name: "dirs", build(p) {
  const a = p.step("seed", s.seed, { params: { n: 3 } });
  const d = p.step("make", s.makeDir, { inputs: { n: a.outputs.n } });
  p.step("read", s.readDir, { inputs: { dir: d.outputs.dir } });
} });

export const longChain = definePipeline({ name: "long-chain", build(p) {
  let prev = p.step("c0", s.seed).outputs.n;
  for (let i = 1; i < 300; i++) prev = p.step(\`c\${i}\`, s.passOn, { inputs: { n: prev } }).outputs.n;
} });

export const policies = definePipeline({ name: "policies", build(p) {
  p.step("always", s.always);
  p.step("short", s.shortLived);
  p.step("env", s.withEnv);
} });
`;

let tw: TestWorkspace;
let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.close();
  ws = undefined;
  tw.remove();
});

async function open(opts: { env?: Record<string, string>; clock?: () => number } = {}): Promise<Workspace> {
  await ws?.close();
  ws = await Workspace.open(await loadConfig({ root: tw.root, env: opts.env ?? {} }), { clock: opts.clock });
  return ws;
}
const counter = (): string[] => (tw.exists("counter.log") ? tw.read("counter.log").split("\n").filter(Boolean) : []);
const byId = (steps: Array<{ id: string; status: string }>): Record<string, string> => Object.fromEntries(steps.map((s) => [s.id, s.status]));
function setup(): void {
  tw = createTestWorkspace({ "steps/all.ts": STEPS, "pipelines/all.ts": PIPELINES });
}

describe("the run coordinator", () => {
  it("runs a thread step on a Piscina worker and hands its output to the next step", async () => {
    setup();
    const w = await open();
    const events: RunEvent[] = [];
    const r = await w.run(await w.load("threads"), { onEvent: (e) => events.push(e) });
    expect(r.status).toBe("succeeded");
    const threadOut = w.cas.getBytes(r.outputs.get("thread")!.thread!)!.toString();
    expect(Number(threadOut)).not.toBe(threadId);
    expect(w.cas.getBytes(r.outputs.get("after")!.n!)!.toString()).toBe("42");
    expect(events.some((e) => e.type === "log" && e.stepId === "thread" && e.msg === "in a worker")).toBe(true);
  });

  it("lets the event loop have a turn while a long chain of quick inline steps runs", async () => {
    setup();
    const w = await open();
    let finished = 0;
    let finishedAtTurn = -1;
    const r = await w.run(await w.load("long-chain"), {
      onEvent: (e) => {
        if (e.type === "run.started") setImmediate(() => (finishedAtTurn = finished));
        if (e.type === "step.succeeded") finished++;
      },
    });
    expect(r.status).toBe("succeeded");
    expect(finished).toBe(300);
    // Bursts run back to back as microtasks for a while (each step's finish does not wait for a
    // turn of the loop), but the loop gets its turn long before the chain's end.
    expect(finishedAtTurn).toBeGreaterThan(0);
    expect(finishedAtTurn).toBeLessThan(150);
  });

  it("emits run.started first, run.finished last, and exactly one final event per step", async () => {
    setup();
    const w = await open();
    const events: RunEvent[] = [];
    await w.run(await w.load("twins"), { onEvent: (e) => events.push(e) });
    expect(events[0]!.type).toBe("run.started");
    expect(events.at(-1)!.type).toBe("run.finished");
    const finals = events.filter((e) => ["step.cached", "step.succeeded", "step.failed", "step.skipped", "step.cancelled"].includes(e.type));
    expect(finals.map((e) => (e as { stepId: string }).stepId).sort()).toEqual(["left", "right", "seed"]);
  });

  it("in one process, a later run sees an output another process removed meanwhile, and reruns its step", async () => {
    setup();
    const w = await open();
    const info = await w.load("twins");
    const first = await w.run(info);
    expect((await w.run(info)).steps.every((st) => st.status === "cached")).toBe(true);
    // Another process prunes seed's output (a second connection to the same cache database).
    const other = new Database(path.join(w.config.cacheDir, "cache.db"));
    other.prepare("DELETE FROM cas_inline WHERE digest = ?").run(first.outputs.get("seed")!.n!);
    other.close();
    const before = counter().length;
    const third = await w.run(info);
    expect(byId(third.steps).seed).toBe("succeeded");
    expect(counter().slice(before)).toContain("seed");
  });

  it("runs a step that reads one upstream output on two inputs once, after it, with both inputs", async () => {
    setup();
    const w = await open();
    const info = await w.load("same-twice");
    const r = await w.run(info);
    expect(r.status).toBe("succeeded");
    expect(counter()).toEqual(["seed", "add", "after"]);
    expect(w.cas.getBytes(r.outputs.get("after")!.n!)!.toString()).toBe("40");
    expect((await w.run(info)).steps.every((st) => st.status === "cached")).toBe(true);
  });

  it("runs two instances with the same key once: the second takes the first's outputs", async () => {
    setup();
    const w = await open();
    const r = await w.run(await w.load("twins"));
    const statuses = byId(r.steps);
    expect([statuses.left, statuses.right].sort()).toEqual(["cached", "succeeded"]);
    expect(counter().filter((c) => c === "left" || c === "right")).toHaveLength(1);
  });

  it("fails the run on a step error, skips its dependents, keeps finished outputs cached, and resumes on rerun", async () => {
    setup();
    tw.write("fail", "");
    const w = await open();
    const r = await w.run(await w.load("failing"), { concurrency: 1 });
    expect(r.status).toBe("failed");
    expect(r.error?.message).toContain('pipeline "failing" › step "flaky": asked to fail');
    expect(byId(r.steps)["after-flaky"]).toBe("skipped");
    expect(byId(r.steps).flaky).toBe("failed");
    const record = await w.runs.getRun(r.runId);
    expect(record?.status).toBe("failed");
    const rows = await w.runs.listStepRuns(r.runId);
    expect(rows.find((x) => x.stepId === "flaky")?.error?.message).toContain("asked to fail");

    fs.rmSync(tw.path("fail"));
    fs.rmSync(tw.path("counter.log"));
    const again = await w.run(await w.load("failing"));
    expect(again.status).toBe("succeeded");
    expect(byId(again.steps).seed).toBe("cached");
    expect(counter()).not.toContain("seed");
    expect(counter()).toContain("flaky");
  });

  it("rejects outputs a step did not declare", async () => {
    setup();
    const w = await open();
    const r = await w.run(await w.load("bad"));
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("SLUICE_STEP_OUTPUT_INVALID");
    expect(r.error?.message).toContain("returned undeclared output b");
  });

  it("stores a folder output by content and materialises it read-only for the next step", async () => {
    setup();
    const w = await open();
    const r = await w.run(await w.load("dirs"));
    expect(r.status).toBe("succeeded");
    expect(JSON.parse(w.cas.getBytes(r.outputs.get("read")!.listing!)!.toString())).toEqual(["aaa", "b"]);
    const manifest = w.cas.readDirManifest(r.outputs.get("make")!.dir!);
    expect(manifest?.entries.map((e) => e.path)).toEqual(["a.txt", "sub/b.txt"]);
  });

  it("always runs cache: false steps, expires ttl entries on the injected clock, and keys declared env vars", async () => {
    setup();
    let now = 1_000_000;
    const w = await open({ env: { MODE: "a" }, clock: () => now });
    await w.run(await w.load("policies"));
    expect(counter().sort()).toEqual(["always", "env", "short"]);
    fs.rmSync(tw.path("counter.log"));

    now += 30_000;
    await w.run(await w.load("policies"));
    expect(counter()).toEqual(["always"]);
    fs.rmSync(tw.path("counter.log"));

    now += 31_000;
    const w2 = await open({ env: { MODE: "b" }, clock: () => now });
    const r = await w2.run(await w2.load("policies"));
    expect(counter().sort()).toEqual(["always", "env", "short"]);
    expect(w2.cas.getBytes(r.outputs.get("env")!.mode!)!.toString()).toBe('"b"');
  });

  it("marks a run cancelled when its signal is aborted before it starts, running no step", async () => {
    setup();
    const w = await open();
    const abort = new AbortController();
    abort.abort();
    const r = await w.run(await w.load("twins"), { signal: abort.signal });
    expect(r.status).toBe("cancelled");
    expect(counter()).toEqual([]);
    expect(r.steps.every((s) => s.status === "skipped")).toBe(true);
  });
});
