import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { SluiceError } from "../errors.ts";
import { switchToWal } from "./sqlite-wal.ts";

/** The cache folder's SQLite database (action cache, claims, stat cache, small objects). */
export type CacheDb = Database.Database;

/**
 * Opens `<cacheDir>/cache.db` in WAL mode. Several processes share it: writers wait up to
 * `busyTimeoutMs` for each other instead of failing.
 */
export function openCacheDb(cacheDir: string, opts: { busyTimeoutMs?: number } = {}): CacheDb {
  const file = path.join(cacheDir, "cache.db");
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const db = new Database(file);
    const busyTimeoutMs = opts.busyTimeoutMs ?? 30_000;
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    switchToWal(db, busyTimeoutMs);
    db.pragma("synchronous = NORMAL");
    return db;
  } catch (err) {
    throw new SluiceError("SLUICE_STORE_FAILED", `cache database ${file} could not be opened: ${(err as Error).message}. Check the folder's permissions and free space, or set SLUICE_CACHE_DIR.`, { path: file }, { cause: err });
  }
}

/**
 * Group commit for the cache database: writes made within `maxDelayMs` of each other share one
 * transaction, so a run of many small steps pays one commit per tenth of a second instead of one
 * per step (each commit rewrites every B-tree page its batch touched: a cold 10,000-step run spent
 * 64 ms in 20 commits with a 20 ms window, 30 ms in 5 with 100 ms). The write lock is held for at
 * most that long; other processes wait for it (their claims and lookups stay correct, only later).
 * A crash loses at most the last tenth of a second of entries, which are misses next time, never
 * wrong results; and the coordinator commits at once when a step keeps running past its turn.
 * Every write in a batch is complete on its own (an entry is written after its objects), so a
 * batch needs no savepoints.
 */
export class GroupCommit {
  readonly #db: CacheDb;
  readonly #maxDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #open = false;
  #batches = 0;
  readonly #beforeCommit = new Set<() => void>();
  readonly #onLost = new Set<() => void>();
  readonly #dataVersion;
  readonly #afterCommit: (() => void) | undefined;
  #seenVersion = -1;
  /** The first batch that began after another connection's commit. */
  #foreignAt = 0;

  /** `afterCommit` runs after each successful COMMIT (e.g. to schedule a WAL checkpoint). */
  constructor(db: CacheDb, opts: { maxDelayMs?: number; afterCommit?: () => void } = {}) {
    this.#db = db;
    this.#afterCommit = opts.afterCommit;
    this.#dataVersion = db.prepare("PRAGMA data_version").pluck();
    this.#maxDelayMs = opts.maxDelayMs ?? 100;
  }

  /** Runs `fn` inside the current batch (opening one if needed). */
  run<T>(fn: () => T): T {
    if (!this.#open) {
      this.#db.exec("BEGIN IMMEDIATE");
      this.#open = true;
      this.#batches++;
      const v = this.#dataVersion.get() as number;
      if (v !== this.#seenVersion) {
        this.#seenVersion = v;
        this.#foreignAt = this.#batches;
      }
      this.#timer = setTimeout(() => this.flush(), this.#maxDelayMs);
    }
    return fn();
  }

  /**
   * The number of the open batch (they count from 1), or 0 outside one. Inside a batch this
   * connection holds the database's write lock (BEGIN IMMEDIATE): no other connection can write
   * until it commits, so what a batch read stays true for the rest of it, except for its own writes.
   */
  get batch(): number {
    return this.#open && this.#db.inTransaction ? this.#batches : 0;
  }

  /**
   * SQLite's `data_version` as the open batch began (undefined outside a batch). It stays true
   * for the whole batch: the batch holds the write lock, so no other connection can commit.
   */
  get batchVersion(): number | undefined {
    return this.#open && this.#db.inTransaction ? this.#seenVersion : undefined;
  }

  /**
   * Whether another connection (another process) may have committed since batch `batch` began
   * (always true for 0, outside any batch). Known from SQLite's data_version, read as each batch begins.
   */
  foreignSince(batch: number): boolean {
    return batch === 0 || this.#foreignAt > batch;
  }

  /** Commits the open batch now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#open) return;
    this.#open = false;
    // SQLite rolls a transaction back by itself after some errors (disk full, I/O): the batch is lost.
    if (!this.#db.inTransaction) return this.#lost();
    try {
      for (const fn of this.#beforeCommit) fn();
      this.#db.exec("COMMIT");
    } catch (err) {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      this.#lost();
      throw err;
    }
    this.#afterCommit?.();
  }

  #lost(): void {
    for (const fn of this.#onLost) fn();
  }

  /**
   * Runs `fn` whenever a batch is lost instead of committed (a failed COMMIT, or a rollback
   * SQLite made after an error), so that what was remembered of its writes is forgotten.
   */
  onLost(fn: () => void): void {
    this.#onLost.add(fn);
  }

  /** Runs `fn` inside every batch just before it commits (writes deferred to the batch's end); returns the unsubscribe. */
  beforeCommit(fn: () => void): () => void {
    this.#beforeCommit.add(fn);
    return () => this.#beforeCommit.delete(fn);
  }
}
