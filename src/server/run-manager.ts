/**
 * Runs started by the service (HTTP triggers, cron): launched in this process through the
 * Workspace, each with a buffer of its events (for server-sent events, resumable by id) and a
 * cancel handle. Finished runs stay in memory for a while; older ones are replayed from the run
 * store.
 */
import type { Logger } from "../log.ts";
import { SluiceError } from "../errors.ts";
import type { RunCoordinator, RunEvent, RunSummary, EventSink } from "../scheduler/index.ts";
import type { RunRecord, ServiceStore, Trigger } from "../store/run-store/index.ts";
import type { Workspace } from "../workspace/index.ts";

/** Who and what starts a run. */
export interface LaunchOptions {
  readonly trigger: Trigger;
  /** A token's name, `schedule:<id>`… as the run record shows it. */
  readonly actor: string;
  /** A retried request with the same key (and actor) gets the first run's id, not a second run. */
  readonly idempotencyKey?: string;
}

/** A started (or, for a repeated idempotency key, earlier) run. */
export interface StartedRun {
  readonly runId: string;
  /** Resolves when the run finishes (at once for a finished run found by its idempotency key). */
  readonly done: Promise<RunSummary>;
  /** True when an idempotency key found an earlier run. */
  readonly reused: boolean;
}

/** One event with its stream id (1, 2, 3… per run). */
export interface NumberedEvent {
  readonly id: number;
  readonly event: RunEvent;
}

/** Events of a running run kept in memory for its streams: the first (run.started) and the newest this many. */
export const MAX_LIVE_EVENTS = 20_000;

/**
 * A run this process started: its first event and its newest `maxEvents`, live subscribers, and
 * whether it finished. A long or chatty run no longer grows the server's memory without bound; a
 * stream that fell further behind skips to the events still kept (the run record has the rest).
 */
export class LiveRun {
  readonly runId: string;
  readonly pipeline: string;
  readonly done: Promise<RunSummary>;
  readonly #maxEvents: number;
  #first: NumberedEvent | undefined;
  /** The newest events after the first, oldest first (trimmed in steps, so that a push stays cheap). */
  #recent: NumberedEvent[] = [];
  #count = 0;
  readonly #subscribers = new Set<(e: NumberedEvent | null) => void>();
  #coordinator: RunCoordinator;
  #finished = false;

