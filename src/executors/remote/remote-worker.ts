import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from "bullmq";
import { Redis } from "ioredis";
import { isStep, type AnyStep } from "../../define/index.ts";
import { serializeError, type ErrorCode } from "../../errors.ts";
import { CodeFingerprinter } from "../../hash/code-fingerprint.ts";
import { createSqliteFingerprintMemo } from "../../hash/fingerprint-memo.ts";
import type { Logger } from "../../log.ts";
import { openCacheDb, type CacheDb } from "../../store/cache-db.ts";
import { INLINE_MAX_BYTES, LocalCas } from "../../store/local-cas.ts";
import { openRemoteCache, type RemoteCache, type RemoteCacheSettings } from "../../store/remote-cache/index.ts";
import type { Digest } from "../../util/canonical-json.ts";
import { TsImporter } from "../../util/ts-import.ts";
import type { ProducedOutput, StepTask } from "../../scheduler/index.ts";
import { runStepBody } from "../step-io.ts";
import { ThreadExecutor } from "../thread-executor.ts";
import { cancelChannel, connectionFrom, JOB_FORMAT, RESULT_INLINE_MAX_BYTES, toFailedReason, workerLabel, type RemoteJobData, type RemoteJobResult, type RemoteLine, type RemoteProgress } from "./protocol.ts";

/** Options of a `sluice worker`. */
export interface RemoteWorkerOptions {
  /** This machine's checkout of the workspace: steps load from here. */
  readonly root: string;
  /** The cache folder shared with the coordinators (inputs are read, outputs written here). */
  readonly cacheDir: string;
  readonly redisUrl: string;
  /** BullMQ key prefix (the coordinators' `redisPrefix`). */
  readonly prefix: string;
  /** @default "default" */
  readonly queue: string;
  /** Jobs at once. @default 1 */
  readonly concurrency?: number;
  /** Pool threads; jobs beyond them wait for a free thread. @default the smaller of `concurrency` and the cores */
  readonly threads?: number;
  readonly logger: Logger;
  /** BullMQ lock of a running job; a worker that stops renewing it (killed) loses the job after this. @default 30000 */
  readonly lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died. @default 30000 */
  readonly stalledIntervalMs?: number;
  /** Times a job may lose its worker before it fails. @default 2 */
  readonly maxStalledCount?: number;
  /** Log lines and metrics are sent back at most this often. @default 100 */
  readonly progressMs?: number;
  /** The coordinators' shared cache server: inputs are fetched from it, outputs pushed to it. */
  readonly remoteCache?: RemoteCacheSettings;
  /**
   * A step whose last `runs` runs on the pool each took under `underMs` on their thread runs on
   * the worker's event loop from then on (handing a no-op step to a thread costs more than
   * running it); the first run there whose run() holds the event loop over `heldMs` sends it
   * back to the pool for good. `false`: always the pool.
   * @default { runs: 20, underMs: 1, heldMs: 10 }
   */
  readonly inlineQuickSteps?: boolean | QuickSteps;
}

/** When a step counts as quick enough for the worker's event loop (see `inlineQuickSteps`). */
export interface QuickSteps {
  /** Consecutive quick runs on the pool before a step runs on the event loop. */
  readonly runs: number;
  /** Thread time under which a run counts as quick. */
  readonly underMs: number;
  /** A run on the event loop whose run() holds it longer than this sends the step back to the pool for good. */
  readonly heldMs: number;
}

const QUICK_STEPS: QuickSteps = { runs: 20, underMs: 1, heldMs: 10 };

/** How a loaded step has been running: on the pool until it proved quick. */
interface Loaded {
  readonly step: AnyStep;
  readonly code: Digest;
  quickRuns: number;
  here: boolean;
}

/** Codes a worker fails a job with that no other worker would fix. */
const FINAL: ReadonlySet<ErrorCode> = new Set(["SLUICE_WORKER_CODE_MISMATCH", "SLUICE_DEFINITION_INVALID", "SLUICE_REMOTE_UNAVAILABLE", "SLUICE_RUN_CANCELLED"]);

