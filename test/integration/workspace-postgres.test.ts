import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runJson } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

const BASE = "postgres://postgres@127.0.0.1:5432/test";
const schema = `ws_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const url = `${BASE}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
let tw: TestWorkspace;

beforeAll(async () => {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  tw = createTestWorkspace(DEMO_FILES);
});

afterAll(async () => {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
  tw.remove();
});

describe("run records on PostgreSQL", () => {
  it("records CLI runs in the database named by SLUICE_DATABASE_URL, and a second workspace on the same database sees them", async () => {
    const r = await runJson<{ runId: string; status: string }>(["run", "demo"], { cwd: tw.root, env: { SLUICE_DATABASE_URL: url } });
    expect(r.code, r.stderr).toBe(0);
    const other = createTestWorkspace(DEMO_FILES);
    try {
      const ws = await Workspace.open(await loadConfig({ root: other.root, env: { SLUICE_DATABASE_URL: url } }));
      const run = await ws.runs.getRun(r.json.runId);
      expect(run).toMatchObject({ pipeline: "demo", status: "succeeded", trigger: "cli" });
      expect((await ws.runs.listStepRuns(r.json.runId)).map((s) => s.status)).toEqual(Array(6).fill("succeeded"));
      await ws.close();
    } finally {
      other.remove();
    }
    const c = new pg.Client({ connectionString: BASE });
    await c.connect();
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${schema}.runs`);
    await c.end();
    expect(rows[0].n).toBe(1);
  });
});
