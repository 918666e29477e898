/**
 * The run-store contract: every implementation (SQLite, PostgreSQL) must pass these.
 * Call `runStoreContract(name, makeTarget)` from a test file; `makeTarget` gives a fresh, empty
 * database per test.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SerializedError } from "../../../src/errors.ts";
import type { LogLine, MetricPoint, RunRecord, RunStore, StepRunRecord } from "../../../src/store/run-store/index.ts";

/** One empty database a contract test runs against. */
export interface RunStoreTarget {
  /** Opens a store on this target's database (migrating it); may be called again, also concurrently. */
  open(): Promise<RunStore>;
  /** Drops the database and whatever else the target made. Stores are closed before. */
  dispose(): Promise<void>;
}

/** A run record with sensible values; `over` replaces fields. */
export function aRun(over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: "run-1",
    pipeline: "iris",
    status: "running",
    params: { split: 0.2 },
    trigger: "cli",
    actor: "ada",
    codeDigest: null,
    host: "host-a",
    pid: 100,
    startedAt: 1_700_000_000_000,
    finishedAt: null,
    error: null,
    stepCount: 3,
    ...over,
  };
}

/** A step-run record with sensible values; `over` replaces fields. */
export function aStepRun(over: Partial<StepRunRecord> = {}): StepRunRecord {
  return {
    runId: "run-1",
    stepId: "train",
    stepName: "train",
    status: "pending",
    cacheKey: null,
    inputs: {},
    outputs: {},
    executor: "inline",
    worker: null,
    attempts: 0,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    error: null,
    reason: null,
    ...over,
  };
}

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

const anError: SerializedError = {
  code: "SLUICE_STEP_FAILED",
  message: 'step "train" threw: boom',
  details: { step: "train", attempt: 2, nested: { list: [1, "two", null] } },
  stack: "Error: boom\n    at train (train.ts:1:1)",
};

