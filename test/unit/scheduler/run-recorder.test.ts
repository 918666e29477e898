import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunRecorder, type RecordWriter } from "../../../src/scheduler/run-recorder.ts";
import type { RunEvent } from "../../../src/scheduler/index.ts";
import { createSqliteRunStore, type RunStore, type StepRunRecord } from "../../../src/store/run-store/index.ts";

const OWNER = { host: "h", pid: 1, trigger: "api", actor: "ada", codeDigest: null } as const;
const RUN = "run-1";

let dir: string;
let store: RunStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-recorder-"));
  store = await createSqliteRunStore(join(dir, "runs.db"));
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A gate a test opens when it wants. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  return { wait: new Promise<void>((r) => (open = r)), open };
}

/** The real run store with some methods replaced (the others bound to it). */
function storeWith(target: RunStore, overrides: Partial<RunStore>): RunStore {
  return new Proxy(target, { get: (t, k: keyof RunStore) => overrides[k] ?? (t[k] as (...a: unknown[]) => unknown).bind(t) });
}

/**
 * A writer over the real run store, as the contract asks: it commits in call order and takes
 * what it needs during the call. It notes each commit, waits for `wait` (when given) before the
 * first; `ready` and `idle` are set by the test.
 */
function gatedWriter(target: RunStore, log: string[], wait?: Promise<void>): RecordWriter & { ready: boolean; idle: boolean; batches: number[] } {
  let last: Promise<unknown> = wait ?? Promise.resolve();
  const inOrder = (what: string, write: () => Promise<void>): Promise<void> => {
    const done = last.then(write).then(() => void log.push(what));
    last = done.catch(() => {});
    return done;
  };
  const w = {
    ready: true,
    idle: true,
    batches: [] as number[],
    upsertStepRuns(rows: readonly StepRunRecord[]) {
      w.batches.push(rows.length);
      const copy = rows.map((r) => ({ ...r }));
      return inOrder(`writer rows ${copy.length}`, () => target.upsertStepRuns(copy));
    },
    appendLogs(lines: Parameters<RunStore["appendLogs"]>[0]) {
      return inOrder(`writer logs ${lines.length}`, () => target.appendLogs(lines));
    },
    appendMetrics(points: Parameters<RunStore["appendMetrics"]>[0]) {
      return inOrder(`writer metrics ${points.length}`, () => target.appendMetrics(points));
    },
  };
  return w;
}

const started: RunEvent = { type: "run.started", runId: RUN, ts: 1, pipeline: "p", params: {}, steps: [], trigger: "api", actor: "ada" };
const queued = (i: number): RunEvent => ({ type: "step.queued", runId: RUN, ts: 2, stepId: `s${i}`, key: `k${i}`, executor: "inline", reason: "cache miss" });
const succeeded = (i: number): RunEvent => ({ type: "step.succeeded", runId: RUN, ts: 3, stepId: `s${i}`, key: `k${i}`, outputs: { out: `sha256:${i}` as never }, durationMs: 1, attempt: 1 });
const finished: RunEvent = { type: "run.finished", runId: RUN, ts: 4, status: "succeeded", durationMs: 3, error: null };

describe("RunRecorder with a writer", () => {
  it("sends step rows, logs and metrics to the writer and finishes the run in the store only after they committed", async () => {
    const log: string[] = [];
    const writes = gate();
    const writer = gatedWriter(store, log, writes.wait);
    const recorder = new RunRecorder(storeWith(store, { finishRun: async (...a) => { await store.finishRun(...a); log.push("store finishRun"); } }), OWNER, { writer, flushMs: 60_000 });
    recorder.sink(started);
    recorder.sink(queued(1));
    recorder.sink(succeeded(1));
    recorder.sink({ type: "log", runId: RUN, ts: 3, stepId: "s1", level: "info", msg: "hi" });
    recorder.sink({ type: "metric", runId: RUN, ts: 3, stepId: "s1", name: "loss", value: 0.5, step: null });
    recorder.sink(finished);
    const drained = recorder.drain();
    writes.open();
    await drained;
    expect(log).toEqual(["writer rows 1", "writer logs 1", "writer metrics 1", "store finishRun"]);
    expect(await store.getRun(RUN)).toMatchObject({ status: "succeeded", finishedAt: 4 });
    expect(await store.listStepRuns(RUN)).toEqual([expect.objectContaining({ stepId: "s1", status: "succeeded", outputs: { out: "sha256:1" } })]);
  });

  it("hands a ready, idle writer a batch every 1,000 records without waiting for the timer, and gathers while it is busy", async () => {
    const writer = gatedWriter(store, []);
    const recorder = new RunRecorder(store, OWNER, { writer, flushMs: 60_000 });
    recorder.sink(started);
    for (let i = 0; i < 2500; i++) recorder.sink(queued(i));
    expect(writer.batches).toEqual([1000, 1000]);
    writer.idle = false;
    for (let i = 2500; i < 4000; i++) recorder.sink(queued(i));
    expect(writer.batches).toEqual([1000, 1000]);
    await recorder.drain();
    expect(writer.batches).toEqual([1000, 1000, 2000]);
    expect(await store.listStepRuns(RUN)).toHaveLength(4000);
  });

  it("writes through the run store until the writer is ready, and never lets the writer overtake a store write still in flight", async () => {
    const log: string[] = [];
    const storeWrites = gate();
    const writer = gatedWriter(store, log);
    writer.ready = false;
    const slowStore = storeWith(store, { upsertStepRuns: async (rows) => { await storeWrites.wait; await store.upsertStepRuns(rows); log.push(`store rows ${rows.length}`); } });
    const recorder = new RunRecorder(slowStore, OWNER, { writer, flushMs: 60_000 });
    recorder.sink(started);
    recorder.sink(queued(1));
    const first = recorder.drain(); // the store has the row as queued, and waits
    writer.ready = true;
    recorder.sink(succeeded(1));
    const second = recorder.drain();
    storeWrites.open();
    await Promise.all([first, second]);
    expect(log).toEqual(["store rows 1", "writer rows 1"]);
    expect(await store.listStepRuns(RUN)).toEqual([expect.objectContaining({ stepId: "s1", status: "succeeded" })]);
  });

  it("reports a failed write to onError and goes on recording", async () => {
    const errors: unknown[] = [];
    const writer = gatedWriter(store, []);
    writer.upsertStepRuns = () => Promise.reject(new Error("disk full"));
    const recorder = new RunRecorder(store, OWNER, { writer, flushMs: 60_000, onError: (e) => errors.push(e) });
    recorder.sink(started);
    recorder.sink(queued(1));
    recorder.sink(finished);
    await recorder.drain();
    expect(errors).toEqual([expect.objectContaining({ message: "disk full" })]);
    expect(await store.getRun(RUN)).toMatchObject({ status: "succeeded" });
  });
});
