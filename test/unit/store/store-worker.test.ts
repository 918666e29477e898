import fs from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SluiceError } from "../../../src/errors.ts";
import { openCacheDb, type CacheDb } from "../../../src/store/cache-db.ts";
import { createSqliteStores, type SqliteStores, type StepRunRecord } from "../../../src/store/run-store/index.ts";
import { StoreWorker, type CheckpointReport } from "../../../src/store/store-worker/index.ts";
import { aRun, aStepRun } from "./run-store-contract.ts";

let dir: string;
let stores: SqliteStores | undefined;
let worker: StoreWorker | undefined;
let cacheDb: CacheDb | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-store-worker-"));
});

afterEach(async () => {
  await worker?.close();
  await stores?.close();
  cacheDb?.close();
  worker = stores = cacheDb = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** The run database with one run recorded from the main thread, and a worker writing to it. */
async function openBoth(): Promise<{ stores: SqliteStores; worker: StoreWorker }> {
  stores = await createSqliteStores(join(dir, "runs.db"));
  await stores.runs.createRun(aRun());
  worker = new StoreWorker({ runsFile: join(dir, "runs.db") });
  return { stores, worker };
}

describe("StoreWorker writes", () => {
  it("writes step rows, logs and metrics that the main thread's run store reads back, upserting rows by step", async () => {
    const { stores, worker } = await openBoth();
    const rows: StepRunRecord[] = Array.from({ length: 3000 }, (_, i) => aStepRun({ stepId: `s${String(i).padStart(4, "0")}`, status: "queued" }));
    await worker.upsertStepRuns(rows);
    await worker.upsertStepRuns([aStepRun({ stepId: "s0001", status: "succeeded", outputs: { out: "sha256:ab" }, startedAt: 5, finishedAt: 7, durationMs: 2, attempts: 1 })]);
    await worker.appendLogs([{ runId: "run-1", stepId: "s0001", ts: 6, level: "info", msg: "hello", data: { n: 1n, fn: undefined } }]);
    await worker.appendMetrics([{ runId: "run-1", stepId: "s0001", name: "loss", value: 0.5, step: 3, ts: 6 }]);

    const read = await stores.runs.listStepRuns("run-1");
    expect(read).toHaveLength(3000);
    expect(read.find((r) => r.stepId === "s0001")).toEqual(aStepRun({ stepId: "s0001", status: "succeeded", outputs: { out: "sha256:ab" }, startedAt: 5, finishedAt: 7, durationMs: 2, attempts: 1 }));
    expect(read.filter((r) => r.status === "queued")).toHaveLength(2999);
    expect(await stores.runs.listLogs("run-1")).toEqual([{ runId: "run-1", stepId: "s0001", ts: 6, level: "info", msg: "hello", data: { n: 1 } }]);
    expect(await stores.runs.listMetrics("run-1")).toEqual([{ runId: "run-1", stepId: "s0001", name: "loss", value: 0.5, step: 3, ts: 6 }]);
  });

  it("sends log data that cannot cross threads as the JSON the store keeps of it", async () => {
    const { stores, worker } = await openBoth();
    await worker.appendLogs([{ runId: "run-1", stepId: null, ts: 1, level: "warn", msg: "odd data", data: { keep: "yes", fn: () => 1 } }]);
    expect(await stores.runs.listLogs("run-1")).toEqual([{ runId: "run-1", stepId: null, ts: 1, level: "warn", msg: "odd data", data: { keep: "yes" } }]);
  });

  it("rejects a write the database refuses with SLUICE_STORE_FAILED and keeps serving the next ones", async () => {
    const { stores, worker } = await openBoth();
    const bad = aStepRun({ stepId: "bad", stepName: null as unknown as string });
    const err = (await worker.upsertStepRuns([bad]).catch((e: unknown) => e)) as SluiceError;
    expect(err).toMatchObject({ name: "SluiceError", code: "SLUICE_STORE_FAILED" });
    expect(err.message).toMatch(/upsertStepRuns: NOT NULL constraint failed: step_runs\.step_name/);
    await worker.upsertStepRuns([aStepRun({ stepId: "good" })]);
    expect((await stores.runs.listStepRuns("run-1")).map((r) => r.stepId)).toEqual(["good"]);
  });

  it("rejects every write with SLUICE_STORE_FAILED naming the file when the run database cannot be opened", async () => {
    await writeFile(join(dir, "not-a-folder"), "x");
    worker = new StoreWorker({ runsFile: join(dir, "not-a-folder", "runs.db") });
    for (let i = 0; i < 2; i++) {
      const err = (await worker.appendMetrics([{ runId: "r", stepId: "s", name: "m", value: 1, step: null, ts: 1 }]).catch((e: unknown) => e)) as SluiceError;
      expect(err).toMatchObject({ code: "SLUICE_STORE_FAILED" });
      expect(err.message).toContain(join(dir, "not-a-folder"));
    }
  });

  it("lets writes already made commit on close, then refuses new ones", async () => {
    const { stores, worker } = await openBoth();
    const writes = [worker.upsertStepRuns([aStepRun({ stepId: "a" })]), worker.upsertStepRuns([aStepRun({ stepId: "b" })])];
    await worker.close();
    await Promise.all(writes);
    expect((await stores.runs.listStepRuns("run-1")).map((r) => r.stepId)).toEqual(["a", "b"]);
    await expect(worker.appendLogs([{ runId: "run-1", stepId: null, ts: 1, level: "info", msg: "late", data: null }])).rejects.toMatchObject({ code: "SLUICE_STORE_FAILED", message: expect.stringContaining("is closed") });
  });
});

describe("StoreWorker failures", () => {
  it("fails the write in flight and every later one with SLUICE_STORE_FAILED when its thread dies, reporting it once, and the process carries on", async () => {
    stores = await createSqliteStores(join(dir, "runs.db"));
    const reported: SluiceError[] = [];
    // A thread that runs out of memory is a real crash: 64 MiB of log data into a 16 MiB heap.
    worker = new StoreWorker({ runsFile: join(dir, "runs.db"), resourceLimits: { maxOldGenerationSizeMb: 16 }, onError: (e) => reported.push(e) });
    await worker.appendMetrics([{ runId: "run-1", stepId: "s", name: "m", value: 1, step: null, ts: 1 }]);
    expect(worker.ready).toBe(true);
    const huge = Array.from({ length: 64 }, (_, i) => ({ runId: "run-1", stepId: null, ts: i, level: "info" as const, msg: "big", data: { s: "x".repeat(1 << 20) } }));
    const inFlight = (await worker.appendLogs(huge).catch((e: unknown) => e)) as SluiceError;
    expect(inFlight).toMatchObject({ code: "SLUICE_STORE_FAILED", message: expect.stringMatching(/store worker for .*runs\.db failed: .*memory/) });
    await expect(worker.upsertStepRuns([aStepRun()])).rejects.toBe(inFlight);
    expect(worker.ready).toBe(false);
    expect(reported).toEqual([inFlight]);
    await worker.close();
    expect(reported).toHaveLength(1);
    expect(await stores.runs.listMetrics("run-1")).toHaveLength(1); // what it committed before stays
  });

  it("reports nothing through onError when closed normally", async () => {
    const reported: unknown[] = [];
    stores = await createSqliteStores(join(dir, "runs.db"));
    worker = new StoreWorker({ runsFile: join(dir, "runs.db"), onError: (e) => reported.push(e) });
    await worker.appendMetrics([{ runId: "run-1", stepId: "s", name: "m", value: 1, step: null, ts: 1 }]);
    await worker.close();
    expect(reported).toEqual([]);
  });
});

describe("StoreWorker checkpoints", () => {
  it("checkpoints the cache database's WAL once enough pages wait, so that the writer's next commit restarts the WAL", async () => {
    cacheDb = openCacheDb(dir);
    cacheDb.pragma("wal_autocheckpoint = 16384"); // as the workspace does while the worker is up
    cacheDb.exec("CREATE TABLE t (b BLOB)");
    const insert = cacheDb.prepare("INSERT INTO t (b) VALUES (randomblob(3000))");
    for (let batch = 0; batch < 12; batch++) cacheDb.transaction(() => { for (let i = 0; i < 100; i++) insert.run(); })();
    const before = (cacheDb.pragma("wal_checkpoint(NOOP)") as [{ log: number }])[0].log;
    expect(before).toBeGreaterThan(1024);

    let checkpointed!: (r: CheckpointReport) => void;
    const report = new Promise<CheckpointReport>((resolve) => (checkpointed = resolve));
    worker = new StoreWorker({ runsFile: join(dir, "runs.db"), cacheFile: join(dir, "cache.db"), onCheckpoint: (r) => checkpointed(r) });
    expect(await report).toEqual({ walFrames: before, checkpointedFrames: before });

    insert.run();
    // The WAL was fully copied back, so the commit above wrote from the WAL's start again.
    expect((cacheDb.pragma("wal_checkpoint(NOOP)") as [{ log: number }])[0].log).toBeLessThan(5);
    expect(fs.existsSync(join(dir, "cache.db-wal"))).toBe(true);
  });
});
