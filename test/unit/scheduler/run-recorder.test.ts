import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunRecorder } from "../../../src/scheduler/run-recorder.ts";
import { createSqliteRunStore, type RunStore } from "../../../src/store/run-store/index.ts";
import { decodeStepRunSet } from "../../../src/store/run-store/step-run-sets.ts";
import type { Digest } from "../../../src/util/canonical-json.ts";

const D = (n: number): Digest => `sha256:${n.toString(16).padStart(64, "0")}` as Digest;
const OWNER = { host: "h", pid: 1, trigger: "cli" as const, actor: "ada", codeDigest: null };

let dir: string;
let file: string;
let store: RunStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-recorder-"));
  file = join(dir, "runs.db");
  store = await createSqliteRunStore(file);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Rows in each step table, read through a second connection. */
function tableRows(): { own: number; sets: number } {
  const db = new Database(file, { readonly: true });
  try {
    const n = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    return { own: n("SELECT count(*) AS n FROM step_runs"), sets: n("SELECT count(*) AS n FROM step_run_sets") };
  } finally {
    db.close();
  }
}

describe("RunRecorder", () => {
  it("writes steps that finish before their first write as one set row, and the others as rows of their own", async () => {
    // A long flush interval: only the explicit drains write.
    const rec = new RunRecorder(store, OWNER, { flushMs: 60_000, stepName: (id) => new Map([["a", "load"], ["b", "train"], ["c", "eval"]]).get(id) });
    const e = rec.sink;
    e({ type: "run.started", runId: "r1", ts: 1, pipeline: "p", params: {}, steps: ["a", "b", "c"], trigger: "cli", actor: "ada" });
    e({ type: "step.cached", runId: "r1", ts: 2, stepId: "a", key: D(1), inputs: {}, outputs: { out: D(2) }, source: "cache" });
    e({ type: "step.queued", runId: "r1", ts: 3, stepId: "b", key: D(3), executor: "inline", reason: "no cache entry for this key" });
    e({ type: "step.started", runId: "r1", ts: 4, stepId: "b", key: D(3), executor: "inline", attempt: 1, worker: null, inputs: { in: D(2) } });
    await rec.drain();
    expect(tableRows()).toEqual({ own: 1, sets: 1 }); // b is running: its own row; a went into a set

    e({ type: "step.succeeded", runId: "r1", ts: 9, stepId: "b", key: D(3), outputs: { out: D(4) }, durationMs: 5, attempt: 1 });
    e({ type: "step.skipped", runId: "r1", ts: 10, stepId: "c", reason: "when false" });
    e({ type: "run.finished", runId: "r1", ts: 11, status: "succeeded", durationMs: 10, error: null });
    await rec.drain();
    expect(tableRows()).toEqual({ own: 1, sets: 2 }); // b's row updated in place; c in a second set

    const steps = await store.listStepRuns("r1");
    expect(steps.map((s) => [s.stepId, s.stepName, s.status, s.startedAt, s.finishedAt])).toEqual([
      ["a", "load", "cached", 2, 2],
      ["b", "train", "succeeded", 4, 9],
      ["c", "eval", "skipped", null, 10],
    ]);
    expect(steps[0]).toMatchObject({ cacheKey: D(1), outputs: { out: D(2) }, reason: "cache hit", durationMs: 0 });
    expect(steps[1]).toMatchObject({ inputs: { in: D(2) }, outputs: { out: D(4) }, attempts: 1, durationMs: 5 });
    expect((await store.getRun("r1"))?.status).toBe("succeeded");
  });

  it("records a later change of a step already in a set as its own row, leaving the set as written", async () => {
    const rec = new RunRecorder(store, OWNER, { flushMs: 60_000 });
    const e = rec.sink;
    e({ type: "run.started", runId: "r2", ts: 1, pipeline: "p", params: {}, steps: ["a"], trigger: "cli", actor: "ada" });
    e({ type: "step.cached", runId: "r2", ts: 2, stepId: "a", key: D(1), inputs: {}, outputs: { out: D(2) }, source: "cache" });
    // The flush hands the record to the store by reference and the write happens later: the
    // change made meanwhile must not reach that queued set write.
    const first = rec.drain();
    e({ type: "step.cancelled", runId: "r2", ts: 5, stepId: "a", reason: "test: a change after the set" });
    await first;
    await rec.drain();
    expect(tableRows()).toEqual({ own: 1, sets: 1 });
    const db = new Database(file, { readonly: true });
    const set = db.prepare("SELECT format, body FROM step_run_sets").get() as { format: number; body: string };
    db.close();
    expect(decodeStepRunSet("r2", set.format, set.body).map((s) => s.status)).toEqual(["cached"]);
    expect((await store.listStepRuns("r2")).map((s) => [s.stepId, s.status, s.reason])).toEqual([["a", "cancelled", "test: a change after the set"]]);
  });
});
