import { Worker, type ResourceLimits } from "node:worker_threads";
import { configure } from "safe-stable-stringify";
import { deserializeError, SluiceError } from "../../errors.ts";
import type { LogLine, MetricPoint, RunStore, StepRunRecord } from "../run-store/index.ts";
import { STATE, type CheckpointReport, type StoreWorkerInit, type StoreWorkerReply, type StoreWorkerRequest, type WriteOp } from "./protocol.ts";

/** From sources, a small entry registers tsx first; the dist bundle has a plain JavaScript worker. */
const WORKER_URL = import.meta.url.endsWith(".ts") ? new URL("./store-worker-entry.mjs", import.meta.url) : new URL("./store-worker.js", import.meta.url);

/** The same lenient JSON the run store keeps log data and error details as. */
const lenientJson = configure({ bigint: true, circularValue: "[Circular]" });

/** Options of `StoreWorker`. */
export interface StoreWorkerOptions {
  /** The SQLite run database (`<cacheDir>/runs.db`); the worker opens its own connection to it. */
  readonly runsFile: string;
  /** A WAL database written by this process (`<cacheDir>/cache.db`) whose checkpoints the worker takes over. */
  readonly cacheFile?: string;
  /**
   * Checkpoint `cacheFile` once this many WAL pages wait to be copied back.
   * @default 1024
   */
  readonly checkpointPages?: number;
  /**
   * How often the worker reads how many of `cacheFile`'s WAL pages wait.
   * @default 100
   */
  readonly pollMs?: number;
  /** Memory limits of the thread (Node's `Worker` option). @default Node's defaults */
  readonly resourceLimits?: ResourceLimits;
  /** Called once the worker has opened the run database. */
  readonly onReady?: () => void;
  /** Called after each checkpoint of `cacheFile`. */
  readonly onCheckpoint?: (report: CheckpointReport) => void;
  /** Failures outside any write: the thread died (every write fails from then on), or checkpointing stopped. */
  readonly onError?: (err: SluiceError) => void;
}

interface Pending {
  resolve(): void;
  reject(err: SluiceError): void;
}

/**
 * Writes run records (step rows, logs, metrics) to the SQLite run database from a worker thread,
 * and checkpoints the cache database's WAL there, so that neither the SQL nor the fsyncs run on
 * the coordinator's thread. Each write resolves once the worker committed it; writes commit in
 * the order they were made. The thread never keeps the process alive, except while a write or
 * `close` is in flight.
 */
export class StoreWorker implements Pick<RunStore, "upsertStepRuns" | "appendLogs" | "appendMetrics"> {
  readonly #worker: Worker;
  readonly #runsFile: string;
  readonly #pending = new Map<number, Pending>();
  readonly #onReady: (() => void) | undefined;
  readonly #onCheckpoint: ((report: CheckpointReport) => void) | undefined;
  readonly #onError: ((err: SluiceError) => void) | undefined;
  /** Written by the worker (see `STATE`), read here without waiting for its messages. */
  readonly #state = new Int32Array(new SharedArrayBuffer(STATE.length * 4));
  #nextId = 0;
  /** Why writes are refused, once they are (the thread died, or `close` was called). */
  #refused: SluiceError | undefined;
  /** The thread's end is accounted for: it answered `close`, or its failure was reported. */
  #ended = false;
  #closing: Promise<void> | undefined;
  #onClosed: (() => void) | undefined;

