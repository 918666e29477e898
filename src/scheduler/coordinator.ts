import os from "node:os";
import PQueue from "p-queue";
import type { ExecutorKind } from "../define/index.ts";
import { SluiceError, serializeError, type SerializedError } from "../errors.ts";
import type { InputSource, MapNode, Plan, StepNode } from "../graph/index.ts";
import type { CacheKey } from "../hash/cache-key.ts";
import type { Digest } from "../util/canonical-json.ts";
import type { EventSink, RunOutcome, StepOutcome } from "./events.ts";
import type { Executor, ModelsClientFactory, ProducedOutput, ResolvedInput } from "./executor.ts";
import { KeyResolver, type CacheServices, type LookupResult } from "./key-resolver.ts";
import { collectPort, expandMap } from "./map-expansion.ts";
import { backoffMs, shouldRetry } from "./retry-policy.ts";
import { AttemptTask, type AttemptOwner } from "./attempt-task.ts";
import { DispatchQueues } from "./dispatch-queues.ts";

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
  /** After a failure, keep running every branch that does not depend on it (default: start nothing new). */
  readonly keepGoing?: boolean;
  /** Cores and memory (MiB) the running steps may claim together. @default cores, total memory */
  readonly budget?: { readonly cpu: number; readonly memoryMb: number };
  /** How long to wait between looks at a step another process is running: [first, max] ms. */
  readonly peerPollMs?: readonly [number, number];
  /** Gives each attempt its model-registry client. */
  readonly models?: ModelsClientFactory;
  /** Jitter source for retry delays. @default Math.random */
  readonly random?: () => number;
  readonly trigger?: string;
  readonly actor?: string;
}

/** One step's line in the result. */
export interface StepSummary {
  readonly id: string;
  readonly status: StepOutcome;
  readonly durationMs: number | null;
  readonly cacheKey: string | null;
  readonly attempts: number;
  /** For an instance of a map: the map's id. */
  readonly mapId?: string;
}

/** What `run()` resolves to. */
export interface RunSummary {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: RunOutcome;
  readonly error: SerializedError | null;
  readonly steps: StepSummary[];
  /** Output digests of every finished step and map. */
  readonly outputs: ReadonlyMap<string, Readonly<Record<string, Digest>>>;
}

type Phase = "pending" | "ready" | "waiting" | "dispatch" | "running" | "retrying" | StepOutcome;
/** No followers (shared: most keys have none). */
const NO_UNITS: readonly Unit[] = Object.freeze([]);
/** No linked states (shared: a state's own `next` or `prev` list is made for its first one; never pushed to). */
const NO_STATES: State[] = Object.freeze([]) as unknown as State[];
/** A unit's inputs before it is decided (shared: replaced by #decide, never changed in place). */
const NO_INPUTS: Record<string, Digest> = Object.freeze({}) as Record<string, Digest>;
/** What a running step claims of the run's budget. */
type Need = { readonly cpu: number; readonly memoryMb: number };
/** The needs of most steps (shared: an object per dispatched step otherwise). */
const NO_NEED: Need = Object.freeze({ cpu: 0, memoryMb: 0 });
const ONE_CORE: Need = Object.freeze({ cpu: 1, memoryMb: 0 });
/** The env of a step that declares none (shared, like NO_INPUTS). */
const NO_ENV: Record<string, string | undefined> = Object.freeze({}) as Record<string, string | undefined>;
/** Bursts in a row run as microtasks before one waits for the event loop's next turn. */
const MICRO_BURSTS = 64;
const TERMINAL = new Set<Phase>(["cached", "succeeded", "failed", "skipped", "cancelled"]);

interface Unit {
  readonly isMap: false;
  readonly node: StepNode;
  readonly map: MapState | null;
  /** The element a map instance receives: input port, digest and bytes (stored only if it runs). */
  readonly element: { readonly port: string; readonly digest: Digest; readonly bytes: Buffer } | null;
  remaining: number;
  phase: Phase;
  key: CacheKey | null;
  /** The canonical JSON the key hashed; kept only for a step that may run (its entry's manifest). */
  recordJson: string;
  inputs: Record<string, Digest>;
  outputs: Record<string, Digest> | null;
  startedAt: number;
  durationMs: number | null;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  /** Whether this run holds the key's claim (taken when the unit is about to start). */
  claimed: boolean;
  /** The unit is its key's entry in `#inflight` (the others with its key follow it). */
  leads: boolean;
  /** Rerun even if an entry appears (`--force`). */
  forced: boolean;
  /** The write batch in which the unit was found missing from the cache. */
  missedIn: number;
  /** The states of the steps that consume this one's outputs (top-level steps only; see NO_STATES). */
  next: State[];
}

interface MapState {
  readonly isMap: true;
  readonly node: MapNode;
  remaining: number;
  phase: Phase;
  units: Unit[];
  open: number;
  startedAt: number;
  outputs: Record<string, Digest> | null;
  next: State[];
}