  constructor(runId: string, pipeline: string, coordinator: RunCoordinator, done: Promise<RunSummary>, opts: { maxEvents?: number } = {}) {
    this.runId = runId;
    this.pipeline = pipeline;
    this.#coordinator = coordinator;
    this.done = done;
    this.#maxEvents = opts.maxEvents ?? MAX_LIVE_EVENTS;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** The run's first event (run.started), if it has one. */
  get firstEvent(): RunEvent | undefined {
    return this.#first?.event;
  }

  /** Events pushed so far (kept or not). */
  get eventCount(): number {
    return this.#count;
  }

  /** Appends an event and hands it to every subscriber. */
  push(event: RunEvent): void {
    const n = { id: ++this.#count, event };
    if (n.id === 1) this.#first = n;
    else {
      this.#recent.push(n);
      if (this.#recent.length >= this.#maxEvents + Math.ceil(this.#maxEvents / 4)) this.#recent = this.#recent.slice(-this.#maxEvents);
    }
    for (const s of this.#subscribers) s(n);
  }

  /** Marks the run over: subscribers get `null` (end of stream). */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const s of this.#subscribers) s(null);
    this.#subscribers.clear();
  }

  /**
   * Events after `afterId` still kept, then each new one as it comes; `null` ends the stream.
   * Returns the unsubscribe function.
   */
  subscribe(afterId: number, fn: (e: NumberedEvent | null) => void): () => void {
    if (this.#first && afterId < 1) fn(this.#first);
    const kept = this.#recent.slice(-this.#maxEvents);
    for (const e of kept) if (e.id > afterId) fn(e);
    if (this.#finished) {
      fn(null);
      return () => undefined;
    }
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  cancel(reason: string): void {
    this.#coordinator.cancel(reason);
  }
}

/** Options of `RunManager`. */
export interface RunManagerOptions {
  readonly workspace: Workspace;
  readonly service: ServiceStore;
  readonly log: Logger;
  readonly clock: () => number;
  /** Also receives every event of every run (metrics). */
  readonly onEvent?: EventSink;
  /**
   * Finished runs whose events stay in memory.
   * @default 100
   */
  readonly keepFinished?: number;
}

/** How long a request waits for another server to give its Idempotency-Key a run id, how often it looks, and when that server is deemed dead. */
const IDEMPOTENCY_WAIT_MS = 10_000;
const IDEMPOTENCY_POLL_MS = 50;
const IDEMPOTENCY_STALE_MS = 60_000;

/** Finished runs with more events than this are dropped from memory at once (replayed from the store). */
const MAX_KEPT_EVENTS = 20_000;

/** A summary rebuilt from a run record, for a run no longer in memory. */
function summaryOf(run: RunRecord): RunSummary {
  const status = run.status === "succeeded" || run.status === "failed" ? run.status : "cancelled";
  return { runId: run.id, pipeline: run.pipeline, status, error: run.error, steps: [], outputs: new Map() };
}

/** Starts runs in this process and keeps their event buffers and cancel handles. */
export class RunManager {
  readonly #o: RunManagerOptions;
  readonly #live = new Map<string, LiveRun>();
  /** Idempotency claims being started by this process: (actor, key) → the start. */
  readonly #starting = new Map<string, Promise<StartedRun>>();
  #closing = false;

  constructor(opts: RunManagerOptions) {
    this.#o = opts;
  }

  /** The in-memory run (running, or finished recently), if any. */
  get(runId: string): LiveRun | undefined {
    return this.#live.get(runId);
  }

  /**
   * Starts a run of `pipeline` and resolves once it has an id (params are checked first: an
   * invalid request rejects with the plan's error and starts nothing).
   */
  async start(pipeline: string, params: Record<string, unknown>, opts: LaunchOptions): Promise<StartedRun> {
    if (this.#closing) throw new SluiceError("SLUICE_RUN_CANCELLED", `run of "${pipeline}" not started: the server is shutting down. Retry against a running server.`, { pipeline });
    const key = opts.idempotencyKey;
    if (key === undefined) return this.#launch(pipeline, params, opts);
    const slot = JSON.stringify([opts.actor, key]);
    const pending = this.#starting.get(slot);
    if (pending) return { ...(await pending), reused: true };
    const attempt = this.#startOnce(pipeline, params, opts, key);
    this.#starting.set(slot, attempt);
    try {
      return await attempt;
    } finally {
      this.#starting.delete(slot);
    }
  }

  async #startOnce(pipeline: string, params: Record<string, unknown>, opts: LaunchOptions, key: string): Promise<StartedRun> {
    const { service, clock, workspace } = this.#o;
    const waitUntil = Date.now() + IDEMPOTENCY_WAIT_MS;
    for (;;) {
      const claim = await service.claimIdempotencyKey(opts.actor, key, clock());
      if (claim.claimed) break;
      if (claim.runId !== null) {
        const live = this.#live.get(claim.runId);
        if (live) return { runId: live.runId, done: live.done, reused: true };
        const run = await workspace.runs.getRun(claim.runId);
        return { runId: claim.runId, done: Promise.resolve(run ? summaryOf(run) : { runId: claim.runId, pipeline, status: "cancelled", error: null, steps: [], outputs: new Map() }), reused: true };
      }
      // Claimed, no run id yet: another server is starting the run (this one's starts are in
      // #starting), or one died doing so. A claim that old is taken over; a fresh one is waited for.
      if (clock() - claim.claimedAt >= IDEMPOTENCY_STALE_MS && (await service.takeOverIdempotencyKey(opts.actor, key, claim.claimedAt, clock()))) break;
      if (Date.now() >= waitUntil) {
        throw new SluiceError("SLUICE_KEY_IN_USE", `Idempotency-Key "${key}": another server has been starting its run for ${clock() - claim.claimedAt} ms and has no run id yet. Send the request again in a moment: it then gets that run.`, { field: "idempotency-key" });
      }
      await new Promise((resolve) => setTimeout(resolve, IDEMPOTENCY_POLL_MS));
    }
    let started: StartedRun;
    try {
      started = await this.#launch(pipeline, params, opts);
    } catch (err) {
      await service.releaseIdempotencyKey(opts.actor, key);
      throw err;
    }
    await service.setIdempotencyRun(opts.actor, key, started.runId);
    return started;
  }

  async #launch(pipeline: string, params: Record<string, unknown>, opts: LaunchOptions): Promise<StartedRun> {
    const { workspace, log, onEvent } = this.#o;
    const info = await workspace.load(pipeline);
    let live: LiveRun | undefined;
    let onStarted!: (r: LiveRun) => void;
    const started = new Promise<LiveRun>((resolve) => (onStarted = resolve));
    let resolveDone!: (s: Promise<RunSummary>) => void;
    const done = new Promise<RunSummary>((resolve) => (resolveDone = resolve));
    // A plan error before the start rejects `done` too; the caller gets it from `start` instead.
    done.catch(() => undefined);
    const running = workspace.run(info, {
      params,
      trigger: opts.trigger,
      actor: opts.actor,
      onStart: (runId, coordinator) => {
        live = new LiveRun(runId, info.name, coordinator, done);
        this.#live.set(runId, live);
        onStarted(live);
      },
      onEvent: (e) => {
        live?.push(e);
        onEvent?.(e);
      },
    });
    const finished = running.finally(() => {
      if (!live) return;
      live.finish();
      this.#evictFinished();
      log.info({ runId: live.runId, pipeline: info.name }, "run finished");
    });
    resolveDone(finished);
    // Before the run has an id it can only fail by its plan (bad params): that is the caller's error.
    const first = await Promise.race([started, running.then(() => undefined)]);
    if (!first) throw new SluiceError("SLUICE_INTERNAL", `run of "${info.name}" ended before it started. Report this with the server log.`, { pipeline: info.name });
    // An error after the start is the run's: it is recorded and reported through `done`; keep it from being unhandled.
    done.catch((err: unknown) => log.error({ err, runId: first.runId }, "run failed outside its steps"));
    return { runId: first.runId, done, reused: false };
  }

  #evictFinished(): void {
    const keep = this.#o.keepFinished ?? 100;
    // A big finished run is replayed from the store rather than kept: memory stays bounded.
    for (const r of this.#live.values()) if (r.finished && r.eventCount > MAX_KEPT_EVENTS) this.#live.delete(r.runId);
    const finished = [...this.#live.values()].filter((r) => r.finished);
    for (const r of finished.slice(0, Math.max(0, finished.length - keep))) this.#live.delete(r.runId);
  }

  /** Resolves once every run running now has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#live.values()].filter((r) => !r.finished).map((r) => r.done));
  }

  /** Cancels a run of this process; false when it is not running here. */
  cancel(runId: string, reason: string): boolean {
    const live = this.#live.get(runId);
    if (!live || live.finished) return false;
    live.cancel(reason);
    return true;
  }

  /** Refuses new runs, cancels the running ones and waits for them to finish. */
  async close(): Promise<void> {
    this.#closing = true;
    const running = [...this.#live.values()].filter((r) => !r.finished);
    for (const r of running) r.cancel("server shutting down");
    await Promise.allSettled(running.map((r) => r.done));
  }
}
