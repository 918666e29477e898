import type { Logger } from "../../log.ts";
import type { SluiceError } from "../../errors.ts";
import type { CacheDb } from "../cache-db.ts";
import { StoreWorker } from "./store-worker.ts";

/**
 * The cache connection's WAL autocheckpoint while the worker checkpoints for it: high enough that
 * the worker does the work, low enough to bound the WAL if the worker falls behind.
 */
export const SAFETY_NET_AUTOCHECKPOINT_PAGES = 16_384;

/** Options of `LazyStoreWorker`. */
export interface LazyStoreWorkerOptions {
  /** The SQLite run database (`<cacheDir>/runs.db`). */
  readonly runsFile: string;
  /** This process's connection to the cache database, whose checkpoints the worker takes over. */
  readonly cacheDb: CacheDb;
  /**
   * Runs with at least this many steps start the worker (smaller runs write on the main thread:
   * a thread costs more to start than their records do to write).
   * @default 2000
   */
  readonly minSteps?: number;
  readonly logger: Logger;
}

/**
 * A workspace's store worker, started by its first large run and kept for its life. While it is
 * up, the cache connection's autocheckpoint is only a safety net. A worker that dies is dropped
 * (the next large run starts another); until then runs write their records on the main thread.
 */
export class LazyStoreWorker {
  readonly #runsFile: string;
  readonly #db: CacheDb;
  readonly #minSteps: number;
  readonly #log: Logger;
  #worker: StoreWorker | undefined;
  /** The cache connection's own autocheckpoint, while it is raised. */
  #autocheckpoint: number | undefined;

  constructor(opts: LazyStoreWorkerOptions) {
    this.#runsFile = opts.runsFile;
    this.#db = opts.cacheDb;
    this.#minSteps = opts.minSteps ?? 2000;
    this.#log = opts.logger;
  }

  /** The writer for a run of `stepCount` steps: the worker once one run was large enough to start it. */
  writerFor(stepCount: number): StoreWorker | undefined {
    if (this.#worker || stepCount < this.#minSteps) return this.#worker;
    const worker = new StoreWorker({
      runsFile: this.#runsFile,
      cacheFile: this.#db.name,
      onReady: () => this.#log.debug({ runsFile: this.#runsFile }, "store worker ready"),
      onError: (err) => this.#failed(worker, err),
    });
    this.#worker = worker;
    this.#autocheckpoint ??= this.#db.pragma("wal_autocheckpoint", { simple: true }) as number;
    this.#db.pragma(`wal_autocheckpoint = ${SAFETY_NET_AUTOCHECKPOINT_PAGES}`);
    return worker;
  }

  #failed(worker: StoreWorker, err: SluiceError): void {
    this.#restoreAutocheckpoint(); // the cache connection checkpoints itself again
    if (!worker.failure) {
      this.#log.warn({ err }, "store worker stopped checkpointing the cache database");
      return;
    }
    this.#log.error({ err }, "store worker failed; runs record from the main thread until the next large run starts another");
    if (this.#worker === worker) this.#worker = undefined;
  }

  #restoreAutocheckpoint(): void {
    if (this.#autocheckpoint === undefined || !this.#db.open) return;
    this.#db.pragma(`wal_autocheckpoint = ${this.#autocheckpoint}`);
    this.#autocheckpoint = undefined;
  }

  /** Lets the worker's writes commit and stops it (before the stores it writes to close). */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.close();
    this.#restoreAutocheckpoint();
  }
}
