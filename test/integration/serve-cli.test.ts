/**
 * The `sluice serve`, `sluice token` and `sluice audit` commands as a user runs them: the bundled
 * CLI as a child process, a real SQLite run database, HTTP on loopback.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson, startCli, until } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";
import { readSse } from "./serve-harness.ts";

let tw: TestWorkspace | undefined;
afterEach(() => tw?.remove());

describe("sluice serve, token and audit", () => {
  it("serves /healthz, runs a pipeline for a token made by `sluice token create`, and exits 0 on SIGINT", async () => {
    tw = createTestWorkspace(DEMO_FILES);
    const created = await runJson<{ name: string; role: string; token: string }>(["token", "create", "--role", "operator", "--name", "ci"], { cwd: tw.root });
    expect(created.code, created.stderr).toBe(0);
    expect(created.json).toMatchObject({ name: "ci", role: "operator" });
    const token = created.json.token;
    expect(token).toMatch(/^slc_[A-Za-z0-9_-]{43}$/);
    const plain = await runCli(["token", "create", "--role", "viewer", "--name", "dash"], { cwd: tw.root });
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^slc_/);
    expect(plain.stderr).toContain("shown only now");

    const serve = startCli(["serve", "--port", "0", "--json"], { cwd: tw.root });
    let stdout = "";
    serve.child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    let url = "";
    await until(() => {
      const m = /"url": "([^"]+)"/.exec(stdout);
      if (m) url = m[1]!;
      return url !== "" || serve.child.exitCode !== null;
    }, "sluice serve to print its URL");
    expect(url, serve.stderrSoFar()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok" });
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(`${url}/api/v1/runs`)).status).toBe(401);
    const res = await fetch(`${url}/api/v1/pipelines/demo/runs`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ params: { factor: 2 } }) });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    const events = await readSse(await fetch(`${url}/api/v1/runs/${runId}/events`, { headers: auth }));
    expect(events.at(-1)!.data).toMatchObject({ type: "run.finished", status: "succeeded" });
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^sluice_runs_total\{status="succeeded"\} 1$/m);
    // The endpoint and schedule route groups are served by the same process.
    expect((await fetch(`${url}/api/v1/schedules`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/endpoints`, { headers: auth })).status).toBe(200);

    const revoked = await runCli(["token", "revoke", "ci"], { cwd: tw.root });
    expect(revoked.code, revoked.stderr).toBe(0);
    // Revoked in another process: the server trusts a checked token for at most TOKEN_TRUST_MS (1 s).
    const revokedAt = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - revokedAt < 10_000) status = (await fetch(`${url}/api/v1/runs`, { headers: auth })).status;
    expect(status).toBe(401);

    serve.child.kill("SIGINT");
    const done = await serve.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain("stopped");

    const list = await runJson<Array<{ name: string; role: string; revokedAt: number | null }>>(["token", "list"], { cwd: tw.root });
    // live = not revoked: ci was revoked above, dash was not.
    expect(list.json.map((t) => [t.name, t.role, t.revokedAt === null])).toEqual([
      ["ci", "operator", false],
      ["dash", "viewer", true],
    ]);
    const audit = await runJson<Array<{ actor: string; action: string; target: string; result: string }>>(["audit", "--limit", "10"], { cwd: tw.root });
    expect(audit.code).toBe(0);
    expect(audit.json).toContainEqual(expect.objectContaining({ actor: "ci", action: "run.start", target: "pipeline/demo", result: "ok" }));
    const table = await runCli(["audit"], { cwd: tw.root });
    expect(table.stdout).toMatch(/ci\s+run\.start\s+pipeline\/demo\s+ok\s+202/);
  });

  it("refuses a token without a role or name, an unknown role and a revoke of an unknown name, with usage errors", async () => {
    tw = createTestWorkspace(DEMO_FILES);
    expect((await runCli(["token", "create", "--name", "x"], { cwd: tw.root })).code).toBe(2);
    expect((await runCli(["token", "create", "--role", "root", "--name", "x"], { cwd: tw.root })).stderr).toMatch(/SLUICE_USAGE: .*viewer, operator, admin/);
    const unknown = await runJson<{ error: { code: string } }>(["token", "revoke", "nobody"], { cwd: tw.root });
    expect(unknown.code).toBe(2);
    expect(unknown.json.error.code).toBe("SLUICE_TOKEN_NOT_FOUND");
    for (const cmd of ["serve", "token", "audit"]) expect((await runCli([cmd, "--help"], { cwd: tw.root })).stdout).toMatch(new RegExp(`^Usage: sluice ${cmd}`));
  });
});
