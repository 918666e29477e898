import type { SerializedError } from "../errors.ts";
import type { LogLine, MetricPoint, RunStore, StepRunRecord, Trigger } from "../store/run-store/index.ts";
import type { EventSink, RunEvent } from "./events.ts";

/** Who owns the run, for the run record. */
export interface RunOwner {
  readonly host: string;
  readonly pid: number;
  readonly trigger: Trigger;
  readonly actor: string;
  readonly codeDigest: string | null;
}

/** The bulk writes of a run's records, from somewhere other than the run store (another thread). */
export type RecordWriter = Pick<RunStore, "upsertStepRuns" | "appendLogs" | "appendMetrics"> & {
  /** False while it cannot take writes yet (or any more): the run store writes meanwhile. */
  readonly ready?: boolean;
  /** False while it has not finished the writes it was given: records keep gathering meanwhile. */
  readonly idle?: boolean;
};

/** Options of `RunRecorder`. */
export interface RunRecorderOptions {
  /**
   * How long events gather before their rows are written.
   * @default 200
   */
  flushMs?: number;
  /** Called with every failed write (the recorder carries on). */
  onError?: (err: unknown) => void;
  /** Step id → step name, for the step rows. */
  stepNames?: ReadonlyMap<string, string>;
  /**
   * Writes step rows, logs and metrics instead of the run store while it is `ready` (e.g. from
   * another thread). The run row is still created and finished through the run store, so readers
   * see it at once. It gets a batch once `WRITER_BATCH_ROWS` records gathered and it is `idle`,
   * without waiting for the previous one to commit: it must commit them in call order, and take
   * what it needs from the records during the call (the recorder goes on updating them).
   * @default none: the run store writes everything
   */
  writer?: RecordWriter;
}

/**
 * Records per batch for a writer of its own: a large run hands them over while it goes on (its
 * timers may not fire until it yields), so the writer works alongside and the last batch is
 * small. While the writer is busy they keep gathering: a step that changes again is sent once.
 */
const WRITER_BATCH_ROWS = 1000;

/**
 * Writes a run's events to the run store: the run row at start, step rows and logs and metrics
 * in batches (every `flushMs`, and at the end), the final status last. Writes are serialised so
 * they land in event order; the coordinator never waits for them. Every event of a run passes
 * through here: the handlers update the step's record in place and allocate nothing else.
 */
export class RunRecorder {
  readonly #store: RunStore;
  readonly #writer: RecordWriter | undefined;
  /** Records that make a batch worth cutting before the timer (only with a writer). */
  readonly #batchRows: number;
  /** Writes in the chain that write, or hand over to the writer, only when the chain reaches them. */
  #deferred = 0;
  readonly #owner: RunOwner;
  readonly #flushMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #names: ReadonlyMap<string, string>;
  readonly #steps = new Map<string, StepRunRecord>();
  readonly #dirty = new Set<string>();
  #logs: LogLine[] = [];
  #metrics: MetricPoint[] = [];
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #runId = "";

  constructor(store: RunStore, owner: RunOwner, opts: RunRecorderOptions = {}) {
    this.#names = opts.stepNames ?? new Map();
    this.#store = store;
    this.#writer = opts.writer;
    this.#batchRows = opts.writer ? WRITER_BATCH_ROWS : Infinity;
    this.#owner = owner;
    this.#flushMs = opts.flushMs ?? 200;
    this.#onError = opts.onError ?? (() => {});
  }

  /** The event sink to hand the coordinator. */
  readonly sink: EventSink = (e) => this.#on(e);

  #enqueue(work: () => Promise<void>): void {
    this.#chain = this.#chain.then(work).catch(this.#onError);
  }

  #step(e: Extract<RunEvent, { stepId: string | null }>): StepRunRecord {
    const id = e.stepId!;
    // Cut before marking this step: its record is updated after this returns.
    if (this.#dirty.size >= this.#batchRows && this.#writerCaughtUp()) this.#flush();
    let r = this.#steps.get(id);
    if (!r) {
      r = { runId: e.runId, stepId: id, stepName: this.#names.get(id) ?? id, status: "pending", cacheKey: null, inputs: {}, outputs: {}, executor: "inline", worker: null, attempts: 0, startedAt: null, finishedAt: null, durationMs: null, error: null, reason: null };
      this.#steps.set(id, r);
    }
    this.#dirty.add(id);
    this.#scheduleFlush();
    return r;
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
        const r = this.#step(e);
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
        const r = this.#step(e);
        r.status = "cached";
        r.cacheKey = e.key;
        r.inputs = e.inputs;
        r.outputs = e.outputs;
        r.startedAt = e.ts;
        r.finishedAt = e.ts;
        r.durationMs = 0;
        r.reason = e.source === "peer" ? "made by a concurrent run" : "cache hit";
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
        if (this.#logs.push({ runId: e.runId, stepId: e.stepId, ts: e.ts, level: e.level, msg: e.msg, data: e.data ?? null }) >= this.#batchRows && this.#writerCaughtUp()) this.#flush();
        else this.#scheduleFlush();
        return;
      case "metric":
        if (this.#metrics.push({ runId: e.runId, stepId: e.stepId, name: e.name, value: e.value, step: e.step, ts: e.ts }) >= this.#batchRows && this.#writerCaughtUp()) this.#flush();
        else this.#scheduleFlush();
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

  /** The writer takes batches now and has finished the ones it had: cutting one pays off. */
  #writerCaughtUp(): boolean {
    const w = this.#writer!;
    return this.#deferred === 0 && w.ready !== false && w.idle !== false;
  }

  #flush(): void {
    const writer = this.#writer !== undefined && this.#writer.ready !== false ? this.#writer : undefined;
    if (writer && this.#deferred === 0) {
      // At once, so the writer works while the run goes on; the chain waits for each, so a later
      // finishRun still comes after them. Nothing written earlier is still uncommitted.
      const rows = [...this.#dirty].map((id) => this.#steps.get(id)!);
      if (rows.length) this.#handOver(writer.upsertStepRuns(rows));
      if (this.#logs.length) this.#handOver(writer.appendLogs(this.#logs));
      if (this.#metrics.length) this.#handOver(writer.appendMetrics(this.#metrics));
    } else {
      // When the chain gets there: after every earlier write committed, so a row never goes back
      // to an older state. Meanwhile the records change, so this batch gets copies.
      const target = writer ?? this.#store;
      const rows = [...this.#dirty].map((id) => ({ ...this.#steps.get(id)! }));
      const logs = this.#logs;
      const metrics = this.#metrics;
      if (rows.length) this.#defer(() => target.upsertStepRuns(rows));
      if (logs.length) this.#defer(() => target.appendLogs(logs));
      if (metrics.length) this.#defer(() => target.appendMetrics(metrics));
    }
    this.#dirty.clear();
    this.#logs = [];
    this.#metrics = [];
  }

  #defer(write: () => Promise<void>): void {
    this.#deferred++;
    this.#enqueue(() => write().finally(() => this.#deferred--));
  }

  #handOver(written: Promise<void>): void {
    written.catch(() => {}); // reported by the chain, which may reach it later
    this.#enqueue(() => written);
  }

  /** Resolves once everything seen so far is written. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
    await this.#chain;
  }
}
