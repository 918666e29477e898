import PQueue from "p-queue";
import type { ExecutorKind } from "../define/index.ts";
import { SluiceError, serializeError, type SerializedError } from "../errors.ts";
import type { Plan, StepNode } from "../graph/index.ts";
import type { CacheKey, KeyRecord } from "../hash/cache-key.ts";
import type { Digest } from "../util/canonical-json.ts";
import type { EventSink, RunOutcome, StepOutcome } from "./events.ts";
import type { Executor, ProducedOutput, ResolvedInput } from "./executor.ts";
import { KeyResolver, type CacheServices, type LookupResult } from "./key-resolver.ts";

/** Options of one run. Everything the coordinator touches is passed in. */
export interface CoordinatorOptions extends CacheServices {
  readonly plan: Plan;
  readonly runId: string;
  readonly executors: Partial<Record<ExecutorKind, Executor>>;
  readonly emit: EventSink;
  /** Most steps running at once, all executors together. */
  readonly concurrency: number;
  /** Step ids to rerun even when cached, or "all". */
  readonly force?: ReadonlySet<string> | "all";
  readonly signal?: AbortSignal;
  /** How long to wait between looks at a step another process is running: [first, max] ms. */
  readonly peerPollMs?: readonly [number, number];
  readonly trigger?: string;
  readonly actor?: string;
}

/** One step's line in the result. */
export interface StepSummary {
  readonly id: string;
  readonly status: StepOutcome;
  readonly durationMs: number | null;
  readonly cacheKey: string | null;
}

/** What `run()` resolves to. */
export interface RunSummary {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: RunOutcome;
  readonly error: SerializedError | null;
  readonly steps: StepSummary[];
  /** Output digests of every finished step. */
  readonly outputs: ReadonlyMap<string, Readonly<Record<string, Digest>>>;
}

type Phase = "pending" | "ready" | "waiting" | "dispatch" | "running" | StepOutcome;

interface StepState {
  readonly node: StepNode;
  remaining: number;
  phase: Phase;
  key: CacheKey | null;
  record: KeyRecord | null;
  inputs: Record<string, Digest>;
  outputs: Record<string, Digest> | null;
  startedAt: number;
  durationMs: number | null;
  attempt: number;
}

interface Completion {
  readonly state: StepState;
  readonly produced?: Record<string, ProducedOutput>;
  readonly error?: unknown;
}

/**
 * Runs one plan: owns all run state. Cache checks, claims and cache writes of one burst of
 * state changes commit in a single transaction of the cache database (group commit), and step
 * code only starts after that commit.
 */
export class RunCoordinator {
  readonly #o: CoordinatorOptions;
  readonly #keys: KeyResolver;
  readonly #states = new Map<string, StepState>();
  readonly #sourceOutputs = new Map<string, ResolvedInput>();
  readonly #ready: StepState[] = [];
  readonly #dispatchQ: StepState[] = [];
  readonly #peerWaits: StepState[] = [];
  readonly #completed: Completion[] = [];
  readonly #inflight = new Map<string, StepState>();
  readonly #followers = new Map<string, StepState[]>();
  readonly #runningBy = new Map<ExecutorKind, number>();
  readonly #queue: PQueue;
  readonly #abort = new AbortController();
  #running = 0;
  #burstScheduled = false;
  #peerTimer: NodeJS.Timeout | undefined;
  #peerDelay: number;
  #stopping: "failed" | "cancelled" | null = null;
  #finished = false;
  #error: SerializedError | null = null;
  #done!: () => void;

  constructor(opts: CoordinatorOptions) {
    this.#o = opts;
    this.#keys = new KeyResolver(opts, opts.plan.name);
    this.#queue = new PQueue({ concurrency: Math.max(1, opts.concurrency) });
    this.#peerDelay = opts.peerPollMs?.[0] ?? 10;
  }

