import os from "node:os";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { Piscina } from "piscina";
import { deserializeError, serializeError, SluiceError, type SerializedError } from "../errors.ts";
import type { Executor, ProducedOutput, StepTask } from "../scheduler/index.ts";
import type { CoordinatorReply, ThreadTaskPayload, WorkerMessage } from "./thread-worker.ts";

/** Options of the thread pool. */
export interface ThreadExecutorOptions {
  /** Cache folder the workers open (their own connection to the same store). */
  readonly cacheDir: string;
  /** @default os.availableParallelism() */
  readonly threads?: number;
  /** Maps a step's module URL to the URL a worker imports (compiled JavaScript for a `.ts` source). */
  readonly loadableUrl?: (moduleUrl: string) => string;
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

  constructor(opts: ThreadExecutorOptions) {
    this.limit = Math.max(1, opts.threads ?? os.availableParallelism());
    this.#cacheDir = opts.cacheDir;
    this.#loadableUrl = opts.loadableUrl ?? ((u) => u);
    this.#pool = new Piscina({
      filename: WORKER_URL.href,
      minThreads: 0,
      maxThreads: this.limit,
      idleTimeout: 30_000,
    });
  }

  async execute(task: StepTask): Promise<Record<string, ProducedOutput>> {
    const { port1, port2 } = new MessageChannel();
    let gotOutputs!: (o: Record<string, ProducedOutput>) => void;
    const outputs = new Promise<Record<string, ProducedOutput>>((resolve) => (gotOutputs = resolve));
    port1.on("message", (m: WorkerMessage) => {
      if (m.type === "log") task.onLog(m.level, m.msg, m.data);
      else if (m.type === "metric") task.onMetric(m.name, m.value, m.step);
      else if (m.type === "call") void this.#serve(port1, task, m);
      else gotOutputs(m.outputs);
    });
    const payload: ThreadTaskPayload = {
      moduleUrl: this.#loadableUrl(task.step.moduleUrl),
      stepName: task.step.name,
      runId: task.runId,
      stepId: task.stepId,
      attempt: task.attempt,
      params: task.params,
      inputs: task.inputs,
      env: task.env,
      cacheDir: this.#cacheDir,
      port: port2,
    };
    try {
      const res = (await this.#pool.run(payload, { transferList: [port2], signal: task.signal })) as { ok: true } | { ok: false; error: SerializedError };
      if (!res.ok) throw deserializeError(res.error);
      return await outputs;
    } finally {
      port1.close();
    }
  }

  /** Answers a worker's registry call with the attempt's own client. */
  async #serve(port: MessagePort, task: StepTask, m: Extract<WorkerMessage, { type: "call" }>): Promise<void> {
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
