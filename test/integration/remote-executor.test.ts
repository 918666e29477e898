import fs from "node:fs";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { runCli, runJson, startCli, until } from "../helpers/cli.ts";
import { dropPrefix, killWorker, SHARED_REDIS, startWorker, uniquePrefix, untilValue, type WorkerProcess } from "../helpers/remote.ts";
import { REMOTE_FILES } from "../fixtures/remote-workspace.ts";
import { cancelChannel } from "../../src/executors/remote/protocol.ts";

let ws: TestWorkspace;
let prefix: string;
let env: Record<string, string>;
const workers: WorkerProcess[] = [];

beforeEach(() => {
  ws = createTestWorkspace(REMOTE_FILES);
  prefix = uniquePrefix();
  env = { SLUICE_REDIS_URL: SHARED_REDIS, SLUICE_REDIS_PREFIX: prefix };
});

afterEach(async () => {
  for (const w of workers.splice(0)) await killWorker(w);
  await dropPrefix(SHARED_REDIS, prefix);
  ws.remove();
});

async function worker(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<WorkerProcess> {
  const w = await startWorker(["--workspace", opts.cwd ?? ws.root, ...args], { cwd: opts.cwd ?? ws.root, env: { ...env, ...opts.env } });
  workers.push(w);
  return w;
}

interface Shown {
  steps: Array<{ stepId: string; status: string; executor: string; worker: string | null }>;
  logs: Array<{ stepId: string | null; msg: string; data: Record<string, unknown> | null }>;
  metrics: Array<{ stepId: string; name: string; value: number }>;
}

describe("remote steps on sluice worker processes", () => {
  it("spreads a pipeline over two workers and the coordinator, and records each step's worker, logs and metrics", async () => {
    const a = await worker(["--queue", "default"]);
    const b = await worker(["--queue", "default"]);
    const r = await runJson<{ runId: string; status: string }>(["run", "spread"], { cwd: ws.root, env });
    expect(r.code, r.stderr).toBe(0);
    const shown = await runJson<Shown>(["show", r.json.runId], { cwd: ws.root, env });
    const squares = shown.json.steps.filter((s) => s.stepId.startsWith("square["));
    expect(squares).toHaveLength(6);
    expect(squares.every((s) => s.status === "succeeded" && s.executor === "remote")).toBe(true);
    // Both workers ran steps (each held its first job until the other held one).
    expect(new Set(squares.map((s) => s.worker))).toEqual(new Set([a.label, b.label]));
    expect(fs.readdirSync(ws.path("started")).sort()).toEqual([String(a.pid), String(b.pid)].sort());
    // The coordinator ran the local steps itself.
    const local = shown.json.steps.filter((s) => s.stepId === "seed" || s.stepId === "sum");
    expect(local.map((s) => [s.stepId, s.status, s.executor, s.worker])).toEqual([["seed", "succeeded", "inline", null], ["sum", "succeeded", "inline", null]]);
    const total = await runCli(["show", r.json.runId, "--output", "sum.total"], { cwd: ws.root, env });
    expect(total.stdout.trim()).toBe("91");
    // Log lines and metric points streamed back from the workers into the run record.
    expect(shown.json.logs.filter((l) => l.msg === "squared on a worker").map((l) => l.data?.n).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(shown.json.metrics.filter((m) => m.name === "square").map((m) => m.value).sort((x, y) => x - y)).toEqual([1, 4, 9, 16, 25, 36]);

    // A second run is served from the cache: nothing reaches the workers.
    const again = await runJson<{ steps: Array<{ id: string; status: string }> }>(["run", "spread"], { cwd: ws.root, env });
    expect(again.json.steps.every((s) => s.status === "cached")).toBe(true);
  });

  it("hands the job of a worker killed mid-step (SIGKILL) to another worker, and the run succeeds", async () => {
    const fast = ["--queue", "slow", "--lock-duration", "1s", "--stalled-interval", "300ms"];
    const a = await worker(fast);
    const run = startCli(["run", "held", "--json"], { cwd: ws.root, env });
    await until(() => ws.exists(`running-${a.pid}`), "worker A to run the step");
    const b = await worker(fast);
    a.child.kill("SIGKILL");
    await a.done;
    await until(() => ws.exists(`running-${b.pid}`), "worker B to take over the stalled job");
    ws.write("release", "");
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { runId: string; status: string };
    expect(out.status).toBe("succeeded");
    expect(ws.read("finished.log").trim().split("\n")).toEqual([String(b.pid)]);
    const shown = await runJson<Shown>(["show", out.runId], { cwd: ws.root, env });
    expect(shown.json.steps.find((s) => s.stepId === "hold")!.worker).toBe(b.label);
    const loud = await runCli(["show", out.runId, "--output", "hold.loud"], { cwd: ws.root, env });
    expect(loud.stdout).toContain("REMOTE STEPS READ THEIR SOURCES FROM THE SHARED CACHE");
    const verify = await runCli(["cache", "verify"], { cwd: ws.root, env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it("fails the run with the step's own error when a remote step throws, and retries it as a local step would", async () => {
    await worker(["--queue", "default"]);
    const failed = await runJson<{ status: string; error: { code: string; message: string } }>(["run", "failing"], { cwd: ws.root, env });
    expect(failed.code).toBe(1);
    expect(failed.json.error.code).toBe("SLUICE_STEP_FAILED");
    expect(failed.json.error.message).toBe('pipeline "failing" › step "broken": this step always fails');
    const retried = await runJson<{ runId: string; status: string; steps: Array<{ id: string; status: string; attempts: number }> }>(["run", "retried"], { cwd: ws.root, env });
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.json.steps).toEqual([expect.objectContaining({ id: "flaky", status: "succeeded", attempts: 2 })]);
    const out = await runCli(["show", retried.json.runId, "--output", "flaky.attempt"], { cwd: ws.root, env });
    expect(out.stdout.trim()).toBe("2");
  });

  it("refuses a step whose code differs in the worker's checkout, naming both fingerprints and the step", async () => {
    // A second checkout of the same project with the step edited, sharing the coordinator's cache.
    const other = createTestWorkspace(REMOTE_FILES);
    try {
      other.write("steps/remote.ts", other.read("steps/remote.ts").replace("inputs.n * inputs.n };", "inputs.n * inputs.n + 1 };"));
      await worker(["--queue", "default"], { cwd: other.root, env: { SLUICE_CACHE_DIR: ws.path("cache") } });
      const r = await runJson<{ status: string; error: { code: string; message: string } }>(["run", "spread"], { cwd: ws.root, env });
      expect(r.code).toBe(1);
      expect(r.json.status).toBe("failed");
      expect(r.json.error.code).toBe("SLUICE_WORKER_CODE_MISMATCH");
      expect(r.json.error.message).toMatch(/step "square\[\d\]" \(steps\/remote\.ts › square\): worker \S+:\d+ refuses it/);
      const digests = r.json.error.message.match(/sha256:[0-9a-f]{64}/g) ?? [];
      expect(new Set(digests).size).toBe(2);
      expect(fs.existsSync(ws.path("started"))).toBe(false);
    } finally {
      other.remove();
    }
  });

  it("fails a job as cancelled when its cancellation reached the worker before the job started there", async () => {
    // What happens when a worker has just taken a job (so the coordinator cannot remove it from the
    // queue) but not started it when the cancellation arrives: played here in that order on purpose.
    const w = await worker(["--queue", "early"], { env: { SLUICE_LOG_LEVEL: "info" } });
    const pub = new Redis(SHARED_REDIS);
    const queue = new Queue("early", { connection: { host: "127.0.0.1", port: 6379 }, prefix });
    try {
      await pub.publish(cancelChannel(prefix, "early"), "job-early");
      await until(() => w.stderr().includes("cancellation noted for a job not running here"), "the worker to note the cancellation");
      await queue.add("step", { stepId: "hold" } as never, { jobId: "job-early" });
      const failed = await untilValue(async () => (await queue.getFailed())[0], "the job to fail on the worker");
      expect(failed.failedReason).toMatch(/^SLUICE_RUN_CANCELLED: step "hold" was cancelled by the coordinator before it started on worker/);
    } finally {
      await queue.close();
      pub.disconnect();
    }
  });

  it("cancels a running remote step: the worker aborts it and is free for the next job", async () => {
    await worker(["--queue", "slow"]);
    const run = startCli(["run", "held", "--json"], { cwd: ws.root, env });
    await until(() => fs.readdirSync(ws.root).some((f) => f.startsWith("running-")), "the step to run on the worker");
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    expect((JSON.parse(r.stdout) as { status: string }).status).toBe("cancelled");
    const queue = new Queue("slow", { connection: { host: "127.0.0.1", port: 6379 }, prefix });
    try {
      const failed = await untilValue(async () => (await queue.getFailed())[0], "the cancelled job to fail on the worker");
      expect(failed.failedReason).toMatch(/^SLUICE_RUN_CANCELLED: step "hold" was cancelled by the coordinator while running on worker/);
    } finally {
      await queue.close();
    }
    // The aborted step never finished; the same single-slot worker runs the next run's step.
    expect(ws.exists("finished.log")).toBe(false);
    ws.write("release", "");
    const next = await runJson<{ status: string }>(["run", "held"], { cwd: ws.root, env });
    expect(next.code, next.stderr).toBe(0);
    expect(ws.read("finished.log").trim().split("\n")).toHaveLength(1);
  });

  it("stops a worker gracefully on SIGTERM: it finishes the running step, then exits 0", async () => {
    const w = await worker(["--queue", "slow"]);
    const run = startCli(["run", "held", "--json"], { cwd: ws.root, env });
    await until(() => ws.exists(`running-${w.pid}`), "the step to run on the worker");
    w.child.kill("SIGTERM");
    await until(() => /stopping after the running steps/.test(w.stderr()), "the worker to acknowledge the signal");
    ws.write("release", "");
    const [r, stopped] = await Promise.all([run.done, w.done]);
    expect(r.code, r.stderr).toBe(0);
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toMatch(/stopped: 1 succeeded, 0 failed/);
  });

  it("says before running anything that remote steps need Redis", async () => {
    const r = await runJson<{ error: { code: string; message: string } }>(["run", "spread"], { cwd: ws.root, env: { SLUICE_REDIS_URL: "" } });
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe("SLUICE_CONFIG_INVALID");
    expect(r.json.error.message).toMatch(/step "square" runs on remote workers, but no Redis is configured\. Fix: set SLUICE_REDIS_URL/);
    const runs = await runJson<unknown[]>(["runs"], { cwd: ws.root });
    expect(runs.json).toEqual([]);
  });
});