  /** Runs the plan to the end and summarises it. Never throws for a step failure. */
  async run(): Promise<RunSummary> {
    const { plan, runId, emit } = this.#o;
    const t0 = this.#o.clock();
    const stepIds = plan.order.filter((id) => plan.nodes.get(id)!.kind === "step");
    emit({ type: "run.started", runId, ts: t0, pipeline: plan.name, params: plan.params, steps: stepIds, trigger: this.#o.trigger ?? "api", actor: this.#o.actor ?? "unknown" });
    const onAbort = (): void => this.cancel("run cancelled");
    this.#o.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.#keys.fingerprintAll(plan);
      for (const [id, s] of await this.#keys.digestSources(plan)) this.#sourceOutputs.set(id, s);
      for (const id of stepIds) {
        const node = plan.nodes.get(id) as StepNode;
        const remaining = plan.deps.get(id)!.filter((d) => plan.nodes.get(d)!.kind === "step").length;
        const st: StepState = { node, remaining, phase: "pending", key: null, record: null, inputs: {}, outputs: null, startedAt: 0, durationMs: null, attempt: 0 };
        this.#states.set(id, st);
        if (remaining === 0) this.#ready.push(st);
      }
      if (this.#o.signal?.aborted) this.cancel("run cancelled");
      await new Promise<void>((resolve) => {
        this.#done = resolve;
        this.#burst();
      });
    } catch (err) {
      this.#error ??= serializeError(err);
      this.#stopping ??= "failed";
      this.#skipUnfinished(`not started: ${this.#error.message.split("\n")[0]}`);
    } finally {
      this.#o.signal?.removeEventListener("abort", onAbort);
      clearTimeout(this.#peerTimer);
      this.#o.claims.releaseAll();
    }
    const status: RunOutcome = this.#stopping === "cancelled" ? "cancelled" : this.#error ? "failed" : "succeeded";
    if (status === "cancelled") this.#error ??= { code: "SLUICE_RUN_CANCELLED", message: `run ${runId} of "${plan.name}" was cancelled.` };
    emit({ type: "run.finished", runId, ts: this.#o.clock(), status, durationMs: this.#o.clock() - t0, error: this.#error });
    const outputs = new Map<string, Record<string, Digest>>();
    for (const [id, s] of this.#states) if (s.outputs) outputs.set(id, s.outputs);
    return {
      runId, pipeline: plan.name, status, error: this.#error, outputs,
      steps: stepIds.map((id) => {
        const s = this.#states.get(id);
        return { id, status: (s?.phase ?? "skipped") as StepOutcome, durationMs: s?.durationMs ?? null, cacheKey: s?.key ?? null };
      }),
    };
  }

  /** Starts nothing new and aborts running steps (they end `cancelled`). */
  cancel(reason: string): void {
    if (this.#stopping === "cancelled") return;
    this.#stopping = "cancelled";
    this.#abort.abort(new SluiceError("SLUICE_RUN_CANCELLED", reason));
    this.#scheduleBurst();
  }

  #scheduleBurst(): void {
    if (this.#burstScheduled || this.#finished) return;
    this.#burstScheduled = true;
    setImmediate(() => this.#burst());
  }

  /** One group commit: finish completed steps, decide every ready step, then start the claimed ones. */
  #burst(): void {
    this.#burstScheduled = false;
    if (this.#finished) return;
    this.#o.db.transaction(() => {
      for (const c of this.#completed.splice(0)) this.#finish(c);
      this.#drainReady();
    })();
    this.#dispatch();
    this.#maybeDone();
  }

  #emitStep(s: StepState, phase: StepOutcome, reason: string): void {
    s.phase = phase;
    const { runId, clock, emit } = this.#o;
    if (phase === "skipped") emit({ type: "step.skipped", runId, ts: clock(), stepId: s.node.id, reason });
    else if (phase === "cancelled") emit({ type: "step.cancelled", runId, ts: clock(), stepId: s.node.id, reason });
  }

  #drainReady(): void {
    const ready = this.#ready;
    for (let i = 0; i < ready.length; i++) {
      const s = ready[i]!;
      if (this.#stopping) {
        this.#emitStep(s, "skipped", this.#stopping === "cancelled" ? "run cancelled" : "not started: an earlier step failed");
        continue;
      }
      this.#decide(s);
    }
    ready.length = 0;
  }

  #inputsOf(s: StepState): Record<string, Digest> {
    const out: Record<string, Digest> = {};
    for (const [port, src] of Object.entries(s.node.inputs)) {
      const source = this.#sourceOutputs.get(src.node);
      out[port] = source ? source.digest : this.#states.get(src.node)!.outputs![src.port]!;
    }
    return out;
  }

  #decide(s: StepState): void {
    const { node } = s;
    s.inputs = this.#inputsOf(s);
    const k = this.#keys.keyFor(node, s.inputs);
    s.key = k.key;
    s.record = k.record;
    const forced = this.#o.force === "all" || (this.#o.force?.has(node.id) ?? false);
    const look: LookupResult = forced ? { hit: false, reason: "forced" } : this.#keys.lookup(node, k.key);
    if (look.hit) {
      this.#cached(s, look.outputs, "cache");
      return;
    }
    if (look.warning) this.#log(s, "warn", look.warning);
    if (node.cache !== false) {
      const leader = this.#inflight.get(k.key);
      if (leader) {
        s.phase = "waiting";
        const list = this.#followers.get(k.key) ?? [];
        list.push(s);
        this.#followers.set(k.key, list);
        return;
      }
      const holder = this.#o.claims.tryAcquire(k.key);
      if (holder) {
        s.phase = "waiting";
        this.#peerWaits.push(s);
        this.#o.emit({ type: "step.waiting", runId: this.#o.runId, ts: this.#o.clock(), stepId: node.id, key: k.key, holder: `run ${holder.runId} (pid ${holder.pid} on ${holder.host})` });
        this.#schedulePeerPoll();
        return;
      }
      this.#inflight.set(k.key, s);
    }
    s.phase = "dispatch";
    this.#dispatchQ.push(s);
    this.#o.emit({ type: "step.queued", runId: this.#o.runId, ts: this.#o.clock(), stepId: node.id, key: k.key, executor: node.executor, reason: look.reason });
  }

  #cached(s: StepState, outputs: Readonly<Record<string, Digest>>, source: "cache" | "peer"): void {
    s.outputs = { ...outputs };
    s.phase = "cached";
    s.durationMs = 0;
    this.#o.emit({ type: "step.cached", runId: this.#o.runId, ts: this.#o.clock(), stepId: s.node.id, key: s.key!, outputs: s.outputs, inputs: s.inputs, source });
    this.#release(s);
  }

  /** A finished step: its dependents whose inputs are now all present become ready. */
  #release(s: StepState): void {
    for (const d of this.#o.plan.dependents.get(s.node.id) ?? []) {
      const ds = this.#states.get(d);
      if (ds && --ds.remaining === 0 && ds.phase === "pending") {
        ds.phase = "ready";
        this.#ready.push(ds);
      }
    }
  }

  #log(s: StepState, level: "info" | "warn", msg: string): void {
    this.#o.emit({ type: "log", runId: this.#o.runId, ts: this.#o.clock(), stepId: s.node.id, level, msg });
  }

  #dispatch(): void {
    if (this.#stopping) return;
    const q = this.#dispatchQ;
    for (let i = 0; i < q.length; ) {
      const s = q[i]!;
      const kind = s.node.executor;
      const ex = this.#o.executors[kind];
      if (!ex) {
        q.splice(i, 1);
        this.#completed.push({ state: s, error: new SluiceError("SLUICE_CONFIG_INVALID", `step "${s.node.id}" wants executor "${kind}", which this run has not started. Use executor "inline" or "thread".`, { step: s.node.id, executor: kind }) });
        this.#scheduleBurst();
        continue;
      }
      const busy = this.#runningBy.get(kind) ?? 0;
      if (busy >= ex.limit || this.#running >= this.#o.concurrency) {
        i++;
        continue;
      }
      q.splice(i, 1);
      this.#runningBy.set(kind, busy + 1);
      this.#running++;
      this.#start(s, ex);
    }
  }

  #start(s: StepState, ex: Executor): void {
    const { node } = s;
    const { runId, clock, emit } = this.#o;
    s.phase = "running";
    s.attempt += 1;
    s.startedAt = clock();
    emit({ type: "step.started", runId, ts: s.startedAt, stepId: node.id, key: s.key!, executor: ex.kind, attempt: s.attempt, worker: ex.worker, inputs: s.inputs });
    const inputs: Record<string, ResolvedInput> = {};
    for (const [port, src] of Object.entries(node.inputs)) {
      inputs[port] = this.#sourceOutputs.get(src.node) ?? { kind: src.kind, digest: s.inputs[port]! };
    }
    const env: Record<string, string | undefined> = {};
    for (const name of node.step.env) env[name] = this.#o.env[name];
    const task = {
      runId, stepId: node.id, step: node.step, attempt: s.attempt, params: node.params, inputs, env, signal: this.#abort.signal,
      onLog: (level: "debug" | "info" | "warn" | "error", msg: string, data?: Record<string, unknown>) => emit({ type: "log", runId, ts: clock(), stepId: node.id, level, msg, ...(data ? { data } : {}) }),
      onMetric: (name: string, value: number, step?: number) => emit({ type: "metric", runId, ts: clock(), stepId: node.id, name, value, step: step ?? null }),
    };
    this.#queue
      .add(() => ex.execute(task))
      .then(
        (produced) => this.#completed.push({ state: s, produced: produced as Record<string, ProducedOutput> }),
        (error: unknown) => this.#completed.push({ state: s, error }),
      )
      .finally(() => {
        this.#running--;
        this.#runningBy.set(ex.kind, (this.#runningBy.get(ex.kind) ?? 1) - 1);
        this.#scheduleBurst();
      });
  }

