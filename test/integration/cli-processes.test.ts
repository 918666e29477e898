import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson, startCli, until } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

let ws: TestWorkspace;
const counter = (): string[] => (ws.exists("counter.log") ? ws.read("counter.log").split("\n").filter(Boolean) : []);

beforeEach(() => {
  ws = createTestWorkspace(DEMO_FILES);
  ws.write("block", "");
});
afterEach(() => ws.remove());

/** Lets the waiting `gate` step finish. */
function releaseGate(): void {
  fs.rmSync(ws.path("block"));
}

describe("several processes on one workspace", () => {
  it("recovers from kill -9 mid-run: the run shows interrupted, finished steps are hits, the cache verifies", async () => {
    const a = startCli(["run", "gated"], { cwd: ws.root });
    await until(() => counter().includes("gate"), "the gate step to start");
    a.child.kill("SIGKILL");
    const killed = await a.done;
    expect(killed.signal).toBe("SIGKILL");
    fs.rmSync(ws.path("block"));

    const second = await runJson<{ status: string; steps: Array<{ id: string; status: string }> }>(["run", "gated"], { cwd: ws.root });
    expect(second.code).toBe(0);
    expect(Object.fromEntries(second.json.steps.map((s) => [s.id, s.status]))).toEqual({ load: "cached", normalize: "cached", gate: "succeeded" });
    expect(counter()).toEqual(["load", "normalize", "gate", "gate"]);

    const runs = await runJson<Array<{ status: string }>>(["runs"], { cwd: ws.root });
    expect(runs.json.map((r) => r.status)).toEqual(["succeeded", "interrupted"]);
    const verify = await runCli(["cache", "verify"], { cwd: ws.root });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/none corrupt/);
    expect(fs.readdirSync(ws.path("cache/tmp"))).toEqual([]);
  });

  it("lets two runs at once share the cache: the shared step runs once while the other run waits for it", async () => {
    const a = startCli(["run", "gated", "--json"], { cwd: ws.root });
    await until(() => counter().includes("gate"), "run A to start the gate step");
    const b = startCli(["run", "gated"], { cwd: ws.root });
    await until(() => /gate: waiting, another run is making it/.test(b.stderrSoFar()), "run B to wait for run A's gate step");
    releaseGate();
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const steps = (out: string) => Object.fromEntries((JSON.parse(out) as { steps: Array<{ id: string; status: string }> }).steps.map((s) => [s.id, s.status]));
    expect(steps(ra.stdout)).toEqual({ load: "succeeded", normalize: "succeeded", gate: "succeeded" });
    expect(rb.stderr).toMatch(/3 cached · 0 ran \(3\/3\).* · succeeded/);
    expect(counter().filter((c) => c === "gate")).toHaveLength(1);
    const verify = await runCli(["cache", "verify"], { cwd: ws.root });
    expect(verify.code).toBe(0);
  });

  it("exits 130 on Ctrl-C, records the running step cancelled, and caches nothing for it", async () => {
    const a = startCli(["run", "gated", "--json"], { cwd: ws.root });
    await until(() => counter().includes("gate"), "the gate step to start");
    a.child.kill("SIGINT");
    const r = await a.done;
    expect(r.code).toBe(130);
    const out = JSON.parse(r.stdout) as { status: string; steps: Array<{ id: string; status: string }> };
    expect(out.status).toBe("cancelled");
    expect(out.steps.find((s) => s.id === "gate")!.status).toBe("cancelled");
    const explain = await runJson<{ steps: Array<{ id: string; decision: string }> }>(["explain", "gated"], { cwd: ws.root });
    expect(Object.fromEntries(explain.json.steps.map((s) => [s.id, s.decision]))).toEqual({ load: "cached", normalize: "cached", gate: "run" });
  });
});
