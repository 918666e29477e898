import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { startCacheServer, type CacheServer } from "../helpers/cache-server.ts";
import { runCli, runJson } from "../helpers/cli.ts";
import { dropPrefix, killWorker, SHARED_REDIS, startWorker, uniquePrefix, type WorkerProcess } from "../helpers/remote.ts";
import { REMOTE_FILES } from "../fixtures/remote-workspace.ts";

// Two "machines": the coordinator's checkout and the worker's, each with its own cache folder,
// sharing only Redis and a real cache server (turborepo-remote-cache).
let server: CacheServer;
let prefix: string;
let worker: WorkerProcess | undefined;
const machines: TestWorkspace[] = [];

beforeAll(async () => {
  server = await startCacheServer();
}, 30_000);

afterAll(async () => {
  await server?.stop();
});

afterEach(async () => {
  await killWorker(worker);
  await dropPrefix(SHARED_REDIS, prefix);
  for (const m of machines.splice(0)) m.remove();
});

function env(): Record<string, string> {
  return {
    SLUICE_REDIS_URL: SHARED_REDIS,
    SLUICE_REDIS_PREFIX: prefix,
    SLUICE_REMOTE_CACHE_URL: server.url,
    SLUICE_REMOTE_CACHE_TOKEN: server.token,
    SLUICE_REMOTE_CACHE_TEAM: prefix,
    SLUICE_REMOTE_CACHE_SIGNING_KEY: "shared-secret-of-the-team-0123",
  };
}

describe("remote steps on a worker that shares only Redis and the cache server", () => {
  it("gets its inputs from the cache server and hands its outputs back through it", async () => {
    prefix = uniquePrefix();
    const coordinator = createTestWorkspace(REMOTE_FILES);
    const other = createTestWorkspace(REMOTE_FILES);
    machines.push(coordinator, other);
    other.write("release", "");
    worker = await startWorker(["--workspace", other.root, "--queue", "slow"], { cwd: other.root, env: env() });

    const r = await runJson<{ runId: string; status: string }>(["run", "held"], { cwd: coordinator.root, env: env() });
    expect(r.code, r.stderr).toBe(0);
    // The step ran on the other machine, from its own checkout and cache folder.
    expect(other.read("finished.log").trim()).toBe(String(worker.pid));
    expect(fs.existsSync(other.path("cache"))).toBe(true);
    const loud = await runCli(["show", r.json.runId, "--output", "hold.loud"], { cwd: coordinator.root, env: env() });
    expect(loud.stdout).toContain("REMOTE STEPS READ THEIR SOURCES FROM THE SHARED CACHE");
    const copy = await runCli(["show", r.json.runId, "--output", "hold.copy"], { cwd: coordinator.root, env: env() });
    expect(copy.stdout.length).toBe(fs.readFileSync(coordinator.path("data/words.txt"), "utf8").length * 1000);
    const verify = await runCli(["cache", "verify"], { cwd: coordinator.root, env: env() });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