  #finish(c: Completion): void {
    const s = c.state;
    const { node } = s;
    const { runId, clock, emit } = this.#o;
    s.durationMs = clock() - s.startedAt;
    const key = s.key!;
    if (this.#inflight.get(key) === s) this.#inflight.delete(key);
    const followers = this.#followers.get(key) ?? [];
    this.#followers.delete(key);
    if (c.error !== undefined || !c.produced) {
      this.#o.claims.release(key);
      const error = serializeError(c.error);
      if (this.#abort.signal.aborted && this.#stopping === "cancelled") {
        this.#emitStep(s, "cancelled", "run cancelled while the step was running");
      } else {
        s.phase = "failed";
        this.#error ??= { ...error, message: `pipeline "${this.#o.plan.name}" › step "${node.id}": ${error.message}` };
        this.#stopping ??= "failed";
        emit({ type: "step.failed", runId, ts: clock(), stepId: node.id, key, error, durationMs: s.durationMs, attempt: s.attempt });
      }
      for (const f of followers) this.#ready.push(f);
      return;
    }
    const outputs: Record<string, Digest> = {};
    for (const [port, p] of Object.entries(c.produced)) outputs[port] = "digest" in p ? p.digest : this.#o.cas.putBytes(p.bytes);
    s.outputs = outputs;
    s.phase = "succeeded";
    if (node.cache !== false) {
      this.#o.actionCache.put({ key, outputs, record: s.record!, pipeline: this.#o.plan.name, stepId: node.id, runId, createdAt: clock(), durationMs: s.durationMs });
      this.#o.claims.release(key);
    }
    emit({ type: "step.succeeded", runId, ts: clock(), stepId: node.id, key, outputs, durationMs: s.durationMs, attempt: s.attempt });
    this.#release(s);
    for (const f of followers) this.#cached(f, outputs, "peer");
  }