function fail(code: ErrorCode, message: string, details: Record<string, unknown>): never {
  throw new UnrecoverableError(toFailedReason({ code, message, details }));
}

/** How long, and for how many jobs at most, a cancellation for a job not running here is kept. */
const EARLY_CANCEL_MS = 60_000;
const EARLY_CANCEL_MAX = 10_000;

/**
 * A `sluice worker`: takes jobs of one queue, loads each step from this machine's checkout,
 * refuses a job whose code fingerprint differs from its own, runs the step on its own Piscina
 * pool with inputs from the shared cache, writes outputs there and returns their digests.
 */
export class RemoteWorker {
  readonly label = workerLabel();
  readonly #o: RemoteWorkerOptions;
  readonly #log: Logger;
  readonly #db: CacheDb;
  readonly #cas: LocalCas;
  readonly #remote: RemoteCache | undefined;
  readonly #fingerprinter: CodeFingerprinter;
  readonly #importer: TsImporter;
  readonly #threads: ThreadExecutor;
  readonly #connection: ConnectionOptions;
  readonly #steps = new Map<string, Loaded>();
  readonly #speed = new WeakMap<AnyStep, Loaded>();
  readonly #quick: QuickSteps | undefined;
  #worker: Worker<RemoteJobData, RemoteJobResult> | undefined;
  /** Progress reporters of the jobs running here, called by one ticker (not a timer per job). */
  readonly #ticking = new Set<() => void>();
  #ticker: NodeJS.Timeout | undefined;
  #sub: Redis | undefined;
  /** Job id → when a cancellation came for it while it was not running here (see #noteCancel). */
  readonly #cancelledEarly = new Map<string, number>();
  /**
   * Jobs this worker ran to the end: their step returned (succeeded) or threw (failed). Counted
   * as the job's processing ends, before BullMQ records the outcome, so a coordinator never
   * sees an outcome this count does not include yet.
   */
  readonly counts = { succeeded: 0, failed: 0 };

