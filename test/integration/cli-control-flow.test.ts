import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "sluice/testing";
import { generateSales, salesToCsv } from "../../steps/forecast/sales.ts";
import { runCli, runJson, startCli, until } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

let ws: TestWorkspace;
afterEach(() => ws.remove());

interface RunOut {
  runId: string;
  status: string;
  steps: Array<{ id: string; status: string; mapId?: string }>;
}

describe("many-models", () => {
  it("trains one model per store, reruns fully cached, and retrains exactly one store after one store's rows change", async () => {
    ws = createTestWorkspace();
    for (const rel of ["pipelines/many-models.ts", "steps/forecast", "steps/ml/rng.ts"]) fs.cpSync(path.join(sluicePackageRoot(), rel), ws.path(rel), { recursive: true });
    ws.write("data/sales.csv", salesToCsv(generateSales(200, 104, 7)));
    const args = ["run", "many-models", "--param", "csv=data/sales.csv"];
    const trained = (r: RunOut) => r.steps.filter((s) => s.mapId === "train" && s.status === "succeeded").map((s) => s.id);

    const cold = await runJson<RunOut>(args, { cwd: ws.root });
    expect(cold.code, cold.stderr).toBe(0);
    expect(trained(cold.json)).toHaveLength(200);

    const warm = await runJson<RunOut>(args, { cwd: ws.root });
    expect(warm.json.steps.every((s) => s.status === "cached")).toBe(true);

    const csv = ws.read("data/sales.csv").split("\n");
    const row = csv.findIndex((l) => l.startsWith("store-0017,50,"));
    csv[row] = "store-0017,50,99999.99";
    ws.write("data/sales.csv", csv.join("\n"));
    const edited = await runJson<RunOut>(args, { cwd: ws.root });
    expect(trained(edited.json)).toEqual(["train[store-0017]"]);
    const ran = edited.json.steps.filter((s) => s.status === "succeeded" && !s.mapId).map((s) => s.id).sort();
    expect(ran).toEqual(["leaderboard", "read-sales", "train"]);
    const human = await runCli(args, { cwd: ws.root });
    expect(human.stderr).toContain("✓ map train: 200 cached · 0 ran");
    expect(human.stderr.split("\n").length).toBeLessThan(10);
  });
});

describe("cancel and resume", () => {
  it("after Ctrl-C, --resume reruns only what had not finished and says which steps' code changed", async () => {
    ws = createTestWorkspace(DEMO_FILES);
    ws.write("block", "");
    const a = startCli(["run", "gated", "--json"], { cwd: ws.root });
    await until(() => ws.exists("counter.log") && ws.read("counter.log").includes("gate"), "the gate step to start");
    a.child.kill("SIGINT");
    const cancelled = await a.done;
    expect(cancelled.code).toBe(130);
    const runId = (JSON.parse(cancelled.stdout) as RunOut).runId;
    fs.rmSync(ws.path("block"));
    fs.rmSync(ws.path("counter.log"));

    const resumed = await runCli(["run", "--resume", runId], { cwd: ws.root });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming run ${runId} of gated (cancelled)`);
    expect(resumed.stderr).not.toContain("code changed");
    expect(ws.read("counter.log").split("\n").filter(Boolean)).toEqual(["gate"]);
    fs.rmSync(ws.path("counter.log"));

    ws.write("steps/lib.ts", ws.read("steps/lib.ts").replace("return { n: inputs.lines.length };", "return { n: inputs.lines.length + 0 * 1 };"));
    const past = new Date(Date.now() - 10_000);
    fs.utimesSync(ws.path("steps/lib.ts"), past, past);
    const changed = await runCli(["run", "--resume", runId], { cwd: ws.root });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toContain("code changed since: steps/lib.ts");
    expect(changed.stderr).toMatch(/steps affected \(they rerun\): load, normalize, gate/);
    // lib.ts holds all three steps, so all three rerun.
    expect(ws.read("counter.log").split("\n").filter(Boolean)).toEqual(["load", "normalize", "gate"]);

    const again = await runJson<RunOut>(["run", "--resume", runId], { cwd: ws.root });
    expect(again.json.steps.map((s) => s.status)).toEqual(["cached", "cached", "cached"]);
  });

  it("resumes with the same params and refuses new ones", async () => {
    ws = createTestWorkspace(DEMO_FILES);
    const first = await runJson<RunOut>(["run", "demo", "--param", "factor=3"], { cwd: ws.root });
    const resumed = await runJson<RunOut & { steps: Array<{ status: string }> }>(["run", "--resume", first.json.runId], { cwd: ws.root });
    expect(resumed.json.steps.every((s) => s.status === "cached")).toBe(true);
    const bad = await runCli(["run", "--resume", first.json.runId, "--param", "factor=4"], { cwd: ws.root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--resume reruns with the run's own params");
    const missing = await runCli(["run", "--resume", "r-nope"], { cwd: ws.root });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('SLUICE_RUN_NOT_FOUND: no run "r-nope" to resume');
  });
});