  #schedulePeerPoll(): void {
    if (this.#peerTimer) return;
    this.#peerTimer = setTimeout(() => {
      this.#peerTimer = undefined;
      const waiting = this.#peerWaits.splice(0);
      this.#o.db.transaction(() => {
        for (const s of waiting) {
          if (this.#stopping) {
            this.#emitStep(s, "skipped", this.#stopping === "cancelled" ? "run cancelled" : "not started: an earlier step failed");
            continue;
          }
          const look = this.#keys.lookup(s.node, s.key!);
          if (look.hit) this.#cached(s, look.outputs, "peer");
          else if (this.#o.claims.tryAcquire(s.key!)) this.#peerWaits.push(s);
          else {
            this.#inflight.set(s.key!, s);
            s.phase = "dispatch";
            this.#dispatchQ.push(s);
            this.#o.emit({ type: "step.queued", runId: this.#o.runId, ts: this.#o.clock(), stepId: s.node.id, key: s.key!, executor: s.node.executor, reason: "the other run did not finish it" });
          }
        }
      })();
      this.#peerDelay = Math.min(this.#peerDelay * 2, this.#o.peerPollMs?.[1] ?? 250);
      if (this.#peerWaits.length > 0) this.#schedulePeerPoll();
      this.#scheduleBurst();
    }, this.#peerDelay);
  }

  #skipUnfinished(reason: string): void {
    for (const s of this.#states.values()) {
      if (s.phase === "pending" || s.phase === "ready" || s.phase === "waiting" || s.phase === "dispatch") this.#emitStep(s, "skipped", reason);
    }
  }

  #maybeDone(): void {
    if (this.#running > 0 || this.#completed.length > 0 || this.#ready.length > 0 || this.#burstScheduled) return;
    if (this.#dispatchQ.length > 0 && !this.#stopping) return;
    if (this.#peerWaits.length > 0 && !this.#stopping) return;
    if ([...this.#followers.values()].some((l) => l.length > 0) && !this.#stopping) return;
    const firstFailed = [...this.#states.values()].find((s) => s.phase === "failed");
    this.#skipUnfinished(this.#stopping === "cancelled" ? "run cancelled" : firstFailed ? `not started: step "${firstFailed.node.id}" failed` : "not reached");
    this.#peerWaits.length = 0;
    this.#dispatchQ.length = 0;
    this.#finished = true;
    this.#done();
  }
}
