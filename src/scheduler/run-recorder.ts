import type { SerializedError } from "../errors.ts";
import type { LogLine, MetricPoint, RunStore, StepRunRecord, StepStatus, Trigger } from "../store/run-store/index.ts";
import type { EventSink, RunEvent } from "./events.ts";

/** Who owns the run, for the run record. */
export interface RunOwner {
  readonly host: string;
  readonly pid: number;
  readonly trigger: Trigger;
  readonly actor: string;
  readonly codeDigest: string | null;
}

/** The recorder's state of one step. */
interface Entry {
  record: StepRunRecord;
  /** Handed to the store at least once (in a finished set, or as a row of its own). */
  written: boolean;
  /** `record` was handed to the store by reference and must not change. */
  frozen: boolean;
  /** In `#dirty`. */
  dirty: boolean;
}

/** Ports of a step not yet known (shared: a record's maps are replaced, never changed in place). */
const NO_DIGESTS: Readonly<Record<string, string>> = Object.freeze({});

/** Statuses a step run never leaves. */
const FINISHED: ReadonlySet<StepStatus> = new Set<StepStatus>(["cached", "succeeded", "failed", "skipped", "cancelled", "interrupted"]);

/**
 * Writes a run's events to the run store: the run row at start, step rows and logs and metrics
 * in batches (every `flushMs`, and at the end), the final status last. Writes are serialised so
 * they land in event order; the coordinator never waits for them.
 */
export class RunRecorder {
  readonly #store: RunStore;
  readonly #owner: RunOwner;
  readonly #flushMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #stepName: (id: string) => string | undefined;
  readonly #steps = new Map<string, Entry>();
  /**
   * Steps whose first event was `step.cached`, not yet in `#steps`: filed there only when another
   * event needs a step looked up. A cached run is all such steps: 10,000 of its events took
   * 4–13 ms with each filed at once, 1.1 ms without (the recorder alone, on a fake store).
   */
  #unfiled: Entry[] = [];
  /** Entries changed since the last flush (each once: see `Entry.dirty`). */
  #dirty: Entry[] = [];
  /** The entry last looked up or added: a step's events mostly come one after another. */
  #last: Entry | undefined;
  #logs: LogLine[] = [];
  #metrics: MetricPoint[] = [];
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #runId = "";

  /** `stepName` names the step of an instance id (default: the id). */
  constructor(store: RunStore, owner: RunOwner, opts: { flushMs?: number; onError?: (err: unknown) => void; stepName?: (id: string) => string | undefined } = {}) {
    this.#stepName = opts.stepName ?? (() => undefined);
    this.#store = store;
    this.#owner = owner;
    this.#flushMs = opts.flushMs ?? 200;
    this.#onError = opts.onError ?? (() => {});
  }

  /** The event sink to hand the coordinator. */
  readonly sink: EventSink = (e) => this.#on(e);