  constructor(opts: RemoteWorkerOptions) {
    this.#o = opts;
    this.#quick = opts.inlineQuickSteps === false ? undefined : opts.inlineQuickSteps === true || opts.inlineQuickSteps === undefined ? QUICK_STEPS : opts.inlineQuickSteps;
    this.#log = opts.logger.child({ component: "worker", worker: this.label, queue: opts.queue });
    this.#db = openCacheDb(opts.cacheDir);
    this.#remote = opts.remoteCache && openRemoteCache(opts.remoteCache, { tmpDir: path.join(opts.cacheDir, "tmp"), inlineMaxBytes: INLINE_MAX_BYTES }, this.#log);
    // Read-through: an input missing here is fetched from the cache server before the step starts.
    this.#cas = new LocalCas({ dir: opts.cacheDir, db: this.#db, remote: this.#remote });
    this.#remote?.bind(this.#cas);
    this.#fingerprinter = new CodeFingerprinter({ root: opts.root, memo: createSqliteFingerprintMemo(this.#db) });
    this.#importer = new TsImporter(opts.root);
    // More threads than cores only add thread switches to every job: a no-op step cost twice as much with 8 threads on 2 cores.
    const threads = opts.threads ?? Math.min(opts.concurrency ?? 1, os.availableParallelism());
    const urls = new Map<string, string>();
    const loadableUrl = (u: string): string => urls.get(u) ?? urls.set(u, this.#importer.loadableUrl(u)).get(u)!;
    this.#threads = new ThreadExecutor({ cacheDir: opts.cacheDir, threads, loadableUrl, onRan: (task, ms) => this.#ran(task.step, ms) });
    this.#connection = connectionFrom(opts.redisUrl);
  }

  /** Connects and starts taking jobs; resolves once it listens. */
  async start(): Promise<void> {
    const { queue, prefix } = this.#o;
    this.#ticker = setInterval(() => this.#ticking.forEach((tick) => tick()), this.#o.progressMs ?? 100);
    this.#sub = new Redis({ ...(this.#connection as object), maxRetriesPerRequest: null });
    // One warning per outage (ioredis retries on its own), so a worker waiting for Redis says why.
    let warned = false;
    this.#sub.on("error", (err: Error) => {
      if (!warned) this.#log.warn({ err: err.message, redis: this.#o.redisUrl.replace(/\/\/[^@/]*@/, "//***@") }, "redis unreachable; retrying");
      warned = true;
    });
    this.#sub.on("ready", () => (warned = false));
    this.#sub.on("message", (_channel: string, jobId: string) => {
      if (this.#worker?.cancelJob(jobId, "cancelled by the coordinator")) this.#log.info({ jobId }, "job cancelled");
      else this.#noteCancel(jobId);
    });
    await this.#sub.subscribe(cancelChannel(prefix, queue));
    this.#worker = new Worker<RemoteJobData, RemoteJobResult>(queue, (job, _token, signal) => this.#process(job, signal), {
      connection: this.#connection,
      prefix,
      concurrency: this.#o.concurrency ?? 1,
      lockDuration: this.#o.lockDurationMs ?? 30_000,
      stalledInterval: this.#o.stalledIntervalMs ?? 30_000,
      maxStalledCount: this.#o.maxStalledCount ?? 2,
      autorun: false,
    });
    this.#worker.on("error", (err: Error) => this.#log.warn({ err: err.message }, "queue connection error"));
    void this.#worker.run().catch((err: unknown) => this.#log.error({ err }, "worker stopped"));
    await this.#worker.waitUntilReady();
    this.#log.info({ root: this.#o.root, cacheDir: this.#o.cacheDir }, "worker ready");
  }

  /** Loads a step from this checkout and fingerprints its module (once per process: restart workers after deploying code). */
  async #load(data: RemoteJobData): Promise<Loaded> {
    const id = `${data.module}#${data.step}`;
    const hit = this.#steps.get(id);
    if (hit) return hit;
    const where = { step: data.stepId, module: data.module, worker: this.label };
    const file = path.resolve(this.#o.root, data.module);
    if (!fs.existsSync(file)) fail("SLUICE_WORKER_CODE_MISMATCH", `step "${data.stepId}": worker ${this.label} has no ${data.module} in its checkout ${this.#o.root}. Deploy the coordinator's code to the worker (same commit) and restart it.`, where);
    const code = this.#fingerprinter.fingerprint(file).digest;
    const mod = await this.#importer.import(file);
    const step = Object.values(mod).find((v): v is AnyStep => isStep(v) && v.name === data.step);
    if (!step) fail("SLUICE_DEFINITION_INVALID", `step "${data.stepId}": ${data.module} in worker ${this.label}'s checkout exports no step named "${data.step}". Deploy the coordinator's code to the worker and restart it.`, where);
    const loaded: Loaded = { step, code, quickRuns: 0, here: false };
    this.#steps.set(id, loaded);
    this.#speed.set(step, loaded);
    return loaded;
  }

  /**
   * A cancellation for a job not running here: this worker may have just taken it (the queue then
   * refuses the coordinator's removal) without having started it yet. Noted for a minute, so the
   * job fails as cancelled when it starts instead of running to the end.
   */
  #noteCancel(jobId: string): void {
    const now = Date.now();
    for (const [id, at] of this.#cancelledEarly) {
      if (now - at < EARLY_CANCEL_MS && this.#cancelledEarly.size < EARLY_CANCEL_MAX) break;
      this.#cancelledEarly.delete(id);
    }
    this.#cancelledEarly.set(jobId, now);
    this.#log.info({ jobId }, "cancellation noted for a job not running here");
  }

  async #process(job: Job<RemoteJobData, RemoteJobResult>, signal: AbortSignal | undefined): Promise<RemoteJobResult> {
    const data = job.data;
    const cancelledEarly = job.id !== undefined && this.#cancelledEarly.delete(job.id);
    let lines: RemoteLine[] = [];
    let reported = false;
    let sending: Promise<unknown> = Promise.resolve();
    const report = (): void => {
      reported = true;
      const batch: RemoteProgress = { worker: this.label, lines };
      lines = [];
      sending = sending.then(() => job.updateProgress(batch as unknown as object)).catch((err: unknown) => this.#log.warn({ err: (err as Error).message, jobId: job.id, runId: data.runId, stepId: data.stepId }, "progress not sent"));
    };
    // Quick steps report nothing while running (the result names the worker); others say who runs them, then stream lines:
    // from the second tick of the worker's one ticker on (after progressMs to twice that), then at every tick.
    let ticks = 0;
    const tick = (): void => {
      if (++ticks >= 2 && (!reported || lines.length > 0)) report();
    };
    this.#ticking.add(tick);
    try {
      if (cancelledEarly) throw new Error("cancelled before it started");
      if (data.format !== JOB_FORMAT) fail("SLUICE_WORKER_CODE_MISMATCH", `step "${data.stepId}": job format ${String(data.format)} from ${data.coordinator}, worker ${this.label} speaks ${JOB_FORMAT}. Run the same sluice version on coordinator and workers.`, { step: data.stepId });
      const loaded = await this.#load(data);
      const { step, code } = loaded;
      this.#remote?.startRun(); // a cache server that failed for an earlier job is tried again
      if (code !== data.code) {
        fail("SLUICE_WORKER_CODE_MISMATCH", `step "${data.stepId}" (${data.module} › ${data.step}): worker ${this.label} refuses it: its checkout ${this.#o.root} has code fingerprint ${code}, the coordinator ${data.coordinator} sent ${data.code}. Deploy the same commit to the worker and restart it.`, { step: data.stepId, module: data.module, workerCode: code, coordinatorCode: data.code, worker: this.label });
      }
      // A step run here reads the small inputs the job carries (a query of the shared cache each
      // cost ~25 µs); a pool thread reads them from the cache through its own connection. Decided
      // once: another job of this step may send it to the pool while this one waits for a fetch.
      const onLoop = loaded.here;
      const carried = onLoop && data.inline ? this.#keepCarried(data) : undefined;
      // Inputs missing here come from the cache server, read without blocking this thread: its
      // event loop keeps renewing the locks of this job and of the others it runs meanwhile.
      const missing = Object.entries(data.inputs).filter(([port, input]) => !carried?.has(port) && this.#cas.localCheck(input.digest) !== "ok");
      // The set holds every digest now stored here (fetched, or found present after all).
      const here = this.#remote && missing.length > 0 ? await this.#remote.fetchObjectsAsync(missing.map(([, input]) => input.digest), this.#cas) : undefined;
      for (const [port, input] of missing) {
        if (!here?.has(input.digest)) {
          fail("SLUICE_REMOTE_UNAVAILABLE", `step "${data.stepId}" › input "${port}": worker ${this.label} cannot find object ${input.digest} in its cache ${this.#o.cacheDir}. Workers must share the coordinator's cache folder or its SLUICE_REMOTE_CACHE_URL.`, { step: data.stepId, field: port, digest: input.digest, worker: this.label });
        }
      }
      const task: StepTask = {
        runId: data.runId, stepId: data.stepId, step, attempt: data.attempt, params: data.params, inputs: data.inputs, env: data.env,
        signal: signal ?? new AbortController().signal,
        onLog: (level, msg, d) => lines.push({ t: "log", level, msg, ...(d ? { data: d } : {}) }),
        onMetric: (name, value, x) => lines.push({ t: "metric", name, value, ...(x === undefined ? {} : { step: x }) }),
      };
      const produced = onLoop ? await this.#runHere(loaded, task) : await this.#threads.execute(task);
      const outputs: Record<string, Digest> = {};
      const inline: Record<string, string> = {};
      for (const [port, o] of Object.entries(produced)) {
        if ("digest" in o) outputs[port] = o.digest;
        // Small: back in the result, stored (and hashed) by the coordinator: no write lock on the shared cache database per job.
        else if (!this.#remote && o.bytes.byteLength <= RESULT_INLINE_MAX_BYTES) inline[port] = Buffer.from(o.bytes.buffer, o.bytes.byteOffset, o.bytes.byteLength).toString("base64");
        else outputs[port] = this.#cas.putBytes(o.bytes);
      }
      // The coordinator may be on another machine: hand the outputs back through the cache server.
      if (this.#remote && !(await this.#remote.pushObjects(Object.values(outputs)))) {
        lines.push({ t: "log", level: "warn", msg: `worker ${this.label} could not put the outputs on the cache server; only a coordinator sharing its cache folder can read them` });
      }
      this.counts.succeeded++;
      return { outputs, ...(Object.keys(inline).length > 0 ? { inline } : {}), worker: this.label };
    } catch (err) {
      this.counts.failed++;
      if (err instanceof UnrecoverableError) throw err;
      const e = cancelledEarly
        ? { code: "SLUICE_RUN_CANCELLED", message: `step "${data.stepId}" was cancelled by the coordinator before it started on worker ${this.label}.` }
        : signal?.aborted
        ? { code: "SLUICE_RUN_CANCELLED", message: `step "${data.stepId}" was cancelled by the coordinator while running on worker ${this.label}.` }
        : serializeError(err);
      const reason = toFailedReason({ code: e.code, message: e.message });
      // BullMQ keeps only the message: `CODE: message`, readable on a dashboard and parsed back by the coordinator.
      throw FINAL.has(e.code as ErrorCode) ? new UnrecoverableError(reason) : new Error(reason);
    } finally {
      this.#ticking.delete(tick);
      if (lines.length > 0) report();
      await sending;
    }
  }

  /** Holds the inputs a job carries whose bytes match their digests; returns their ports. */
  #keepCarried(data: RemoteJobData): Set<string> {
    const ports = new Set<string>();
    for (const [port, b64] of Object.entries(data.inline ?? {})) {
      const input = data.inputs[port];
      if (input && typeof b64 === "string" && this.#cas.keepVerified(input.digest, Buffer.from(b64, "base64"))) ports.add(port);
    }
    return ports;
  }

  /** Counts a step's quick runs on the pool; enough in a row and it runs on the event loop. */
  #ran(step: AnyStep, ms: number): void {
    const l = this.#speed.get(step);
    const q = this.#quick;
    if (!l || !q || l.here || l.quickRuns < 0) return; // < 0: sent back to the pool for good
    // A step with a timeout stays on the pool, where a stuck run can be stopped by ending its thread.
    if (step.timeoutMs !== undefined) return;
    l.quickRuns = ms < q.underMs ? l.quickRuns + 1 : 0; // in a row (a thread's first run is slow: it opens the cache)
    if (l.quickRuns < q.runs) return;
    l.here = true;
    this.#log.debug({ step: step.name }, `step took under ${q.underMs} ms ${q.runs} times in a row; it runs on the worker's event loop`);
  }

  /** Runs a quick step on this thread; a run that holds the event loop long sends the step back to the pool for good. */
  async #runHere(l: Loaded, task: StepTask): Promise<Record<string, ProducedOutput>> {
    // Timed: run()'s synchronous part, the part that holds the event loop (awaits in it let other jobs go on).
    let heldMs = 0;
    const timed = { ...l.step, run: (ctx: never) => {
      const started = performance.now();
      try {
        return l.step.run(ctx);
      } finally {
        heldMs = performance.now() - started;
      }
    } } as AnyStep;
    try {
      return await runStepBody(timed, task, this.#cas);
    } finally {
      if (heldMs > this.#quick!.heldMs && l.here) {
        l.here = false;
        l.quickRuns = Number.NEGATIVE_INFINITY;
        this.#log.info({ step: l.step.name, ms: Math.round(heldMs) }, "a quick step took long; it runs on the pool from now on");
      }
    }
  }

  /** Stops taking jobs. Graceful: running jobs finish first; `force`: they are left for other workers (stall recovery). */
  async close(force = false): Promise<void> {
    await this.#worker?.close(force);
    clearInterval(this.#ticker);
    this.#sub?.disconnect();
    await this.#threads.close();
    await this.#remote?.close();
    this.#db.close();
  }
}