  constructor(opts: StoreWorkerOptions) {
    this.#runsFile = opts.runsFile;
    this.#onReady = opts.onReady;
    this.#onCheckpoint = opts.onCheckpoint;
    this.#onError = opts.onError;
    const init: StoreWorkerInit = { runsFile: opts.runsFile, cacheFile: opts.cacheFile ?? null, checkpointPages: opts.checkpointPages ?? 1024, pollMs: opts.pollMs ?? 100, state: this.#state };
    // No inherited flags: a parent's `--import tsx` would put every module the thread loads
    // through the TypeScript hooks (the source entry registers them itself, after the packages).
    this.#worker = new Worker(WORKER_URL, { workerData: init, execArgv: [], resourceLimits: opts.resourceLimits });
    this.#worker.on("message", (m: StoreWorkerReply) => this.#onReply(m));
    this.#worker.on("error", (err) => this.#fail(`failed: ${err.message}`, err));
    this.#worker.on("exit", (code) => this.#fail(`stopped (exit code ${code})`));
    this.#worker.unref();
  }

  /** Why the worker refuses writes (it died or was closed), or undefined while it serves. */
  get failure(): SluiceError | undefined {
    return this.#refused;
  }

  /**
   * True once the worker has opened the run database, until it fails or closes. Before, writes
   * wait in the thread's queue (and fail if the database cannot be opened).
   */
  get ready(): boolean {
    return this.#refused === undefined && Atomics.load(this.#state, STATE.ready) === 1;
  }

  /**
   * True when the worker has finished every write sent to it. Read synchronously, so a caller
   * that never yields to the event loop still sees the worker catch up.
   */
  get idle(): boolean {
    return Atomics.load(this.#state, STATE.finished) === this.#nextId;
  }

  upsertStepRuns(rows: readonly StepRunRecord[]): Promise<void> {
    return this.#send("upsertStepRuns", rows);
  }

  appendLogs(lines: readonly LogLine[]): Promise<void> {
    return this.#send("appendLogs", lines);
  }

  appendMetrics(points: readonly MetricPoint[]): Promise<void> {
    return this.#send("appendMetrics", points);
  }

  #send(op: WriteOp, items: readonly unknown[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    if (this.#refused) return Promise.reject(this.#refused);
    const id = this.#nextId + 1;
    return new Promise<void>((resolve, reject) => {
      try {
        this.#post({ type: "write", id, op, items });
        this.#nextId = id;
      } catch (err) {
        reject(new SluiceError("SLUICE_STORE_FAILED", `store worker › ${op}: the records could not be sent to the worker thread: ${(err as Error).message}. This is a bug in sluice; please report it.`, { op }, { cause: err }));
        return;
      }
      if (this.#pending.size === 0) this.#worker.ref(); // a write in flight keeps the process alive
      this.#pending.set(id, { resolve, reject });
    });
  }

  #post(m: StoreWorkerRequest & { type: "write" }): void {
    try {
      this.#worker.postMessage(m);
    } catch (err) {
      if ((err as Error).name !== "DataCloneError") throw err;
      // Log data a step made that cannot cross threads (a function, a class with native state): send
      // what the store keeps of it anyway, its lenient JSON.
      this.#worker.postMessage({ ...m, items: JSON.parse(lenientJson(m.items) ?? "[]") as unknown[] });
    }
  }

  #onReply(m: StoreWorkerReply): void {
    switch (m.type) {
      case "done": {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (this.#pending.size === 0 && !this.#closing) this.#worker.unref();
        if (m.error) p?.reject(deserializeError(m.error));
        else p?.resolve();
        return;
      }
      case "ready":
        this.#onReady?.();
        return;
      case "checkpoint":
        this.#onCheckpoint?.({ walFrames: m.walFrames, checkpointedFrames: m.checkpointedFrames });
        return;
      case "failed":
        this.#onError?.(deserializeError(m.error));
        return;
      case "closed":
        this.#ended = true;
        this.#onClosed?.();
        return;
      default: {
        const never: never = m;
        void never;
      }
    }
  }

  /** The thread is gone: every write in flight and every later one fails with the reason. */
  #fail(what: string, cause?: unknown): void {
    if (this.#ended) return;
    const err = new SluiceError(
      "SLUICE_STORE_FAILED",
      `store worker for ${this.#runsFile} ${what}. The records it had not committed are lost; the run store still takes writes on the main thread. If this recurs, check free memory and the cache folder's disk.`,
      { path: this.#runsFile },
      { cause },
    );
    this.#refused = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#ended = true; // report once: an 'error' is followed by 'exit'
    this.#onClosed?.();
    this.#onError?.(err);
  }

  /** Lets the writes already made commit, closes the worker's connections and ends the thread. */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    if (!this.#refused) {
      this.#refused = new SluiceError("SLUICE_STORE_FAILED", `store worker for ${this.#runsFile} is closed. Write through the workspace's run store instead.`, { path: this.#runsFile });
      this.#worker.ref();
      const closed = new Promise<void>((resolve) => (this.#onClosed = resolve));
      this.#worker.postMessage({ type: "close" } satisfies StoreWorkerRequest);
      await closed;
    }
    await this.#worker.terminate();
  }
}