  #enqueue(work: () => Promise<void>): void {
    this.#chain = this.#chain.then(work).catch(this.#onError);
  }

  /** The step's record, marked to be written at the next flush (unless `write` is false: it rides along with its next change). */
  #step(e: Extract<RunEvent, { stepId: string | null }>, write = true): StepRunRecord {
    const id = e.stepId!;
    if (this.#unfiled.length !== 0) {
      for (const u of this.#unfiled) this.#steps.set(u.record.stepId, u);
      this.#unfiled = [];
    }
    // The last entry first: in a chain each step's queued, started and succeeded follow each
    // other, and a lookup in a 10,000-entry Map is a cache miss.
    const last = this.#last;
    const entry = last !== undefined && last.record.stepId === id ? last : this.#steps.get(id);
    if (!entry) {
      return this.#add(id, { runId: e.runId, stepId: id, stepName: this.#stepName(id) ?? id, status: "pending", cacheKey: null, inputs: NO_DIGESTS, outputs: NO_DIGESTS, executor: "inline", worker: null, attempts: 0, startedAt: null, finishedAt: null, durationMs: null, error: null, reason: null }, write);
    }
    if (entry.frozen) {
      entry.record = { ...entry.record };
      entry.frozen = false;
    }
    this.#last = entry;
    if (write) this.#markDirty(entry);
    return entry.record;
  }

  /** Starts the entry of a step seen for the first time. */
  #add(id: string, record: StepRunRecord, write: boolean): StepRunRecord {
    const entry: Entry = { record, written: false, frozen: false, dirty: false };
    this.#steps.set(id, entry);
    this.#last = entry;
    if (write) this.#markDirty(entry);
    return record;
  }

  #markDirty(entry: Entry): void {
    if (entry.dirty) return;
    entry.dirty = true;
    this.#dirty.push(entry);
    this.#scheduleFlush();
  }

  #on(e: RunEvent): void {
    switch (e.type) {
      case "run.started":
        this.#runId = e.runId;
        this.#enqueue(() => this.#store.createRun({
          id: e.runId, pipeline: e.pipeline, status: "running", params: e.params, trigger: this.#owner.trigger, actor: this.#owner.actor,
          codeDigest: this.#owner.codeDigest, host: this.#owner.host, pid: this.#owner.pid, startedAt: e.ts, finishedAt: null, error: null, stepCount: e.steps.length,
        }));
        return;
      case "run.finished":
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#flush();
        this.#enqueue(() => this.#store.finishRun(e.runId, e.status, e.ts, e.error as SerializedError | null));
        return;
      case "step.queued": {
        // Queued is a moment before started (or skipped): its row is written with that change,
        // not on its own. A 10,000-step run queues every ready step at once and used to write
        // each row twice; the event itself still reaches live views.
        const r = this.#step(e, false);
        r.status = "queued";
        r.cacheKey = e.key;
        r.executor = e.executor;
        r.reason = e.reason;
        return;
      }
      case "step.waiting": {
        const r = this.#step(e);
        r.status = "queued";
        r.cacheKey = e.key;
        r.reason = `waiting for ${e.holder}`;
        return;
      }
      case "step.started": {
        const r = this.#step(e);
        r.status = "running";
        r.cacheKey = e.key;
        r.executor = e.executor;
        r.worker = e.worker;
        r.attempts = e.attempt;
        r.startedAt = e.ts;
        r.inputs = e.inputs;
        return;
      }
      case "step.cached": {
        const reason = e.source === "peer" ? "made by a concurrent run" : "cache hit";
        if (!this.#steps.has(e.stepId)) {
          // Most steps of a cached run: the record is made with its final values at once (and
          // filed lazily, see `#unfiled`). A step is cached at most once in a run.
          const entry: Entry = {
            record: {
              runId: e.runId, stepId: e.stepId, stepName: this.#stepName(e.stepId) ?? e.stepId, status: "cached", cacheKey: e.key, inputs: e.inputs, outputs: e.outputs,
              executor: "inline", worker: null, attempts: 0, startedAt: e.ts, finishedAt: e.ts, durationMs: 0, error: null, reason,
            },
            written: false, frozen: false, dirty: false,
          };
          this.#unfiled.push(entry);
          this.#markDirty(entry);
          return;
        }
        const r = this.#step(e);
        r.status = "cached";
        r.cacheKey = e.key;
        r.inputs = e.inputs;
        r.outputs = e.outputs;
        r.startedAt = e.ts;
        r.finishedAt = e.ts;
        r.durationMs = 0;
        r.reason = reason;
        return;
      }
      case "step.succeeded": {
        const r = this.#step(e);
        r.status = "succeeded";
        r.outputs = e.outputs;
        r.finishedAt = e.ts;
        r.durationMs = e.durationMs;
        r.attempts = e.attempt;
        return;
      }
      case "step.failed": {
        const r = this.#step(e);
        r.status = "failed";
        r.error = e.error;
        r.finishedAt = e.ts;
        r.durationMs = e.durationMs;
        r.attempts = e.attempt;
        return;
      }
      case "step.skipped":
      case "step.cancelled": {
        const r = this.#step(e);
        r.status = e.type === "step.skipped" ? "skipped" : "cancelled";
        r.reason = e.reason;
        r.finishedAt = e.ts;
        return;
      }
      case "step.retrying": {
        const r = this.#step(e);
        r.status = "queued";
        r.error = e.error;
        r.attempts = e.attempt;
        r.reason = `attempt ${e.attempt} failed; retrying in ${e.delayMs} ms`;
        return;
      }
      case "map.expanded": {
        const r = this.#step(e);
        r.status = "running";
        r.startedAt = e.ts;
        r.executor = "map";
        r.reason = `${e.count} instance${e.count === 1 ? "" : "s"}`;
        return;
      }
      case "map.finished": {
        const r = this.#step(e);
        const c = e.counts;
        r.status = e.status;
        r.outputs = e.outputs;
        r.finishedAt = e.ts;
        r.durationMs = e.durationMs;
        r.reason = `${c.cached} cached · ${c.succeeded} ran${c.failed ? ` · ${c.failed} failed` : ""}${c.skipped ? ` · ${c.skipped} skipped` : ""}${c.cancelled ? ` · ${c.cancelled} cancelled` : ""}`;
        return;
      }
      case "log":
        this.#logs.push({ runId: e.runId, stepId: e.stepId, ts: e.ts, level: e.level, msg: e.msg, data: e.data ?? null });
        this.#scheduleFlush();
        return;
      case "metric":
        this.#metrics.push({ runId: e.runId, stepId: e.stepId, name: e.name, value: e.value, step: e.step, ts: e.ts });
        this.#scheduleFlush();
        return;
      default: {
        const never: never = e;
        void never;
      }
    }
  }

  #scheduleFlush(): void {
    if (this.#timer || !this.#runId) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#flushMs);
    this.#timer.unref();
  }

  #flush(): void {
    // A step that finished before its first write goes into a finished set (one stored row for
    // many steps); any other change is an upsert of the step's own row.
    const rows: StepRunRecord[] = [];
    const finished: StepRunRecord[] = [];
    for (const entry of this.#dirty) {
      entry.dirty = false;
      const r = entry.record;
      if (!entry.written && FINISHED.has(r.status)) {
        // Handed over by reference: a later change copies it first (see #step).
        entry.frozen = true;
        finished.push(r);
      } else {
        rows.push({ ...r });
      }
      entry.written = true;
    }
    this.#dirty = [];
    const logs = this.#logs;
    const metrics = this.#metrics;
    this.#logs = [];
    this.#metrics = [];
    if (finished.length) this.#enqueue(() => this.#store.appendFinishedStepRuns(finished));
    if (rows.length) this.#enqueue(() => this.#store.upsertStepRuns(rows));
    if (logs.length) this.#enqueue(() => this.#store.appendLogs(logs));
    if (metrics.length) this.#enqueue(() => this.#store.appendMetrics(metrics));
  }

  /** Resolves once everything seen so far is written. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
    await this.#chain;
  }
}
