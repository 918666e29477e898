import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

interface RunJson {
  runId: string;
  status: string;
  steps: Array<{ id: string; status: string; cacheKey: string | null }>;
}

let ws: TestWorkspace;
const counter = (): string[] => (ws.exists("counter.log") ? ws.read("counter.log").split("\n").filter(Boolean) : []);
const resetCounter = (): void => fs.rmSync(ws.path("counter.log"), { force: true });
const statuses = (r: RunJson): Record<string, string> => Object.fromEntries(r.steps.map((s) => [s.id, s.status]));
const run = async (...args: string[]): Promise<RunJson> => {
  const r = await runJson<RunJson>(["run", "demo", ...args], { cwd: ws.root });
  expect(r.code, r.stderr).toBe(0);
  return r.json;
};
/** Files written in a test must look older than the code-memo's racy window, like real edits. */
const age = (rel: string): void => {
  const t = new Date(Date.now() - 10_000);
  fs.utimesSync(ws.path(rel), t, t);
};

beforeEach(() => {
  ws = createTestWorkspace(DEMO_FILES);
});
afterEach(() => ws.remove());

describe("content-hashed caching through `sluice run`", () => {
  it("runs every step once, then a second run with nothing changed is all cached and executes no step code", async () => {
    const first = await run();
    expect(first.status).toBe("succeeded");
    expect(Object.values(statuses(first)).every((s) => s === "succeeded")).toBe(true);
    expect(counter().sort()).toEqual(["blob", "load", "normalize", "scale", "shout", "total"]);

    resetCounter();
    const second = await run();
    expect(Object.values(statuses(second))).toEqual(Array(6).fill("cached"));
    expect(counter()).toEqual([]);
    expect(second.steps.map((s) => s.cacheKey)).toEqual(first.steps.map((s) => s.cacheKey));

    const a = await runJson<{ steps: Array<{ stepId: string; outputs: Record<string, string> }> }>(["show", first.runId], { cwd: ws.root });
    const b = await runJson<{ steps: Array<{ stepId: string; outputs: Record<string, string> }> }>(["show", second.runId], { cwd: ws.root });
    const outs = (x: typeof a.json) => Object.fromEntries(x.steps.map((s) => [s.stepId, s.outputs]));
    expect(outs(b.json)).toEqual(outs(a.json));
  });

  it("reruns exactly a mid-graph step and its descendants when its param changes, and explain names the param path old → new", async () => {
    await run();
    resetCounter();
    const explain = await runCli(["explain", "demo", "--param", "factor=2"], { cwd: ws.root });
    expect(explain.code).toBe(0);
    expect(explain.stdout).toMatch(/^scale: miss .*\n\s+param factor: 1 → 2$/m);
    expect(explain.stdout).toMatch(/^load: hit/m);
    expect(explain.stdout).toMatch(/^total: depends on a step that must run first/m);

    const r = await run("--param", "factor=2");
    expect(statuses(r)).toEqual({ load: "cached", normalize: "cached", scale: "succeeded", total: "succeeded", shout: "cached", blob: "cached" });
    expect(counter().sort()).toEqual(["scale", "total"]);
  });

  it("reruns a step whose code changed, and the steps after it", async () => {
    await run();
    resetCounter();
    ws.write("steps/total.ts", ws.read("steps/total.ts").replace("reduce((a, b) => a + b, 0)", "reduce((a, b) => a + b, 1)"));
    age("steps/total.ts");
    const r = await run();
    expect(statuses(r).total).toBe("succeeded");
    expect(counter()).toEqual(["total"]);
    const explain = await runJson<{ steps: Array<{ id: string; decision: string }> }>(["explain", "demo"], { cwd: ws.root });
    expect(explain.json.steps.every((s) => s.decision === "cached")).toBe(true);
  });

  it("reruns nothing when only comments and formatting of a step module change", async () => {
    await run();
    resetCounter();
    const src = ws.read("steps/lib.ts");
    ws.write("steps/lib.ts", `// a new comment\n${src.replace(/\n {2}run\(/g, "\n  /* why */ run(").replace(/ {4}count\(stepId\);/g, "        count( stepId )  ;")}`);
    age("steps/lib.ts");
    const r = await run();
    expect(Object.values(statuses(r))).toEqual(Array(6).fill("cached"));
    expect(counter()).toEqual([]);
  });

  it("reruns a step when a local helper module it imports changes, and explain names the file", async () => {
    await run();
    resetCounter();
    ws.write("steps/shout-helper.ts", ws.read("steps/shout-helper.ts").replace('"!"', '"!!"'));
    age("steps/shout-helper.ts");
    const explain = await runCli(["explain", "demo"], { cwd: ws.root });
    expect(explain.stdout).toMatch(/^shout: miss .*\n\s+code steps\/shout-helper\.ts changed$/m);
    const r = await run();
    expect(statuses(r).shout).toBe("succeeded");
    expect(counter()).toEqual(["shout"]);
  });

  it("keeps dependents cached when an upstream step reruns but yields identical bytes (early cutoff)", async () => {
    await run();
    resetCounter();
    ws.write("data/input.txt", "HELLO WORLD  \nSluice caches steps\nBY CONTENT\n");
    const r = await run();
    expect(statuses(r)).toEqual({ load: "succeeded", normalize: "succeeded", scale: "cached", total: "cached", shout: "cached", blob: "cached" });
    expect(counter().sort()).toEqual(["load", "normalize"]);
  });

  it("reruns forced steps with --force and every step with --force-all", async () => {
    await run();
    resetCounter();
    const one = await run("--force", "shout");
    expect(statuses(one).shout).toBe("succeeded");
    expect(counter()).toEqual(["shout"]);
    resetCounter();
    await run("--force-all");
    expect(counter()).toHaveLength(6);
  });

  it("detects a corrupted cache object on the next run, says so, and reruns the step", async () => {
    const first = await run();
    const shown = await runJson<{ steps: Array<{ stepId: string; outputs: Record<string, string> }> }>(["show", first.runId], { cwd: ws.root });
    const digest = shown.json.steps.find((s) => s.stepId === "blob")!.outputs.file!;
    const hex = digest.slice("sha256:".length);
    const object = ws.path(`cache/objects/${hex.slice(0, 2)}/${hex.slice(2)}`);
    expect(fs.existsSync(object)).toBe(true);
    fs.chmodSync(object, 0o644);
    fs.writeFileSync(object, "corrupted bytes");
    resetCounter();
    const r = await runJson<RunJson>(["run", "demo"], { cwd: ws.root });
    expect(r.code).toBe(0);
    expect(statuses(r.json).blob).toBe("succeeded");
    expect(counter()).toEqual(["blob"]);
    const again = await runCli(["run", "demo"], { cwd: ws.root });
    expect(again.stderr).toMatch(/6 cached · 0 ran/);
    const warned = await runCli(["show", r.json.runId, "--logs"], { cwd: ws.root });
    expect(warned.stdout).toMatch(/blob: cached output "file" \(sha256:[0-9a-f]+\) is corrupt in the cache; the step reruns/);
    expect(fs.readFileSync(object, "utf8")).not.toBe("corrupted bytes");
  });
});