type State = Unit | MapState;

/** One running attempt of a unit. */
interface Attempt {
  readonly unit: Unit;
  readonly ex: Executor;
  readonly need: Need;
  /** Settled: its completion is queued. */
  done: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface Completion {
  readonly unit: Unit;
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
  /**
   * The states of the plan's steps and maps, in plan order; `#byNumber` has them by node number
   * (`plan.orderNumbers`, `InputSource.from`). Arrays, not a Map by id: building one of 10,000
   * entries took ~2.8 ms.
   */
  readonly #states: State[] = [];
  readonly #byNumber: Array<State | undefined> = [];
  readonly #order: Unit[] = [];
  readonly #sourceOutputs = new Map<string, ResolvedInput>();
  readonly #ready: State[] = [];
  /** Claimed units waiting for an executor slot, one FIFO per executor kind. */
  readonly #dispatchQ = new DispatchQueues<Unit>();
  readonly #peerWaits: Unit[] = [];
  #completed: Completion[] = [];
  /**
   * The unit leading each key missed in this run; only one whose `leads` is still true leads now.
   * An entry stays when its unit stops leading (keys rarely repeat in a run): a cold 10,000-step
   * run spent ~2.7 ms (under the profiler) deleting them, the Map shrinking again and again.
   */
  readonly #inflight = new Map<string, Unit>();
  readonly #followers = new Map<string, Unit[]>();
  readonly #runningBy = new Map<ExecutorKind, number>();
  readonly #retrying = new Set<Unit>();
  readonly #queue: PQueue;
  readonly #abort = new AbortController();
  /** What every attempt reports to (one object for the run). */
  readonly #owner: AttemptOwner<Unit>;
  /** Attempts started and not yet settled. */
  readonly #attempts = new Set<Attempt>();
  readonly #budget: { cpu: number; memoryMb: number };
  readonly #inUse = { cpu: 0, memoryMb: 0 };
  #running = 0;
  /** A burst is wanted in the next turn. */
  #burstScheduled = false;
  /** The last burst left steps running: in the next turn, commit unless more finished meanwhile. */
  #flushCheckWanted = false;
  /** An immediate is queued for the next turn (one for both: a chain of quick steps queued two per step). */
  #tickScheduled = false;
  readonly #tickNow = (): void => this.#tick();
  /** A burst is queued as a microtask. */
  #microScheduled = false;
  readonly #microNow = (): void => {
    this.#microScheduled = false;
    if (this.#burstScheduled) this.#burst();
  };
  /** Bursts run as microtasks since the event loop last had a turn (see #scheduleBurst). */
  #microBursts = 0;
  /** What a burst does inside its write batch (made once, not per burst). */
  readonly #burstBatch = (): void => {
    const done = this.#completed;
    this.#completed = [];
    for (const c of done) this.#finish(c);
    this.#drainReady();
  };
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
    this.#budget = { ...(opts.budget ?? { cpu: os.availableParallelism(), memoryMb: Math.floor(os.totalmem() / 2 ** 20) }) };
    this.#owner = {
      runId: opts.runId, pipeline: opts.plan.name, emit: opts.emit, clock: opts.clock, models: opts.models,
      workerChanged: (u, worker) => {
        // Same attempt, same start time: only the worker is new (the record keeps its start time).
        if (u.phase === "running") opts.emit({ type: "step.started", runId: opts.runId, ts: u.startedAt, stepId: u.node.id, key: u.key!, executor: u.node.executor, attempt: u.attempt, worker, inputs: u.inputs, mapId: u.map?.node.id });
      },
    };
    // A step that ignores its signal still ends for the run when the run is cancelled.
    this.#abort.signal.addEventListener("abort", () => {
      for (const a of [...this.#attempts]) this.#settle(a, undefined, this.#abort.signal.reason);
    }, { once: true });
  }

  /** Runs the plan to the end and summarises it. Never throws for a step failure. */
  async run(): Promise<RunSummary> {
    const { plan, runId, emit } = this.#o;
    const t0 = this.#o.clock();
    // Nodes by number, never looked up by id: a 10,000-step run made four lookups and more per
    // node (each a cache miss on a large map).
    const ids: string[] = [];
    const stepNodes: Array<StepNode | MapNode> = [];
    const numbers: number[] = [];
    for (const n of plan.orderNumbers) {
      const node = plan.nodes.at(n)!;
      if (node.kind === "source") continue;
      ids.push(node.id);
      stepNodes.push(node);
      numbers.push(n);
    }
    emit({ type: "run.started", runId, ts: t0, pipeline: plan.name, params: plan.params, steps: ids, trigger: this.#o.trigger ?? "api", actor: this.#o.actor ?? "unknown" });
    const onAbort = (): void => this.cancel("run cancelled");
    this.#o.signal?.addEventListener("abort", onAbort, { once: true });
    const unhook = this.#o.claims.bindBatches(this.#o.commits);
    try {
      for (let i = 0; i < stepNodes.length; i++) {
        const node = stepNodes[i]!;
        const st: State = node.kind === "map"
          ? { isMap: true, node, remaining: 0, phase: "pending", units: [], open: 0, startedAt: 0, outputs: null, next: NO_STATES }
          : this.#unit(node, null, null);
        // Each upstream step (set up before, in plan order) links to this one, so that finishing
        // it releases this state; this state reads its inputs by their node numbers. What a node
        // reads (inputs, `when`, `over`) is exactly its upstream in the plan.
        for (const port in node.inputs) this.#link(node.inputs[port]!.from, st);
        if (node.when) this.#link(node.when.source.from, st);
        if (node.kind === "map") this.#link(node.over.from, st);
        this.#states.push(st);
        this.#byNumber[numbers[i]!] = st;
        if (st.remaining === 0) this.#ready.push(st);
      }
      this.#keys.fingerprintAll(plan);
      for (const [id, s] of await this.#keys.digestSources(plan)) this.#sourceOutputs.set(id, s);
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
      this.#finished = true;
      this.#o.signal?.removeEventListener("abort", onAbort);
      clearTimeout(this.#peerTimer);
      for (const u of this.#retrying) clearTimeout(u.timer);
      this.#o.commits.run(() => this.#o.claims.releaseAll());
      this.#o.commits.flush();
      unhook();
    }
    const status: RunOutcome = this.#stopping === "cancelled" ? "cancelled" : this.#error ? "failed" : "succeeded";
    if (status === "cancelled") this.#error ??= { code: "SLUICE_RUN_CANCELLED", message: `run ${runId} of "${plan.name}" was cancelled.` };
    emit({ type: "run.finished", runId, ts: this.#o.clock(), status, durationMs: this.#o.clock() - t0, error: this.#error });
    return this.#summary(status);
  }

  #summary(status: RunOutcome): RunSummary {
    // The outputs by id as two lists; the Map is made if someone reads it (most callers do not,
    // and one of 10,000 entries took ~2.8 ms).
    const ids: string[] = [];
    const outs: Array<Record<string, Digest>> = [];
    const steps: StepSummary[] = [];
    const line = (id: string, s: State): StepSummary => {
      const status = (TERMINAL.has(s.phase) ? s.phase : "skipped") as StepOutcome;
      if (s.isMap) return { id, status, durationMs: s.phase === "pending" ? null : this.#o.clock() - s.startedAt, cacheKey: null, attempts: 0 };
      // Literals, not a spread of an optional field: the summary of 10,000 steps spread 10,000 empty objects.
      if (!s.map) return { id, status, durationMs: s.durationMs, cacheKey: s.key, attempts: s.attempt };
      return { id, status, durationMs: s.durationMs, cacheKey: s.key, attempts: s.attempt, mapId: s.map.node.id };
    };
    for (const s of this.#states) {
      const id = s.node.id;
      if (s.outputs) {
        ids.push(id);
        outs.push(s.outputs);
      }
      steps.push(line(id, s));
      if (s.isMap) for (const u of s.units) {
        if (u.outputs) {
          ids.push(u.node.id);
          outs.push(u.outputs);
        }
        steps.push(line(u.node.id, u));
      }
    }
    let outputs: Map<string, Record<string, Digest>> | undefined;
    return {
      runId: this.#o.runId, pipeline: this.#o.plan.name, status, error: this.#error, steps,
      get outputs() {
        if (!outputs) {
          outputs = new Map();
          for (let i = 0; i < ids.length; i++) outputs.set(ids[i]!, outs[i]!);
        }
        return outputs;
      },
    };
  }

  /** Starts nothing new and aborts running steps (they end `cancelled`). */
  cancel(reason: string): void {
    if (this.#stopping === "cancelled" || this.#finished) return;
    this.#stopping = "cancelled";
    this.#abort.abort(new SluiceError("SLUICE_RUN_CANCELLED", reason));
    for (const u of this.#retrying) {
      clearTimeout(u.timer);
      if (u.claimed) this.#o.claims.release(u.key!);
      u.claimed = false;
      this.#terminal(u, "cancelled", "run cancelled while waiting to retry");
    }
    this.#retrying.clear();
    this.#scheduleBurst();
  }

  /**
   * Links state `st` to the state of its upstream node number `from` (once, however many inputs
   * it feeds; a state's links are made one after another, so a repeat is `up.next`'s last); a
   * source has none.
   */
  #link(from: number, st: State): void {
    const up = this.#byNumber[from];
    if (!up || up.next[up.next.length - 1] === st) return;
    st.remaining++;
    if (up.next === NO_STATES) up.next = [st];
    else up.next.push(st);
  }

  /** The state of an upstream node (by its number); undefined for a source file or folder. */
  #upstream(src: InputSource): State | undefined {
    return this.#byNumber[src.from];
  }

  #unit(node: StepNode, map: MapState | null, element: Unit["element"]): Unit {
    const u: Unit = { isMap: false, node, map, element, remaining: 0, phase: "pending", key: null, recordJson: "", inputs: NO_INPUTS, outputs: null, startedAt: 0, durationMs: null, attempt: 0, timer: undefined, claimed: false, leads: false, forced: false, missedIn: 0, next: NO_STATES };
    this.#order.push(u);
    return u;
  }

  /**
   * Steps finished: burst soon. Up to MICRO_BURSTS bursts in a row run as microtasks (a chain of
   * quick inline steps then does not wait for an event-loop turn per step), then one waits for
   * the next turn, so timers, I/O and signals still get theirs.
   */
  #scheduleBurst(): void {
    if (this.#burstScheduled || this.#finished) return;
    this.#burstScheduled = true;
    if (this.#microBursts < MICRO_BURSTS) {
      this.#microBursts++;
      if (!this.#microScheduled) {
        this.#microScheduled = true;
        queueMicrotask(this.#microNow);
      }
      return;
    }
    this.#scheduleTick();
  }

  #scheduleTick(): void {
    if (this.#tickScheduled) return;
    this.#tickScheduled = true;
    setImmediate(this.#tickNow);
  }

  /** The next turn: the burst if one is wanted (more steps finished), else the idle commit check. */
  #tick(): void {
    this.#tickScheduled = false;
    this.#microBursts = 0;
    const check = this.#flushCheckWanted;
    this.#flushCheckWanted = false;
    if (this.#burstScheduled) this.#burst();
    else if (check && !this.#finished && this.#completed.length === 0) this.#o.commits.flush();
  }

  /** One group commit: finish completed steps, decide every ready step, then start the claimed ones. */
  #burst(): void {
    this.#burstScheduled = false;
    if (this.#finished) return;
    this.#o.commits.run(this.#burstBatch);
    this.#dispatch();
    this.#maybeDone();
    // Steps that did not finish within this turn may run for long: commit what finished before
    // them, so a crash meanwhile keeps those results (quick steps keep sharing one batch). The
    // check runs in the next turn, before a step that is still running can get much further;
    // if more steps finished by then, their burst runs instead (and checks again).
    if (this.#running > 0) {
      this.#flushCheckWanted = true;
      this.#scheduleTick();
    }
  }

  /** Puts a unit or map in a final phase, emits it, and moves the graph on. */
  #terminal(s: State, phase: StepOutcome, reason: string): void {
    if (TERMINAL.has(s.phase)) return;
    s.phase = phase;
    const { runId, clock, emit } = this.#o;
    const stepId = s.node.id;
    const mapId = s.isMap ? undefined : s.map?.node.id;
    if (phase === "skipped") emit({ type: "step.skipped", runId, ts: clock(), stepId, reason, mapId });
    else if (phase === "cancelled") emit({ type: "step.cancelled", runId, ts: clock(), stepId, reason, mapId });
    this.#settled(s);
  }

  /** After a state turned final: close its map, release or skip what depends on it. */
  #settled(s: State): void {
    if (!s.isMap && s.map) {
      if (--s.map.open === 0) this.#finishMap(s.map);
      return;
    }
    if (s.phase === "cached" || s.phase === "succeeded") this.#releaseDependents(s);
    else this.#skipDescendants(s, s.phase === "failed" ? `upstream "${s.node.id}" failed` : `upstream "${s.node.id}" was ${s.phase}`);
  }

  #releaseDependents(s: State): void {
    for (const ds of s.next) {
      if (--ds.remaining === 0 && ds.phase === "pending") {
        ds.phase = "ready";
        this.#ready.push(ds);
      }
    }
  }

  #skipDescendants(s: State, reason: string): void {
    for (const ds of s.next) {
      if (ds.phase === "pending" || ds.phase === "ready") this.#terminal(ds, "skipped", reason);
    }
  }

  #drainReady(): void {
    const ready = this.#ready;
    for (let i = 0; i < ready.length; i++) {
      const s = ready[i]!;
      if (TERMINAL.has(s.phase)) continue;
      if (this.#stopping) {
        this.#terminal(s, "skipped", this.#stopping === "cancelled" ? "run cancelled" : "not started: an earlier step failed");
        continue;
      }
      if (!s.isMap && s.map) {
        this.#decide(s);
        continue;
      }
      try {
        if (s.node.when && !this.#whenHolds(s)) continue;
        if (s.isMap) this.#expand(s);
        else this.#decide(s);
      } catch (err) {
        this.#failState(s, err);
      }
    }
    ready.length = 0;
  }

  /** The JSON value of an upstream step's output port, read from the CAS. */
  #valueOf(src: InputSource): unknown {
    const d = this.#upstream(src)!.outputs![src.port]!;
    const b = this.#o.cas.getBytes(d);
    if (!b) throw new SluiceError("SLUICE_CACHE_CORRUPT", `output ${src.node}.${src.port} (${d}) is missing from the cache. Run again: the producing step reruns.`, { digest: d });
    return JSON.parse(b.toString("utf8"));
  }

  #whenHolds(s: State): boolean {
    const gate = s.node.when!;
    let ok: boolean;
    try {
      ok = Boolean(gate.test(this.#valueOf(gate.source)));
    } catch (err) {
      throw new SluiceError("SLUICE_STEP_FAILED", `when (${gate.label}) on ${gate.source.node}.${gate.source.port} threw: ${(err as Error)?.message ?? String(err)}`, { field: "when" }, { cause: err });
    }
    if (!ok) this.#terminal(s, "skipped", `when ${gate.label} was false`);
    return ok;
  }

  #expand(m: MapState): void {
    m.startedAt = this.#o.clock();
    m.phase = "running";
    const over = this.#upstream(m.node.over)!.outputs![m.node.over.port]! as Digest;
    const elements = expandMap(m.node, over, this.#o.cas);
    this.#o.emit({ type: "map.expanded", runId: this.#o.runId, ts: m.startedAt, stepId: m.node.id, count: elements.length });
    m.units = elements.map((e) => this.#unit(e.node, m, { port: m.node.as, digest: e.digest, bytes: e.bytes }));
    m.open = m.units.length;
    if (m.open === 0) this.#finishMap(m);
    for (const u of m.units) if (!this.#stopping) this.#decide(u);
    else this.#terminal(u, "skipped", "not started: an earlier step failed");
  }

  #finishMap(m: MapState): void {
    const counts: Record<StepOutcome, number> = { cached: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 };
    for (const u of m.units) counts[u.phase as StepOutcome]++;
    const { runId, clock, emit } = this.#o;
    let status: StepOutcome;
    if (counts.failed > 0) status = "failed";
    else if (counts.cancelled > 0) status = "cancelled";
    else if (counts.skipped > 0) status = "skipped";
    else {
      status = counts.succeeded > 0 ? "succeeded" : "cached";
      try {
        const outs = m.units.map((u) => u.outputs!);
        m.outputs = {};
        for (const [port, spec] of Object.entries(m.node.step.outputs as Record<string, { kind: string }>)) {
          m.outputs[port] = this.#o.cas.putBytes(collectPort(port, spec.kind, outs, this.#o.cas, m.node.id));
        }
      } catch (err) {
        status = "failed";
        this.#noteFailure(m.node.id, serializeError(err));
      }
    }
    m.phase = status;
    emit({ type: "map.finished", runId, ts: clock(), stepId: m.node.id, status, counts, outputs: m.outputs ?? {}, durationMs: clock() - m.startedAt });
    this.#settled(m);
  }

  #inputsOf(u: Unit): Record<string, Digest> {
    const out: Record<string, Digest> = {};
    const wired = u.node.inputs;
    for (const port in wired) {
      const src = wired[port]!;
      const up = this.#upstream(src);
      out[port] = up ? up.outputs![src.port]! : this.#sourceOutputs.get(src.node)!.digest;
    }
    if (u.element) out[u.element.port] = u.element.digest;
    return out;
  }

  #decide(u: Unit): void {
    const { node } = u;
    u.inputs = this.#inputsOf(u);
    const k = this.#keys.keyOf(node, u.inputs);
    u.key = k.key;
    const force = this.#o.force;
    const forced = force === "all" || (force?.has(node.id) ?? false) || (u.map !== null && (force?.has?.(u.map.node.id) ?? false));
    const look: LookupResult = forced ? { hit: false, reason: "forced" } : this.#keys.lookup(node, k.key);
    if (look.hit) {
      this.#cached(u, look.outputs, "cache");
      return;
    }
    // Kept only for a step that may run (its entry's manifest): a run of 10,000 hits held 3 MB of them.
    u.recordJson = k.recordJson;
    if (look.warning) this.#log(u, "warn", look.warning);
    u.forced = forced;
    u.missedIn = this.#o.commits.batch;
    if (node.cache !== false) {
      const leader = this.#inflight.get(k.key);
      if (leader?.leads) {
        u.phase = "waiting";
        const list = this.#followers.get(k.key) ?? [];
        list.push(u);
        this.#followers.set(k.key, list);
        return;
      }
      // Claimed when it is about to start (#claimToStart), so a claim is rarely written: most quick
      // steps take and release it within one write batch.
      this.#inflight.set(k.key, u);
      u.leads = true;
    }
    this.#queueUnit(u, look.reason);
  }

  /**
   * Before a unit starts: takes its key's claim, or finds the entry another process made meanwhile,
   * or leaves the unit waiting for the process that holds the claim. True when it may start.
   */
  #claimToStart(u: Unit): boolean {
    if (u.claimed || u.node.cache === false) return true;
    const key = u.key!;
    return this.#o.commits.run(() => {
      if (!u.forced && this.#o.commits.foreignSince(u.missedIn)) {
        const look = this.#keys.lookup(u.node, key);
        if (look.hit) {
          const followers = this.#handOver(u, key);
          this.#cached(u, look.outputs, "peer");
          for (const f of followers) this.#cached(f, look.outputs, "peer");
          this.#scheduleBurst();
          return false;
        }
      }
      const holder = this.#o.claims.tryAcquire(key);
      if (!holder) {
        u.claimed = true;
        return true;
      }
      const followers = this.#handOver(u, key);
      u.phase = "waiting";
      this.#peerWaits.push(u, ...followers);
      this.#o.emit({ type: "step.waiting", runId: this.#o.runId, ts: this.#o.clock(), stepId: u.node.id, key, holder: `run ${holder.runId} (pid ${holder.pid} on ${holder.host})` });
      this.#schedulePeerPoll();
      this.#scheduleBurst();
      return false;
    });
  }

  /** Stops `u` leading its key in this run; returns the units that waited on it. */
  #handOver(u: Unit, key: string): readonly Unit[] {
    u.leads = false;
    if (this.#followers.size === 0) return NO_UNITS;
    const followers = this.#followers.get(key);
    if (!followers) return NO_UNITS;
    this.#followers.delete(key);
    return followers;
  }

  #queueUnit(u: Unit, reason: string): void {
    if (u.element) this.#o.cas.putBytes(u.element.bytes);
    u.phase = "dispatch";
    this.#dispatchQ.push(u.node.executor, u);
    this.#o.emit({ type: "step.queued", runId: this.#o.runId, ts: this.#o.clock(), stepId: u.node.id, key: u.key!, executor: u.node.executor, reason, mapId: u.map?.node.id });
  }

  #cached(u: Unit, outputs: Readonly<Record<string, Digest>>, source: "cache" | "peer"): void {
    // Shared with the cache's entry, never copied: nothing writes into a unit's outputs.
    u.outputs = outputs as Record<string, Digest>;
    u.phase = "cached";
    u.durationMs = 0;
    this.#o.emit({ type: "step.cached", runId: this.#o.runId, ts: this.#o.clock(), stepId: u.node.id, key: u.key!, outputs: u.outputs, inputs: u.inputs, source, mapId: u.map?.node.id });
    this.#settled(u);
  }

  #log(u: Unit, level: "info" | "warn", msg: string): void {
    this.#o.emit({ type: "log", runId: this.#o.runId, ts: this.#o.clock(), stepId: u.node.id, level, msg });
  }

  #needs(u: Unit): Need {
    const r = u.node.policy.resources;
    // A remote step uses a worker's machine, not this one.
    if (u.node.executor === "remote") return NO_NEED;
    if (r === undefined) return u.node.executor === "inline" ? NO_NEED : ONE_CORE;
    return { cpu: r.cpu ?? (u.node.executor === "inline" ? 0 : 1), memoryMb: r.memoryMb ?? 0 };
  }

  #dispatch(): void {
    if (this.#dispatchQ.size === 0 || this.#stopping === "cancelled" || (this.#stopping && !this.#o.keepGoing)) return;
    // Steps on isolated executors (threads, processes, remote workers) read their inputs from the
    // database through other connections: when the open batch stored one of them, they start
    // after one commit for all of them (a burst of 256 remote steps committed 256 times, each write
    // batch reopened for the next claim). Inputs stored earlier need none: the batch is then
    // committed at the end of the turn (#tick), which also hands the write lock to those steps'
    // own writes. A commit per dispatch cost remote steps, whose answers arrive in several reads
    // a turn, 48–56% of raw BullMQ's rate against 58–66% without (bench r, three runs each).
    let isolated: Array<{ u: Unit; ex: Executor; need: Need }> | undefined;
    kinds: for (const kind of this.#dispatchQ.kinds()) {
      const ex = this.#o.executors[kind];
      if (!ex) {
        for (const u of this.#dispatchQ.drain(kind)) this.#completed.push({ unit: u, error: new SluiceError("SLUICE_CONFIG_INVALID", `step "${u.node.id}" wants executor "${kind}", which this run has not started. Use executor "inline", "thread" or "process".`, { step: u.node.id, executor: kind }) });
        this.#scheduleBurst();
        continue;
      }
      for (;;) {
        if (this.#running >= this.#o.concurrency) break kinds;
        const u = this.#dispatchQ.peek(kind);
        if (!u || (this.#runningBy.get(kind) ?? 0) >= ex.limit) break;
        const need = this.#needs(u);
        const fits = this.#running === 0 || (this.#inUse.cpu + need.cpu <= this.#budget.cpu && this.#inUse.memoryMb + need.memoryMb <= this.#budget.memoryMb);
        if (!fits) break;
        this.#dispatchQ.shift(kind);
        if (!this.#claimToStart(u)) continue;
        this.#runningBy.set(kind, (this.#runningBy.get(kind) ?? 0) + 1);
        this.#running++;
        this.#inUse.cpu += need.cpu;
        this.#inUse.memoryMb += need.memoryMb;
        if (ex.isolated) (isolated ??= []).push({ u, ex, need });
        else this.#start(u, ex, need);
      }
    }
    if (!isolated) return;
    if (isolated.some(({ u }) => this.#readsUncommitted(u))) this.#o.commits.flush();
    for (const { u, ex, need } of isolated) this.#start(u, ex, need);
  }

  /** Whether an input of `u` was stored in the open write batch (a step on another connection cannot read it before the commit). */
  #readsUncommitted(u: Unit): boolean {
    const cas = this.#o.cas;
    if (u.element && cas.isUncommitted(u.element.digest)) return true;
    for (const port in u.inputs) if (cas.isUncommitted(u.inputs[port]!)) return true;
    return false;
  }

  #start(u: Unit, ex: Executor, need: Need): void {
    const { node } = u;
    const { runId, clock, emit } = this.#o;
    u.phase = "running";
    u.attempt += 1;
    u.startedAt = clock();
    emit({ type: "step.started", runId, ts: u.startedAt, stepId: node.id, key: u.key!, executor: ex.kind, attempt: u.attempt, worker: ex.worker, inputs: u.inputs, mapId: u.map?.node.id });
    const inputs: Record<string, ResolvedInput> = {};
    for (const port in node.inputs) {
      const src = node.inputs[port]!;
      inputs[port] = this.#upstream(src) ? { kind: src.kind, digest: u.inputs[port]! } : this.#sourceOutputs.get(src.node)!;
    }
    if (u.element) inputs[u.element.port] = { kind: "json", digest: u.element.digest };
    let env = NO_ENV;
    if (node.step.env.length > 0) {
      env = {};
      for (const name of node.step.env) env[name] = this.#o.env[name];
    }
    const timeoutMs = node.policy.timeoutMs;
    let signal = this.#abort.signal;
    const attempt: Attempt = { unit: u, ex, need, done: false, timer: undefined };
    if (timeoutMs !== undefined) {
      const ac = new AbortController();
      attempt.timer = setTimeout(() => {
        ac.abort(new SluiceError("SLUICE_STEP_TIMEOUT", `timed out after ${timeoutMs} ms (timeoutMs: ${timeoutMs}). Make the step faster or raise its timeoutMs.`, { step: node.id, timeoutMs }));
        // A step that ignores its signal still ends for the run when the signal fires.
        this.#settle(attempt, undefined, ac.signal.reason);
      }, timeoutMs);
      signal = AbortSignal.any([this.#abort.signal, ac.signal]);
    }
    const task = new AttemptTask(this.#owner, u, node.id, node.step, u.attempt, node.params, inputs, env, signal, this.#keys.codeOf(node));
    this.#attempts.add(attempt);
    this.#queue.add(() => ex.execute(task)).then(
      (produced) => this.#settle(attempt, produced as Record<string, ProducedOutput>, undefined),
      (error: unknown) => this.#settle(attempt, undefined, signal.aborted ? signal.reason : error),
    );
  }

  /** An attempt ended (or its run or its timeout aborted it): its completion is queued once, later outcomes are ignored. */
  #settle(a: Attempt, produced: Record<string, ProducedOutput> | undefined, error: unknown): void {
    if (a.done) return;
    a.done = true;
    this.#attempts.delete(a);
    clearTimeout(a.timer);
    this.#completed.push(produced ? { unit: a.unit, produced } : { unit: a.unit, error });
    this.#running--;
    this.#inUse.cpu -= a.need.cpu;
    this.#inUse.memoryMb -= a.need.memoryMb;
    this.#runningBy.set(a.ex.kind, (this.#runningBy.get(a.ex.kind) ?? 1) - 1);
    this.#scheduleBurst();
  }

  #noteFailure(id: string, error: SerializedError): void {
    this.#error ??= { ...error, message: `pipeline "${this.#o.plan.name}" › step "${id}": ${error.message}` };
    if (!this.#o.keepGoing) this.#stopping ??= "failed";
  }

  /** A state that failed outside an attempt (a `when` that threw, a map that could not expand). */
  #failState(s: State, err: unknown): void {
    const error = serializeError(err);
    this.#noteFailure(s.node.id, error);
    s.phase = "failed";
    this.#o.emit({ type: "step.failed", runId: this.#o.runId, ts: this.#o.clock(), stepId: s.node.id, key: null, error, durationMs: 0, attempt: 0 });
    this.#settled(s);
  }

  #finish(c: Completion): void {
    const u = c.unit;
    const { node } = u;
    const { runId, clock, emit } = this.#o;
    u.durationMs = clock() - u.startedAt;
    const key = u.key!;
    if (c.error !== undefined || !c.produced) {
      const error = serializeError(c.error);
      if (this.#stopping === "cancelled") {
        this.#release(u, key);
        this.#terminal(u, "cancelled", "run cancelled while the step was running");
        return;
      }
      if (shouldRetry(node.policy.retries, u.attempt, error)) {
        const delayMs = backoffMs(node.policy.retries!, u.attempt, this.#o.random);
        u.phase = "retrying";
        emit({ type: "step.retrying", runId, ts: clock(), stepId: node.id, key, error, attempt: u.attempt, delayMs, mapId: u.map?.node.id });
        this.#retrying.add(u);
        u.timer = setTimeout(() => {
          this.#retrying.delete(u);
          u.phase = "dispatch";
          this.#dispatchQ.push(u.node.executor, u);
          this.#scheduleBurst();
        }, delayMs);
        return;
      }
      this.#release(u, key);
      u.phase = "failed";
      this.#noteFailure(node.id, error);
      emit({ type: "step.failed", runId, ts: clock(), stepId: node.id, key, error, durationMs: u.durationMs, attempt: u.attempt, mapId: u.map?.node.id });
      this.#settled(u);
      return;
    }
    const outputs: Record<string, Digest> = {};
    for (const port in c.produced) {
      const p = c.produced[port]!;
      outputs[port] = "digest" in p ? p.digest : this.#o.cas.putBytes(p.bytes);
    }
    u.outputs = outputs;
    u.phase = "succeeded";
    if (node.cache !== false) {
      this.#o.actionCache.put({ key, outputs, record: this.#keys.recordOf(node, u.inputs), recordJson: u.recordJson, pipeline: this.#o.plan.name, stepId: node.id, runId, createdAt: clock(), durationMs: u.durationMs });
    }
    u.recordJson = "";
    const followers = this.#release(u, key);
    emit({ type: "step.succeeded", runId, ts: clock(), stepId: node.id, key, outputs, durationMs: u.durationMs, attempt: u.attempt, mapId: u.map?.node.id });
    this.#settled(u);
    for (const f of followers) this.#cached(f, outputs, "peer");
  }

  /** Gives up a unit's claim (in the open batch); in-run followers of a failed leader go back to the ready queue. */
  #release(u: Unit, key: string): readonly Unit[] {
    if (u.claimed) this.#o.claims.releaseLater(key);
    u.claimed = false;
    const followers = this.#handOver(u, key);
    if (u.phase !== "succeeded") {
      for (const f of followers) this.#ready.push(f);
      return NO_UNITS;
    }
    return followers;
  }

  #schedulePeerPoll(): void {
    if (this.#peerTimer) return;
    this.#peerTimer = setTimeout(() => {
      this.#peerTimer = undefined;
      if (this.#finished) return;
      const waiting = this.#peerWaits.splice(0);
      this.#o.commits.run(() => {
        for (const u of waiting) {
          if (this.#stopping) {
            this.#terminal(u, "skipped", this.#stopping === "cancelled" ? "run cancelled" : "not started: an earlier step failed");
            continue;
          }
          const look = this.#keys.lookup(u.node, u.key!);
          const leader = this.#inflight.get(u.key!);
          if (look.hit) this.#cached(u, look.outputs, "peer");
          else if (leader?.leads) this.#followers.set(u.key!, [...(this.#followers.get(u.key!) ?? []), u]);
          else if (this.#o.claims.tryAcquire(u.key!)) this.#peerWaits.push(u);
          else {
            u.claimed = true;
            this.#inflight.set(u.key!, u);
            u.leads = true;
            this.#queueUnit(u, "the other run did not finish it");
          }
        }
      });
      this.#peerDelay = Math.min(this.#peerDelay * 2, this.#o.peerPollMs?.[1] ?? 250);
      if (this.#peerWaits.length > 0) this.#schedulePeerPoll();
      this.#scheduleBurst();
    }, this.#peerDelay);
  }

  #skipUnfinished(reason: string): void {
    for (const s of this.#states) {
      if (s.isMap) for (const u of s.units) if (!TERMINAL.has(u.phase)) this.#terminal(u, "skipped", reason);
      if (!TERMINAL.has(s.phase)) this.#terminal(s, "skipped", reason);
    }
  }

  #maybeDone(): void {
    if (this.#running > 0 || this.#completed.length > 0 || this.#ready.length > 0 || this.#burstScheduled || this.#retrying.size > 0) return;
    const blocked = this.#stopping === "cancelled" || (this.#stopping !== null && !this.#o.keepGoing);
    if (this.#dispatchQ.size > 0 && !blocked) return;
    if (this.#peerWaits.length > 0 && !this.#stopping) return;
    if ([...this.#followers.values()].some((l) => l.length > 0) && !this.#stopping) return;
    const firstFailed = this.#order.find((s) => s.phase === "failed");
    this.#skipUnfinished(this.#stopping === "cancelled" ? "run cancelled" : firstFailed ? `not started: step "${firstFailed.node.id}" failed` : "not reached");
    this.#peerWaits.length = 0;
    this.#dispatchQ.clear();
    this.#finished = true;
    this.#done();
  }
}