/** Registers the contract suite for one run-store implementation. */
export function runStoreContract(name: string, makeTarget: () => Promise<RunStoreTarget>): void {
  describe(`run store contract: ${name}`, () => {
    let target: RunStoreTarget;
    let opened: RunStore[];
    let store: RunStore;

    const open = async (): Promise<RunStore> => {
      const s = await target.open();
      opened.push(s);
      return s;
    };
    const closeAll = async (): Promise<void> => {
      const all = opened;
      opened = [];
      for (const s of all) await s.close();
    };

    beforeEach(async () => {
      opened = [];
      target = await makeTarget();
      store = await open();
    });

    afterEach(async () => {
      await closeAll();
      await target.dispose();
    });

    it("returns a created run exactly, with JSON fields and nulls intact", async () => {
      const full = aRun({
        id: "run-full",
        status: "failed",
        params: { model: { depth: 4, features: ["a", "b"] }, ratio: 0.25, on: true, none: null, text: "ünïcødé \"quoted\"" },
        trigger: "cron",
        actor: "cron:0 * * * *",
        codeDigest: digest(7),
        pid: 4_000_000,
        startedAt: 1_700_000_000_123,
        finishedAt: 1_700_000_009_999,
        error: anError,
        stepCount: 12,
      });
      const bare = aRun({ id: "run-bare", params: null });
      await store.createRun(full);
      await store.createRun(bare);
      expect(await store.getRun("run-full")).toEqual(full);
      expect(await store.getRun("run-bare")).toEqual(bare);
      expect(await store.getRun("missing")).toBeUndefined();
    });

    it("reads params of undefined back as null", async () => {
      await store.createRun(aRun({ params: undefined }));
      expect((await store.getRun("run-1"))?.params).toBeNull();
    });

    it("rejects a second run with the same id as a store failure", async () => {
      await store.createRun(aRun());
      await expect(store.createRun(aRun())).rejects.toMatchObject({ code: "SLUICE_STORE_FAILED" });
    });

    it("finishRun records the final status, finish time and error", async () => {
      await store.createRun(aRun({ id: "a" }));
      await store.createRun(aRun({ id: "b" }));
      await store.finishRun("a", "failed", 1_700_000_005_000, anError);
      await store.finishRun("b", "succeeded", 1_700_000_006_000);
      expect(await store.getRun("a")).toMatchObject({ status: "failed", finishedAt: 1_700_000_005_000, error: anError });
      expect(await store.getRun("b")).toMatchObject({ status: "succeeded", finishedAt: 1_700_000_006_000, error: null });
    });

    it("finishRun on an unknown run throws SLUICE_RUN_NOT_FOUND", async () => {
      await expect(store.finishRun("nope", "succeeded", 1)).rejects.toMatchObject({ code: "SLUICE_RUN_NOT_FOUND", details: { runId: "nope" } });
    });

    it("listRuns returns newest first, filters by pipeline and status, limits and pages", async () => {
      const runs = [
        aRun({ id: "r1", pipeline: "iris", startedAt: 1000, status: "succeeded" }),
        aRun({ id: "r2", pipeline: "wine", startedAt: 2000, status: "failed" }),
        aRun({ id: "r3", pipeline: "iris", startedAt: 3000, status: "failed" }),
        aRun({ id: "r4", pipeline: "iris", startedAt: 4000, status: "running" }),
      ];
      for (const r of runs) await store.createRun(r);
      const ids = (rs: RunRecord[]): string[] => rs.map((r) => r.id);
      expect(ids(await store.listRuns())).toEqual(["r4", "r3", "r2", "r1"]);
      expect(ids(await store.listRuns({ pipeline: "iris" }))).toEqual(["r4", "r3", "r1"]);
      expect(ids(await store.listRuns({ status: "failed" }))).toEqual(["r3", "r2"]);
      expect(ids(await store.listRuns({ pipeline: "iris", status: "failed" }))).toEqual(["r3"]);
      expect(ids(await store.listRuns({ limit: 2 }))).toEqual(["r4", "r3"]);
      expect(ids(await store.listRuns({ limit: 2, beforeStartedAt: 3000 }))).toEqual(["r2", "r1"]);
      expect(await store.listRuns({ pipeline: "none" })).toEqual([]);
      expect((await store.listRuns())[0]).toEqual(runs[3]);
    });

    it("listRuns filters by trigger and by actor, with the other filters and pages", async () => {
      const runs = [
        aRun({ id: "r1", startedAt: 1000, trigger: "cli", actor: "ada" }),
        aRun({ id: "r2", startedAt: 2000, trigger: "http", actor: "ci" }),
        aRun({ id: "r3", startedAt: 3000, trigger: "cron", actor: "schedule:nightly" }),
        aRun({ id: "r4", startedAt: 4000, trigger: "http", actor: "ada", status: "failed" }),
        aRun({ id: "r5", pipeline: "wine", startedAt: 5000, trigger: "http", actor: "ada" }),
      ];
      for (const r of runs) await store.createRun(r);
      const ids = (rs: RunRecord[]): string[] => rs.map((r) => r.id);
      expect(ids(await store.listRuns({ actor: "ada" }))).toEqual(["r5", "r4", "r1"]);
      expect(ids(await store.listRuns({ trigger: "http" }))).toEqual(["r5", "r4", "r2"]);
      expect(ids(await store.listRuns({ trigger: "http", actor: "ada", pipeline: "iris" }))).toEqual(["r4"]);
      expect(ids(await store.listRuns({ actor: "ada", status: "running" }))).toEqual(["r5", "r1"]);
      expect(ids(await store.listRuns({ actor: "ada", limit: 1, beforeStartedAt: 5000 }))).toEqual(["r4"]);
      expect(ids(await store.listRuns({ actor: "schedule:nightly", trigger: "cron" }))).toEqual(["r3"]);
      expect(await store.listRuns({ actor: "Ada" })).toEqual([]);
      expect(await store.listRuns({ actor: "ada' OR '1'='1" })).toEqual([]);
    });

    it("listRuns returns at most 50 runs by default", async () => {
      for (let i = 0; i < 55; i++) await store.createRun(aRun({ id: `r${i}`, startedAt: i }));
      const listed = await store.listRuns();
      expect(listed).toHaveLength(50);
      expect(listed[0]?.id).toBe("r54");
    });

    it("upsertStepRuns stores every field, JSON maps and nulls intact", async () => {
      const done = aStepRun({
        stepId: "train[0]",
        status: "failed",
        cacheKey: digest(1),
        inputs: { features: digest(2), labels: digest(3) },
        outputs: { model: digest(4) },
        executor: "thread",
        worker: "worker-2",
        attempts: 3,
        startedAt: 1_700_000_000_500,
        finishedAt: 1_700_000_001_500,
        durationMs: 1000,
        error: anError,
        reason: "cache miss: params.depth 3 → 4",
      });
      const pending = aStepRun({ stepId: "eval" });
      await store.upsertStepRuns([done, pending]);
      expect(await store.listStepRuns("run-1")).toEqual([done, pending]);
      expect(await store.listStepRuns("other")).toEqual([]);
    });

    it("upsertStepRuns updates an existing step run instead of adding one", async () => {
      await store.upsertStepRuns([aStepRun({ status: "queued" }), aStepRun({ stepId: "load", status: "cached", startedAt: 5 })]);
      const finished = aStepRun({ status: "succeeded", attempts: 1, startedAt: 10, finishedAt: 20, durationMs: 10, outputs: { model: digest(9) } });
      await store.upsertStepRuns([finished]);
      const rows = await store.listStepRuns("run-1");
      expect(rows).toHaveLength(2);
      expect(rows.find((r) => r.stepId === "train")).toEqual(finished);
      expect(rows.find((r) => r.stepId === "load")?.status).toBe("cached");
    });

    it("listStepRuns orders by start time, unstarted last, then by step id", async () => {
      await store.upsertStepRuns([
        aStepRun({ stepId: "c" }),
        aStepRun({ stepId: "b", startedAt: 20 }),
        aStepRun({ stepId: "a" }),
        aStepRun({ stepId: "d", startedAt: 10 }),
        aStepRun({ stepId: "B", startedAt: 20 }),
      ]);
      expect((await store.listStepRuns("run-1")).map((r) => r.stepId)).toEqual(["d", "B", "b", "a", "c"]);
    });

    it("upserts 10,000 step runs in one call and reads them all back", async () => {
      const rows = Array.from({ length: 10_000 }, (_, i) =>
        aStepRun({
          stepId: `s${String(i).padStart(5, "0")}`,
          status: "succeeded",
          cacheKey: digest(i),
          outputs: { out: digest(i + 1) },
          startedAt: i,
          reason: i % 2 === 0 ? null : "miss",
        }),
      );
      await store.upsertStepRuns(rows);
      expect(await store.listStepRuns("run-1")).toEqual(rows);
      await store.upsertStepRuns(rows.map((r) => ({ ...r, attempts: 2 })));
      const again = await store.listStepRuns("run-1");
      expect(again).toHaveLength(10_000);
      expect(again.every((r) => r.attempts === 2)).toBe(true);
    });

    it("appendFinishedStepRuns stores every field compactly and lists them with upserted rows, in order", async () => {
      const failed = aStepRun({
        stepId: "train[0]", status: "failed", cacheKey: digest(1), inputs: { features: digest(2) }, outputs: {}, executor: "thread",
        worker: "worker-2", attempts: 3, startedAt: 30, finishedAt: 40, durationMs: 10, error: anError, reason: "cache miss",
      });
      const cached = aStepRun({ stepId: "load", status: "cached", cacheKey: digest(3), outputs: { rows: digest(4) }, startedAt: 10, finishedAt: 10, durationMs: 0, reason: "cache hit" });
      const skipped = aStepRun({ stepId: "report", status: "skipped", reason: 'upstream "train[0]" failed' });
      const running = aStepRun({ stepId: "eval", status: "running", startedAt: 20 });
      await store.appendFinishedStepRuns([failed, cached]);
      await store.upsertStepRuns([running]);
      await store.appendFinishedStepRuns([skipped, aStepRun({ runId: "run-2", stepId: "load", status: "cached" })]);
      await store.appendFinishedStepRuns([]);
      expect(await store.listStepRuns("run-1")).toEqual([cached, running, failed, skipped]);
      expect((await store.listStepRuns("run-2")).map((r) => r.stepId)).toEqual(["load"]);
    });

    it("an upserted row of a step wins over its row in a finished set", async () => {
      await store.appendFinishedStepRuns([aStepRun({ stepId: "train", status: "cached", startedAt: 5 })]);
      const rerun = aStepRun({ stepId: "train", status: "succeeded", attempts: 1, startedAt: 10, finishedAt: 20, durationMs: 10 });
      await store.upsertStepRuns([rerun]);
      expect(await store.listStepRuns("run-1")).toEqual([rerun]);
    });

    it("appends 12,000 finished step runs in one call and reads them all back; referencedBy sees them", async () => {
      const rows = Array.from({ length: 12_000 }, (_, i) =>
        aStepRun({ stepId: `s${String(i).padStart(5, "0")}`, status: "cached", cacheKey: `k${i}`, outputs: { out: digest(i) }, startedAt: i, finishedAt: i, durationMs: 0 }),
      );
      await store.appendFinishedStepRuns(rows);
      expect(await store.listStepRuns("run-1")).toEqual(rows);
      const refs = await store.referencedBy(["run-1"]);
      expect(refs.cacheKeys.size).toBe(12_000);
      expect(refs.digests.has(digest(11_999))).toBe(true);
    });

    it("appends metrics and lists them in append order, per run and per step", async () => {
      const points: MetricPoint[] = [
        { runId: "run-1", stepId: "train", name: "loss", value: 0.75, step: 1, ts: 30 },
        { runId: "run-1", stepId: "eval", name: "accuracy", value: 0.9375, step: null, ts: 10 },
        { runId: "run-1", stepId: "train", name: "loss", value: -1.5e-7, step: 2, ts: 20 },
        { runId: "run-2", stepId: "train", name: "loss", value: 1, step: null, ts: 5 },
      ];
      await store.appendMetrics(points);
      await store.appendMetrics([]);
      expect(await store.listMetrics("run-1")).toEqual(points.slice(0, 3));
      expect(await store.listMetrics("run-1", "train")).toEqual([points[0], points[2]]);
      expect(await store.listMetrics("run-2")).toEqual([points[3]]);
      expect(await store.listMetrics("run-3")).toEqual([]);
    });

    it("appends logs and lists them in append order, per step, with a tail limit", async () => {
      const lines: LogLine[] = [
        { runId: "run-1", stepId: null, ts: 1, level: "info", msg: "run started", data: { params: { a: [1, 2] } } },
        { runId: "run-1", stepId: "train", ts: 2, level: "debug", msg: "epoch", data: null },
        { runId: "run-1", stepId: "train", ts: 2, level: "warn", msg: "slow", data: "text" },
        { runId: "run-1", stepId: "eval", ts: 3, level: "error", msg: "bad", data: 42 },
        { runId: "run-1", stepId: "train", ts: 4, level: "info", msg: "done", data: { ok: true } },
        { runId: "run-2", stepId: "train", ts: 5, level: "info", msg: "other run", data: {} },
      ];
      await store.appendLogs(lines);
      expect(await store.listLogs("run-1")).toEqual(lines.slice(0, 5));
      expect(await store.listLogs("run-1", "train")).toEqual([lines[1], lines[2], lines[4]]);
      expect(await store.listLogs("run-1", "train", 2)).toEqual([lines[2], lines[4]]);
      expect(await store.listLogs("run-1", undefined, 1)).toEqual([lines[4]]);
      expect(await store.listLogs("run-2")).toEqual([lines[5]]);
    });

    it("stores log data that JSON cannot hold without losing the line", async () => {
      const cyclic: Record<string, unknown> = { name: "loop" };
      cyclic.self = cyclic;
      await store.appendLogs([
        { runId: "run-1", stepId: null, ts: 1, level: "info", msg: "cyclic", data: cyclic },
        { runId: "run-1", stepId: null, ts: 2, level: "info", msg: "nothing", data: undefined },
      ]);
      const [first, second] = await store.listLogs("run-1");
      expect(first?.data).toEqual({ name: "loop", self: "[Circular]" });
      expect(second?.data).toBeNull();
    });

    it("markInterrupted marks only dead owners' running runs and their unfinished steps", async () => {
      await store.createRun(aRun({ id: "dead-running", host: "h1", pid: 1 }));
      await store.createRun(aRun({ id: "alive-running", host: "h1", pid: 2 }));
      await store.createRun(aRun({ id: "dead-finished", host: "h1", pid: 1, status: "succeeded", finishedAt: 50 }));
      await store.createRun(aRun({ id: "dead-other-host", host: "h2", pid: 2 }));
      const steps = (runId: string): StepRunRecord[] =>
        (["pending", "queued", "running", "succeeded", "cached", "failed"] as const).map((status) => aStepRun({ runId, stepId: status, status }));
      await store.upsertStepRuns([...steps("dead-running"), ...steps("alive-running"), ...steps("dead-finished")]);
      await store.appendFinishedStepRuns([aStepRun({ runId: "dead-running", stepId: "in-a-set", status: "cached" })]);
      const asked: string[] = [];
      const isAlive = (host: string, pid: number): boolean => {
        asked.push(`${host}:${pid}`);
        return host === "h1" && pid === 2;
      };

      const changed = await store.markInterrupted(isAlive);

      expect(changed.sort()).toEqual(["dead-other-host", "dead-running"]);
      expect(asked.sort()).toEqual(["h1:1", "h1:2", "h2:2"]);
      const dead = await store.getRun("dead-running");
      expect(dead?.status).toBe("interrupted");
      expect(dead?.finishedAt).toEqual(expect.any(Number));
      expect((await store.getRun("alive-running"))?.status).toBe("running");
      expect(await store.getRun("dead-finished")).toMatchObject({ status: "succeeded", finishedAt: 50 });
      const statusOf = async (runId: string): Promise<Record<string, string>> =>
        Object.fromEntries((await store.listStepRuns(runId)).map((r) => [r.stepId, r.status]));
      expect(await statusOf("dead-running")).toEqual({
        pending: "interrupted",
        queued: "interrupted",
        running: "interrupted",
        succeeded: "succeeded",
        cached: "cached",
        failed: "failed",
        "in-a-set": "cached",
      });
      expect(Object.values(await statusOf("alive-running"))).not.toContain("interrupted");
      expect(Object.values(await statusOf("dead-finished"))).not.toContain("interrupted");
      expect(await store.markInterrupted(() => false)).toEqual(["alive-running"]);
      expect(await store.markInterrupted(() => false)).toEqual([]);
    });

    it("recentRunIds gives the newest n runs of each pipeline", async () => {
      const starts: [string, string, number][] = [
        ["i1", "iris", 1],
        ["i2", "iris", 2],
        ["i3", "iris", 3],
        ["w1", "wine", 10],
        ["w2", "wine", 5],
        ["x1", "xor", 7],
      ];
      for (const [id, pipeline, startedAt] of starts) await store.createRun(aRun({ id, pipeline, startedAt }));
      expect((await store.recentRunIds(2)).sort()).toEqual(["i2", "i3", "w1", "w2", "x1"]);
      expect((await store.recentRunIds(1)).sort()).toEqual(["i3", "w1", "x1"]);
      expect((await store.recentRunIds(10)).sort()).toEqual(["i1", "i2", "i3", "w1", "w2", "x1"]);
      expect(await store.recentRunIds(0)).toEqual([]);
    });

    it("referencedBy collects the cache keys and output digests of the given runs only", async () => {
      await store.upsertStepRuns([
        aStepRun({ runId: "a", stepId: "load", cacheKey: "k1", inputs: { src: digest(100) }, outputs: { rows: digest(1) } }),
        aStepRun({ runId: "a", stepId: "train", cacheKey: "k2", outputs: { model: digest(2), report: digest(3) } }),
        aStepRun({ runId: "a", stepId: "skipped", cacheKey: null, outputs: {} }),
        aStepRun({ runId: "b", stepId: "load", cacheKey: "k1", outputs: { rows: digest(1) } }),
        aStepRun({ runId: "c", stepId: "load", cacheKey: "k9", outputs: { rows: digest(9) } }),
      ]);
      const refs = await store.referencedBy(["a", "b", "missing"]);
      expect([...refs.cacheKeys].sort()).toEqual(["k1", "k2"]);
      expect([...refs.digests].sort()).toEqual([digest(1), digest(2), digest(3)]);
      const none = await store.referencedBy([]);
      expect(none.cacheKeys.size + none.digests.size).toBe(0);
    });

    it("referencedBy accepts more run ids than one query can bind", async () => {
      const ids = Array.from({ length: 1200 }, (_, i) => `run-${i}`);
      await store.upsertStepRuns(ids.map((runId, i) => aStepRun({ runId, cacheKey: `k${i}`, outputs: { o: digest(i) } })));
      const refs = await store.referencedBy(ids);
      expect(refs.cacheKeys.size).toBe(1200);
      expect(refs.digests.size).toBe(1200);
    });

    it("opens two more stores on the same database at once, both migrating fine", async () => {
      await closeAll();
      const fresh = await makeTarget();
      try {
        const [a, b] = await Promise.all([fresh.open(), fresh.open()]);
        try {
          await Promise.all([a.createRun(aRun({ id: "from-a" })), b.createRun(aRun({ id: "from-b", startedAt: 2 }))]);
          await Promise.all([
            a.upsertStepRuns([aStepRun({ runId: "from-a" })]),
            b.upsertStepRuns([aStepRun({ runId: "from-a", stepId: "other" })]),
          ]);
          expect((await a.listRuns()).map((r) => r.id).sort()).toEqual(["from-a", "from-b"]);
          expect(await b.listStepRuns("from-a")).toHaveLength(2);
        } finally {
          await a.close();
          await b.close();
        }
      } finally {
        await fresh.dispose();
      }
    });

    it("keeps every record when the database is opened again", async () => {
      const run = aRun({ params: { keep: [1, 2, 3] } });
      const step = aStepRun({ status: "succeeded", outputs: { model: digest(5) } });
      const point: MetricPoint = { runId: "run-1", stepId: "train", name: "loss", value: 0.5, step: 3, ts: 9 };
      const line: LogLine = { runId: "run-1", stepId: "train", ts: 9, level: "info", msg: "hi", data: { n: 1 } };
      await store.createRun(run);
      await store.upsertStepRuns([step]);
      await store.appendMetrics([point]);
      await store.appendLogs([line]);
      await closeAll();

      const again = await open();
      expect(await again.getRun("run-1")).toEqual(run);
      expect(await again.listStepRuns("run-1")).toEqual([step]);
      expect(await again.listMetrics("run-1")).toEqual([point]);
      expect(await again.listLogs("run-1")).toEqual([line]);
      await again.appendLogs([{ ...line, msg: "after reopen" }]);
      expect((await again.listLogs("run-1")).map((l) => l.msg)).toEqual(["hi", "after reopen"]);
    });
  });
}
