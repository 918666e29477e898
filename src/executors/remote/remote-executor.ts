import path from "node:path";
import { fileURLToPath } from "node:url";
import { Job, Queue, QueueEvents, type ConnectionOptions } from "bullmq";
import { Redis } from "ioredis";
import { DEFAULT_QUEUE } from "../../define/index.ts";
import { SluiceError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Executor, ProducedOutput, StepTask } from "../../scheduler/index.ts";
import type { GroupCommit } from "../../store/cache-db.ts";
import type { LocalCas } from "../../store/local-cas.ts";
import type { Digest } from "../../util/canonical-json.ts";
import { cancelChannel, connectionFrom, fromFailedReason, JOB_FORMAT, RESULT_INLINE_MAX_BYTES, workerLabel, type RemoteJobData, type RemoteJobResult, type RemoteProgress } from "./protocol.ts";

/** Options of the remote executor. */
export interface RemoteExecutorOptions {
  readonly redisUrl: string;
  /** BullMQ key prefix: queue `gpu` lives under `<prefix>:gpu:*`. */
  readonly prefix: string;
  /** The coordinator's workspace root: jobs name step modules relative to it. */
  readonly root: string;
  /** Sources a remote step reads are copied here, so a worker finds them by digest. */
  readonly cas: LocalCas;
  /** Committed after sources are stored, so workers see them. */
  readonly commits: GroupCommit;
  /** With a shared cache server: puts a job's input objects on it, so a worker on another machine can fetch them. */
  readonly pushObjects?: (digests: readonly Digest[]) => Promise<boolean>;
  /** The code fingerprint of a step module (the one its cache key holds). */
  readonly fingerprint: (moduleFile: string) => Digest;
  readonly logger: Logger;
  /** Attempts in flight at once, all queues together. @default 1000 */
  readonly limit?: number;
  /** How long Redis may be unreachable before remote steps in flight fail. @default 15000 */
  readonly unreachableMs?: number;
  /** Jobs with no news for this long are looked up in Redis (a Redis that restarted empty loses them). @default 5000 */
  readonly sweepMs?: number;
}

interface Pending {
  readonly task: StepTask;
  readonly queue: string;
  worker: string | null;
  newsAt: number;
  resolve(outputs: Record<string, ProducedOutput>): void;
  reject(err: unknown): void;
}

interface QueueHandle {
  readonly queue: Queue;
  readonly events: QueueEvents;
  /** Jobs waiting to be added together at the end of this turn of the event loop. */
  adds: Array<{ readonly name: string; readonly data: RemoteJobData; readonly jobId: string; resolve(): void; reject(err: unknown): void }>;
}

/** Job options: the coordinator owns retries (one BullMQ attempt; a stalled job goes to another worker by BullMQ). */
const JOB_OPTS = { attempts: 1, removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 24 * 3600, count: 10_000 } } as const;

/**
 * Runs steps on `sluice worker` processes through BullMQ queues on Redis. A job carries the step's
 * module path, code fingerprint, params and input digests (and the bytes of small inputs still in
 * memory here); the worker reads inputs from and writes outputs to the shared cache, and the job
 * returns output digests. Logs, metrics and the worker's label come back as job progress;
 * cancellation goes out on a pub/sub channel.
 */
export class RemoteExecutor implements Executor {
  readonly kind = "remote" as const;
  readonly limit: number;
  readonly worker = "remote";
  readonly isolated = true;
  readonly #o: RemoteExecutorOptions;
  readonly #connection: ConnectionOptions;
  readonly #log: Logger;
  readonly #queues = new Map<string, Promise<QueueHandle>>();
  readonly #pending = new Map<string, Pending>();
  readonly #stored = new Set<Digest>();
  readonly #modules = new Map<string, { file: string; module: string }>();
  readonly #bySignal = new WeakMap<AbortSignal, Map<string, () => void>>();
  readonly #watch: Redis;
  readonly #sweep: NodeJS.Timeout;
  readonly #label = workerLabel();
  /** Callers of `connect` waiting for Redis: settled when it answers or the wait runs out. */
  #waiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
  #seq = 0;
  #down: NodeJS.Timeout | undefined;
  #unreachable: SluiceError | undefined;
  #closed = false;

