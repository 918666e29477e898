import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson, startCli, until } from "../helpers/cli.ts";
import { freePort, killWorker, startOwnRedis, startWorker, type OwnRedis, type WorkerProcess } from "../helpers/remote.ts";
import { REMOTE_FILES } from "../fixtures/remote-workspace.ts";

let ws: TestWorkspace;
let redis: OwnRedis | undefined;
let worker: WorkerProcess | undefined;

beforeEach(() => {
  ws = createTestWorkspace(REMOTE_FILES);
});

afterEach(async () => {
  await killWorker(worker);
  await redis?.stop();
  ws.remove();
});

describe("Redis stopped in the middle of a run", () => {
  it("fails the run clearly, leaves no corrupt cache object, and a run after Redis is back succeeds", async () => {
    // This test's own throwaway redis-server: the shared one is never stopped.
    const port = await freePort();
    redis = await startOwnRedis(port);
    const env = { SLUICE_REDIS_URL: redis.url, SLUICE_REDIS_PREFIX: "sluice", SLUICE_REDIS_TIMEOUT_MS: "1000" };
    worker = await startWorker(["--workspace", ws.root, "--queue", "slow"], { cwd: ws.root, env });
    const run = startCli(["run", "held", "--json"], { cwd: ws.root, env });
    await until(() => ws.exists(`running-${worker!.pid}`), "the step to run on the worker");

    await redis.stop();
    // The step finishes on the worker while Redis is gone: it writes its outputs into the cache.
    ws.write("release", "");
    const r = await run.done;
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { status: string; error: { code: string; message: string } };
    expect(out.status).toBe("failed");
    expect(out.error.code).toBe("SLUICE_REMOTE_UNAVAILABLE");
    expect(out.error.message).toMatch(new RegExp(`step "hold": Redis at redis://127.0.0.1:${port} has been unreachable for 1000 ms, so remote steps cannot run or report\\. Start Redis`));
    await until(() => ws.exists("finished.log"), "the worker to finish the step");

    const verify = await runCli(["cache", "verify"], { cwd: ws.root, env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/none corrupt/);

    // Redis back (empty: no persistence): the worker reconnects by itself and the next run succeeds.
    redis = await startOwnRedis(port);
    const again = await runJson<{ status: string; steps: Array<{ id: string; status: string }> }>(["run", "held"], { cwd: ws.root, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.steps).toEqual([expect.objectContaining({ id: "hold", status: "succeeded" })]);
    const after = await runCli(["cache", "verify"], { cwd: ws.root, env });
    expect(after.code).toBe(0);
  });

  it("fails a step whose job a restarted, empty Redis lost, instead of waiting for it forever", async () => {
    const port = await freePort();
    redis = await startOwnRedis(port);
    const env = { SLUICE_REDIS_URL: redis.url, SLUICE_REDIS_PREFIX: "sluice", SLUICE_REDIS_TIMEOUT_MS: "60000" };
    worker = await startWorker(["--workspace", ws.root, "--queue", "slow"], { cwd: ws.root, env });
    const run = startCli(["run", "held", "--json"], { cwd: ws.root, env });
    await until(() => ws.exists(`running-${worker!.pid}`), "the step to run on the worker");
    // Back at once, with nothing in it (no persistence): well within the run's patience for Redis.
    await redis.stop();
    redis = await startOwnRedis(port);
    const r = await run.done;
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(out.error.code).toBe("SLUICE_REMOTE_UNAVAILABLE");
    expect(out.error.message).toMatch(/step "hold": its job \S+ is gone from Redis \(restarted without persistence, or flushed\)\. Run again\./);
  });
});
