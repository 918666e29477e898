import { afterEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

let ws: TestWorkspace;
afterEach(() => ws.remove());

describe("looking at a workspace", () => {
  it("lists pipelines, filters runs by status, and reports then prunes the cache", async () => {
    ws = createTestWorkspace(DEMO_FILES);
    const ls = await runJson<Array<{ name: string; params: Record<string, { default: unknown }> }>>(["ls"], { cwd: ws.root });
    expect(ls.json.map((p) => p.name).sort()).toEqual(["cyclic", "demo", "gated", "missing"]);
    expect(ls.json.find((p) => p.name === "demo")!.params.factor!.default).toBe(1);

    await runCli(["run", "demo"], { cwd: ws.root });
    await runCli(["run", "missing"], { cwd: ws.root });
    const failed = await runJson<Array<{ pipeline: string }>>(["runs", "--status", "failed"], { cwd: ws.root });
    expect(failed.json.map((r) => r.pipeline)).toEqual(["missing"]);
    const badStatus = await runCli(["runs", "--status", "weird"], { cwd: ws.root });
    expect(badStatus.code).toBe(2);

    const stats = await runJson<{ entries: number; objects: number }>(["cache", "stats"], { cwd: ws.root });
    expect(stats.json.entries).toBe(6);
    const dry = await runCli(["cache", "prune", "--older-than", "0s", "--keep-runs", "0"], { cwd: ws.root });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("would remove 6 of 6 entries");
    expect(dry.stdout).toContain("dry run: pass --apply to delete");
    const after = await runJson<{ entries: number }>(["cache", "stats"], { cwd: ws.root });
    expect(after.json.entries).toBe(6);
    const applied = await runCli(["cache", "prune", "--older-than", "0s", "--keep-runs", "0", "--apply"], { cwd: ws.root });
    expect(applied.stdout).toContain("removed 6 of 6 entries");
    const bad = await runCli(["cache", "prune", "--older-than", "soon"], { cwd: ws.root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--older-than "soon" is not a duration');
  });
});
