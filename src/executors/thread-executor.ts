import os from "node:os";
import type { MessagePort } from "node:worker_threads";
import { Piscina } from "piscina";
import { deserializeError, serializeError, SluiceError } from "../errors.ts";
import type { Executor, ProducedOutput, StepTask } from "../scheduler/index.ts";
import type { CallMessage, CoordinatorReply, ThreadTaskPayload, ThreadTaskResult, WorkerMessage } from "./thread-worker.ts";

/** An attempt in flight: messages its thread posted so far, and the port of its registry calls once it made one. */
interface Attempt {
  readonly task: StepTask;
  received: number;
  port: MessagePort | undefined;
  caughtUp: { readonly count: number; resolve(): void } | undefined;
}

/** Options of the thread pool. */
export interface ThreadExecutorOptions {
  /** Cache folder the workers open (their own connection to the same store). */
  readonly cacheDir: string;
  /** @default os.availableParallelism() */
  readonly threads?: number;
  /** Maps a step's module URL to the URL a worker imports (compiled JavaScript for a `.ts` source). */
  readonly loadableUrl?: (moduleUrl: string) => string;
  /** Told how long each successful attempt took on its thread (inputs, run and outputs; not the queueing). */
  readonly onRan?: (task: StepTask, runMs: number) => void;
}

/** From sources, a small entry registers tsx first; the dist bundle has a plain JavaScript worker. */
const WORKER_URL = import.meta.url.endsWith(".ts") ? new URL("./thread-entry.mjs", import.meta.url) : new URL("./thread-worker.js", import.meta.url);

/**
 * Runs CPU-bound steps on a Piscina worker-thread pool, one thread per core by default. Workers
 * load step modules by URL (TypeScript through tsx, registered in thread-entry.mjs), read inputs from the CAS by digest, and
 * hand small outputs back as transferred buffers.
 */
export class ThreadExecutor implements Executor {
  readonly kind = "thread" as const;
  readonly limit: number;
  readonly worker = "thread-pool";
  readonly isolated = true;
  readonly #pool: Piscina;
  readonly #cacheDir: string;
  readonly #loadableUrl: (moduleUrl: string) => string;
  readonly #attempts = new Map<number, Attempt>();
  readonly #onRan: ThreadExecutorOptions["onRan"];
  #seq = 0;

  constructor(opts: ThreadExecutorOptions) {
    this.limit = Math.max(1, opts.threads ?? os.availableParallelism());
    this.#cacheDir = opts.cacheDir;
    this.#loadableUrl = opts.loadableUrl ?? ((u) => u);
    this.#onRan = opts.onRan;
    this.#pool = new Piscina({
      filename: WORKER_URL.href,
      minThreads: 0,
      maxThreads: this.limit,
      idleTimeout: 30_000,
    });
    // One channel per thread for every attempt (a port per attempt costs more than a no-op step).
    this.#pool.on("message", (m: WorkerMessage) => this.#onThreadMessage(m));
  }

  async execute(task: StepTask): Promise<Record<string, ProducedOutput>> {
    const key = ++this.#seq;
    const attempt: Attempt = { task, received: 0, port: undefined, caughtUp: undefined };
    this.#attempts.set(key, attempt);
    const payload: ThreadTaskPayload = {
      key,
      moduleUrl: this.#loadableUrl(task.step.moduleUrl),
      stepName: task.step.name,
      runId: task.runId,
      stepId: task.stepId,
      attempt: task.attempt,
      params: task.params,
      inputs: task.inputs,
      env: task.env,
      cacheDir: this.#cacheDir,
    };
    try {
      const res = (await this.#pool.run(payload, { signal: task.signal })) as ThreadTaskResult;
      // Logs travel on another channel than the result: wait for the ones posted before it.
      if (attempt.received < res.messages) await new Promise<void>((resolve) => (attempt.caughtUp = { count: res.messages, resolve }));
      if (!res.ok) throw deserializeError(res.error);
      this.#onRan?.(task, res.runMs);
      return res.outputs;
    } finally {
      this.#attempts.delete(key);
      attempt.port?.close();
    }
  }

  /** A message a pool thread posted for one attempt: a log line, a metric, or the port its registry calls use. */
  #onThreadMessage(m: WorkerMessage): void {
    const a = typeof m === "object" && m !== null ? this.#attempts.get(m.key) : undefined;
    if (!a) return; // not ours, or the attempt is over (cancelled)
    if (m.type === "log") a.task.onLog(m.level, m.msg, m.data);
    else if (m.type === "metric") a.task.onMetric(m.name, m.value, m.step);
    else if (m.type === "port") {
      const port = m.port;
      a.port = port;
      port.on("message", (c: CallMessage) => void this.#serve(port, a.task, c));
    }
    a.received++;
    if (a.caughtUp && a.received >= a.caughtUp.count) a.caughtUp.resolve();
  }

  /** Answers a worker's registry call with the attempt's own client. */
  async #serve(port: MessagePort, task: StepTask, m: CallMessage): Promise<void> {
    let reply: CoordinatorReply;
    try {
      if (!task.models) throw new SluiceError("SLUICE_CONFIG_INVALID", "this run has no model registry.");
      const fn = task.models[m.method] as (...args: unknown[]) => Promise<unknown>;
      reply = { type: "reply", id: m.id, ok: true, value: await fn(...m.args) };
    } catch (err) {
      reply = { type: "reply", id: m.id, ok: false, error: serializeError(err) };
    }
    try {
      port.postMessage(reply);
    } catch {
      // the attempt ended (and its port closed) while the call was in flight
    }
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
