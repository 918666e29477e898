import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

let ws: TestWorkspace;
beforeEach(() => {
  ws = createTestWorkspace(DEMO_FILES);
});
afterEach(() => ws.remove());

/** Nothing was cached: no action-cache entry exists. */
async function expectNothingCached(): Promise<void> {
  const stats = await runJson<{ entries: number }>(["cache", "stats"], { cwd: ws.root });
  expect(stats.json.entries).toBe(0);
}

describe("bad input gets one clear message, exit 2, and writes nothing", () => {
  it("names the unknown pipeline and lists the ones that exist", async () => {
    const r = await runCli(["run", "nope"], { cwd: ws.root });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SLUICE_PIPELINE_NOT_FOUND: no pipeline "nope"');
    expect(r.stderr).toMatch(/Pipelines: .*demo/);
    await expectNothingCached();
  });

  it("rejects a param of the wrong type, out of range, or unknown, naming it", async () => {
    const wrongType = await runCli(["run", "demo", "--param", "factor=abc"], { cwd: ws.root });
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain('SLUICE_PARAMS_INVALID: pipeline "demo" › param "factor" must be number (got "abc")');
    const range = await runCli(["run", "demo", "--param", "factor=1000"], { cwd: ws.root });
    expect(range.code).toBe(2);
    expect(range.stderr).toContain('param "factor" must be <= 100 (got 1000)');
    const unknown = await runJson(["run", "demo", "--param", "fator=2"], { cwd: ws.root });
    expect(unknown.code).toBe(2);
    expect(unknown.json.error.code).toBe("SLUICE_PARAMS_INVALID");
    expect(unknown.json.error.message).toContain('param "fator" is not a known param');
    expect(unknown.json.error.message).toContain("params: factor");
    const runs = await runJson<unknown[]>(["runs"], { cwd: ws.root });
    expect(runs.json).toEqual([]);
    await expectNothingCached();
  });

  it("reports a cycle with its path", async () => {
    const r = await runCli(["run", "cyclic"], { cwd: ws.root });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("SLUICE_PLAN_INVALID");
    expect(r.stderr).toMatch(/cycle "(a|b)" → "(a|b)" → "\1"/);
    await expectNothingCached();
  });

  it("fails a run whose input file is missing with exit 2 and a failed run record, running no step", async () => {
    const r = await runCli(["run", "missing"], { cwd: ws.root });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("SLUICE_INPUT_MISSING");
    expect(r.stderr).toContain('file "data/does-not-exist.txt"');
    expect(ws.exists("counter.log")).toBe(false);
    const runs = await runJson<Array<{ pipeline: string; status: string; error: { code: string } }>>(["runs"], { cwd: ws.root });
    expect(runs.json).toHaveLength(1);
    expect(runs.json[0]).toMatchObject({ pipeline: "missing", status: "failed", error: { code: "SLUICE_INPUT_MISSING" } });
    await expectNothingCached();
  });

  it("names sluice.config.ts and the bad key when the config is invalid or does not parse", async () => {
    ws.write("sluice.config.ts", 'export default { concurrency: "lots" };\n');
    const bad = await runCli(["run", "demo"], { cwd: ws.root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SLUICE_CONFIG_INVALID: .*sluice\.config\.ts: invalid settings:\n\s+- concurrency must be integer \(got "lots"\)/);
    ws.write("sluice.config.ts", "export default { concurrency: 2,\n");
    const broken = await runCli(["run", "demo"], { cwd: ws.root });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/SLUICE_CONFIG_INVALID: .*sluice\.config\.ts could not be loaded/);
    expect(ws.exists("counter.log")).toBe(false);
  });

  it("names a bad SLUICE_* environment variable", async () => {
    const r = await runCli(["ls"], { cwd: ws.root, env: { SLUICE_CONCURRENCY: "many" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SLUICE_CONFIG_INVALID: environment variable SLUICE_CONCURRENCY="many" is not a whole number');
  });

  it("rejects unknown flags and commands as usage errors, and --force of an unknown step", async () => {
    const flag = await runCli(["run", "demo", "--frce", "x"], { cwd: ws.root });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("SLUICE_USAGE: sluice run: Unknown option '--frce'");
    const cmd = await runCli(["rn"], { cwd: ws.root });
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain('unknown command "rn"');
    const force = await runCli(["run", "demo", "--force", "nope"], { cwd: ws.root });
    expect(force.code).toBe(2);
    expect(force.stderr).toContain('--force nope: pipeline "demo" has no step "nope"');
  });

  it("prints help for every command with exit 0", async () => {
    for (const cmd of ["run", "ls", "runs", "show", "explain", "cache"]) {
      const r = await runCli([cmd, "--help"], { cwd: ws.root });
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(new RegExp(`^Usage: sluice ${cmd}`));
    }
  });
});
