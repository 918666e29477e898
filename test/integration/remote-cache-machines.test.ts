import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { startCacheServer, type CacheServer } from "../helpers/cache-server.ts";
import { runJson } from "../helpers/cli.ts";
import { SHARED_CACHE_FILES, SHARED_STEPS } from "../fixtures/shared-cache-workspace.ts";

// Two "machines": two workspace folders, each with its own cache folder, running the built CLI,
// sharing one cache server (real turborepo-remote-cache) and one PostgreSQL run store.
const BASE = "postgres://postgres@127.0.0.1:5432/test";
const schema = `rc_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const dbUrl = `${BASE}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
let server: CacheServer;
const machines: TestWorkspace[] = [];

async function sql(text: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await sql(`CREATE SCHEMA ${schema}`);
  server = await startCacheServer();
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  for (const m of machines) m.remove();
});

function env(): Record<string, string> {
  return {
    SLUICE_DATABASE_URL: dbUrl,
    SLUICE_REMOTE_CACHE_URL: server.url,
    SLUICE_REMOTE_CACHE_TOKEN: server.token,
    SLUICE_REMOTE_CACHE_TEAM: `machines-${process.pid}`,
    SLUICE_REMOTE_CACHE_SIGNING_KEY: "shared-secret-of-the-team-0123",
  };
}

interface RunJson {
  runId: string;
  status: string;
  steps: Array<{ id: string; status: string; cacheKey: string }>;
}

describe("two machines sharing a cache server and PostgreSQL", () => {
  it("the second machine's run of the same pipeline is fully cached: every step cached, no step code executed", async () => {
    const a = createTestWorkspace(SHARED_CACHE_FILES);
    const b = createTestWorkspace(SHARED_CACHE_FILES);
    machines.push(a, b);

    const first = await runJson<RunJson>(["run", "shared"], { cwd: a.root, env: env() });
    expect(first.code, first.stderr).toBe(0);
    expect(first.json.steps.map((s) => s.status)).toEqual(SHARED_STEPS.map(() => "succeeded"));
    expect(a.read("counter.log").split("\n").filter(Boolean)).toEqual([...SHARED_STEPS]);

    const second = await runJson<RunJson>(["run", "shared"], { cwd: b.root, env: env() });
    expect(second.code, second.stderr).toBe(0);
    expect(second.json.steps.map((s) => [s.id, s.status])).toEqual(SHARED_STEPS.map((id) => [id, "cached"]));
    expect(b.exists("counter.log")).toBe(false); // no step code ran on machine b
    expect(second.json.steps.map((s) => s.cacheKey)).toEqual(first.json.steps.map((s) => s.cacheKey));
    expect(second.stderr).not.toMatch(/remote cache/);

    // Both runs are in the shared run store, seen from either machine.
    const ws = await Workspace.open(await loadConfig({ root: b.root, env: { SLUICE_DATABASE_URL: dbUrl } }));
    try {
      expect((await ws.runs.getRun(first.json.runId))?.status).toBe("succeeded");
      expect((await ws.runs.listStepRuns(second.json.runId)).map((s) => s.status)).toEqual(SHARED_STEPS.map(() => "cached"));
    } finally {
      await ws.close();
    }
    const rows = await sql(`SELECT count(*)::int AS n FROM ${schema}.runs`);
    expect(rows[0]!.n).toBe(2);
  }, 120_000);
});