  constructor(opts: RemoteExecutorOptions) {
    this.#o = opts;
    this.limit = opts.limit ?? 1000;
    this.#connection = connectionFrom(opts.redisUrl);
    this.#log = opts.logger.child({ component: "remote-executor" });
    // Its own connection: watches reachability, publishes cancellations, reads stream positions.
    this.#watch = new Redis({ ...(this.#connection as object), maxRetriesPerRequest: null, lazyConnect: true });
    this.#watch.on("error", (err: Error) => this.#log.debug({ err: err.message }, "redis connection error"));
    this.#watch.on("close", () => this.#lost());
    this.#watch.on("ready", () => this.#regained());
    this.#sweep = setInterval(() => void this.#sweepStale(), opts.sweepMs ?? 5000);
    this.#sweep.unref();
  }

  /** Fails fast before a run when Redis cannot be reached at all. */
  async connect(): Promise<void> {
    if (this.#watch.status === "wait") {
      this.#lost(false);
      await this.#watch.connect().catch(() => undefined);
    }
    await this.#ready();
  }

  async execute(task: StepTask): Promise<Record<string, ProducedOutput>> {
    const queue = task.step.queue ?? DEFAULT_QUEUE;
    await this.connect();
    const handle = await this.#handle(queue);
    const inputs: Record<string, { kind: RemoteJobData["inputs"][string]["kind"]; digest: Digest }> = {};
    let inline: Record<string, string> | undefined;
    let stored = false;
    for (const [port, input] of Object.entries(task.inputs)) {
      // Small inputs still in memory here (a map's elements, a quick upstream's output) travel with the job.
      const small = input.sourcePath === undefined && input.kind !== "file" && input.kind !== "dir" ? this.#o.cas.recentBytes(input.digest) : undefined;
      if (small && small.length <= RESULT_INLINE_MAX_BYTES) (inline ??= {})[port] = small.toString("base64");
      // Sources are read in place locally; a worker reads them from the shared cache instead.
      if (input.sourcePath !== undefined && !this.#stored.has(input.digest)) {
        const digest = input.kind === "dir" ? (await this.#o.cas.putDir(input.sourcePath)).digest : (await this.#o.cas.putFile(input.sourcePath)).digest;
        if (digest !== input.digest) throw new SluiceError("SLUICE_INPUT_MISSING", `step "${task.stepId}" › input "${port}": ${input.sourcePath} changed while the run was starting. Run again.`, { step: task.stepId, field: port, path: input.sourcePath });
        this.#stored.add(digest);
        stored = true;
      }
      inputs[port] = { kind: input.kind, digest: input.digest };
    }
    if (stored) this.#o.commits.flush();
    // Not fatal when it fails: a worker sharing this cache folder still finds them, others say what is missing.
    if (this.#o.pushObjects && !(await this.#o.pushObjects(Object.values(inputs).map((i) => i.digest)))) {
      task.onLog("warn", "could not put this step's inputs on the cache server; only a worker sharing this cache folder can run it");
    }
    const { file, module } = this.#module(task.step.moduleUrl);
    const data: RemoteJobData = {
      format: JOB_FORMAT, runId: task.runId, stepId: task.stepId, attempt: task.attempt,
      module, step: task.step.name, code: this.#o.fingerprint(file),
      params: task.params, inputs, ...(inline ? { inline } : {}), env: task.env, coordinator: this.#label,
    };
    const jobId = `${task.runId}.${++this.#seq}`;
    const done = new Promise<Record<string, ProducedOutput>>((resolve, reject) => {
      this.#pending.set(jobId, { task, queue, worker: null, newsAt: Date.now(), resolve, reject });
    });
    // Cancellation or a lost connection may settle it before the job is even added: never unhandled.
    done.catch(() => undefined);
    const onAbort = (): void => void this.#cancel(handle, jobId, queue);
    const inFlight = this.#inFlight(task.signal);
    inFlight.set(jobId, onAbort);
    try {
      await this.#add(handle, task.stepId, data, jobId);
      if (task.signal.aborted) onAbort();
      return await done;
    } catch (err) {
      this.#pending.delete(jobId);
      throw err instanceof SluiceError ? err : this.#unavailable(`adding step "${task.stepId}" to queue "${queue}" failed: ${(err as Error)?.message ?? String(err)}`, err);
    } finally {
      inFlight.delete(jobId);
    }
  }

  /** A step module's file, and its workspace-relative POSIX path (what a worker resolves in its checkout). */
  #module(moduleUrl: string): { file: string; module: string } {
    let m = this.#modules.get(moduleUrl);
    if (!m) {
      const file = fileURLToPath(moduleUrl);
      m = { file, module: path.relative(this.#o.root, file).split(path.sep).join("/") };
      this.#modules.set(moduleUrl, m);
    }
    return m;
  }

  /** The jobs in flight under a signal (a run's): one abort listener cancels them all. */
  #inFlight(signal: AbortSignal): Map<string, () => void> {
    let jobs = this.#bySignal.get(signal);
    if (!jobs) {
      const all = (jobs = new Map());
      this.#bySignal.set(signal, all);
      signal.addEventListener("abort", () => {
        for (const cancel of [...all.values()]) cancel();
        all.clear();
      }, { once: true });
    }
    return jobs;
  }

  /** Adds a job together with the others released in the same turn (a map's items): a round trip to Redis per 100 jobs, not per job. */
  #add(handle: QueueHandle, name: string, data: RemoteJobData, jobId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (handle.adds.push({ name, data, jobId, resolve, reject }) > 1) return;
      setImmediate(() => {
        // In slices, so workers start on the first jobs while the rest are being added.
        for (let i = 0; i < handle.adds.length; i += 100) this.#addBulk(handle, handle.adds.slice(i, i + 100));
        handle.adds = [];
      });
    });
  }

  #addBulk(handle: QueueHandle, batch: QueueHandle["adds"]): void {
    handle.queue.addBulk(batch.map((a) => ({ name: a.name, data: a.data, opts: { ...JOB_OPTS, jobId: a.jobId } }))).then(
      () => batch.forEach((a) => a.resolve()),
      (err: unknown) => batch.forEach((a) => a.reject(err)),
    );
  }

  /** Removes a waiting job, or asks the worker running it to abort. */
  async #cancel(handle: QueueHandle, jobId: string, queue: string): Promise<void> {
    const p = this.#pending.get(jobId);
    this.#pending.delete(jobId);
    p?.reject(p.task.signal.reason);
    try {
      await this.#watch.publish(cancelChannel(this.#o.prefix, queue), jobId);
      await handle.queue.remove(jobId).catch(() => 0); // refused while a worker holds the job
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, jobId }, "could not send a cancellation to the workers");
    }
  }

  #handle(queue: string): Promise<QueueHandle> {
    let h = this.#queues.get(queue);
    if (!h) {
      h = this.#openQueue(queue);
      this.#queues.set(queue, h);
      h.catch(() => this.#queues.delete(queue));
    }
    return h;
  }

  async #openQueue(name: string): Promise<QueueHandle> {
    const prefix = this.#o.prefix;
    // Read events from the stream's current end, so none added before the reader starts is missed.
    const last = (await this.#watch.xrevrange(`${prefix}:${name}:events`, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
    const queue = new Queue(name, { connection: this.#connection, prefix });
    const events = new QueueEvents(name, { connection: this.#connection, prefix, lastEventId: last, autorun: true });
    queue.on("error", (err: Error) => this.#log.debug({ err: err.message, queue: name }, "queue connection error"));
    events.on("error", (err: Error) => this.#log.debug({ err: err.message, queue: name }, "queue events connection error"));
    events.on("progress", ({ jobId, data }) => this.#progress(jobId, data as unknown as RemoteProgress));
    events.on("completed", ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue as unknown as RemoteJobResult));
    events.on("failed", ({ jobId, failedReason }) => this.#failed(jobId, failedReason));
    events.on("stalled", ({ jobId }) => {
      const p = this.#pending.get(jobId);
      if (!p) return;
      p.newsAt = Date.now();
      p.task.onLog("warn", `worker ${p.worker ?? "?"} stopped renewing its lock (died?); the job goes back to queue "${name}" for another worker`);
    });
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return { queue, events, adds: [] };
  }

  #progress(jobId: string, prog: RemoteProgress): void {
    const p = this.#pending.get(jobId);
    if (!p || typeof prog !== "object" || prog === null) return;
    p.newsAt = Date.now();
    if (typeof prog.worker === "string" && prog.worker !== p.worker) {
      p.worker = prog.worker;
      p.task.onWorker?.(prog.worker);
    }
    for (const l of prog.lines ?? []) {
      if (l.t === "log") p.task.onLog(l.level, l.msg, l.data);
      else p.task.onMetric(l.name, l.value, l.step);
    }
  }

  #completed(jobId: string, r: RemoteJobResult): void {
    const p = this.#pending.get(jobId);
    if (!p) return;
    this.#pending.delete(jobId);
    if (r.worker !== p.worker) p.task.onWorker?.(r.worker);
    const outputs: Record<string, ProducedOutput> = {};
    // Small outputs came in the result: stored with the cache entry, like a thread step's.
    for (const [port, small] of Object.entries(r.inline ?? {})) outputs[port] = { bytes: Buffer.from(small, "base64") };
    for (const [port, digest] of Object.entries(r.outputs)) {
      // Here, or fetched from the cache server: never record outputs this machine cannot read.
      if (this.#o.cas.check(digest) !== "ok") {
        p.reject(this.#unavailable(`step "${p.task.stepId}" › output "${port}": worker ${r.worker} made ${digest}, but it is neither in this cache folder nor on a cache server. Workers must share the coordinator's cache folder or its SLUICE_REMOTE_CACHE_URL.`));
        return;
      }
      outputs[port] = { digest };
    }
    p.resolve(outputs);
  }

  #failed(jobId: string, reason: string): void {
    const p = this.#pending.get(jobId);
    if (!p) return;
    this.#pending.delete(jobId);
    p.reject(fromFailedReason(reason, { stepId: p.task.stepId, queue: p.queue }));
  }

  /** Settles jobs whose events were lost; fails those Redis no longer knows. */
  async #sweepStale(): Promise<void> {
    if (this.#unreachable || this.#watch.status !== "ready") return;
    const staleBefore = Date.now() - (this.#o.sweepMs ?? 5000);
    for (const [jobId, p] of this.#pending) {
      if (p.newsAt > staleBefore) continue;
      try {
        const { queue } = await this.#handle(p.queue);
        const job = await Job.fromId(queue, jobId);
        if (!this.#pending.has(jobId)) continue;
        if (!job) {
          this.#pending.delete(jobId);
          p.reject(this.#unavailable(`step "${p.task.stepId}": its job ${jobId} is gone from Redis (restarted without persistence, or flushed). Run again.`));
        } else if (job.finishedOn && job.failedReason) this.#failed(jobId, job.failedReason);
        else if (job.finishedOn) this.#completed(jobId, job.returnvalue as RemoteJobResult);
        else p.newsAt = Date.now();
      } catch (err) {
        this.#log.debug({ err: (err as Error).message, jobId }, "job lookup failed");
      }
    }
  }

  #unavailable(message: string, cause?: unknown): SluiceError {
    return new SluiceError("SLUICE_REMOTE_UNAVAILABLE", message, { redis: this.#redacted() }, { cause });
  }

  #redacted(): string {
    const u = new URL(this.#o.redisUrl);
    if (u.password) u.password = "***";
    return u.toString();
  }

  /** Starts the wait for Redis (a first connection, or after losing it); `warn` says so in the log. */
  #lost(warn = true): void {
    if (this.#down || this.#closed) return;
    const ms = this.#o.unreachableMs ?? 15_000;
    if (warn) this.#log.warn({ redis: this.#redacted(), ms }, "redis unreachable; remote steps fail unless it comes back");
    this.#down = setTimeout(() => {
      this.#unreachable = this.#unavailable(`Redis at ${this.#redacted()} has been unreachable for ${ms} ms, so remote steps cannot run or report. Start Redis (or fix SLUICE_REDIS_URL) and run again: finished steps are cached.`);
      for (const [jobId, p] of this.#pending) {
        this.#pending.delete(jobId);
        p.reject(this.#unreachable);
      }
      for (const w of this.#waiters.splice(0)) w.reject(this.#unreachable);
    }, ms);
    this.#down.unref();
  }

  #regained(): void {
    clearTimeout(this.#down);
    this.#down = undefined;
    this.#unreachable = undefined;
    // Jobs may have finished while we could not hear: look them up at the next sweep.
    for (const p of this.#pending.values()) p.newsAt = 0;
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  /** Resolves once Redis answers; rejects with SLUICE_REMOTE_UNAVAILABLE when it stays unreachable. */
  #ready(): Promise<void> {
    if (this.#watch.status === "ready") return Promise.resolve();
    if (this.#unreachable) return Promise.reject(this.#unreachable);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(this.#unavailable("the remote executor was closed"));
    clearInterval(this.#sweep);
    clearTimeout(this.#down);
    const handles = (await Promise.allSettled([...this.#queues.values()])).flatMap((h) => (h.status === "fulfilled" ? [h.value] : []));
    // A graceful close waits for Redis; with Redis gone, drop the connections instead of waiting for it.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), 2000)));
    const closed = Promise.allSettled(handles.flatMap((h) => [h.events.close(), h.queue.close()]));
    // Not awaited: while Redis is away a disconnect may wait for a connection that never comes.
    if ((await Promise.race([closed, gaveUp])) === "timeout") for (const h of handles) for (const c of [h.events, h.queue]) c.disconnect().catch(() => undefined);
    clearTimeout(timer);
    this.#watch.disconnect();
  }
}
