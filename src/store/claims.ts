import os from "node:os";
import type { CacheDb } from "./cache-db.ts";

/** Who holds a claim. */
export interface ClaimHolder {
  readonly host: string;
  readonly pid: number;
  readonly runId: string;
}

/** True while a process of this host is alive. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Single flight across processes sharing one cache: before running a step, a run claims its key.
 * Another run that finds the key claimed waits for the entry instead of running the step again.
 * A claim whose holder died (same host, pid gone) is taken over.
 */
export class Claims {
  readonly #me: ClaimHolder;
  readonly #ins;
  readonly #get;
  readonly #del;
  readonly #steal;
  readonly #delMine;
  readonly #delMany;
  readonly #pending = new Set<string>();
  readonly #alive: (pid: number) => boolean;

  constructor(db: CacheDb, runId: string, opts: { host?: string; pid?: number; isAlive?: (pid: number) => boolean } = {}) {
    db.exec("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, run_id TEXT NOT NULL, at INTEGER NOT NULL)");
    this.#me = { host: opts.host ?? os.hostname(), pid: opts.pid ?? process.pid, runId };
    this.#alive = opts.isAlive ?? isProcessAlive;
    this.#ins = db.prepare("INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?, ?)");
    this.#get = db.prepare("SELECT host, pid, run_id AS runId FROM claims WHERE key = ?");
    this.#del = db.prepare("DELETE FROM claims WHERE key = ? AND run_id = ?");
    this.#steal = db.prepare("UPDATE claims SET host = ?, pid = ?, run_id = ?, at = ? WHERE key = ? AND run_id = ?");
    this.#delMine = db.prepare("DELETE FROM claims WHERE run_id = ?");
    this.#delMany = db.prepare("DELETE FROM claims WHERE run_id = ? AND key IN (SELECT value FROM json_each(?))");
  }

  /** Claims `key`; returns undefined on success, else who holds it. */
  tryAcquire(key: string): ClaimHolder | undefined {
    const { host, pid, runId } = this.#me;
    // A release still pending in this batch is taken back: the row stays ours.
    if (this.#pending.delete(key)) return undefined;
    if (this.#ins.run(key, host, pid, runId, Date.now()).changes === 1) return undefined;
    const holder = this.#get.get(key) as ClaimHolder | undefined;
    if (!holder) return this.tryAcquire(key);
    if (holder.runId === runId) return undefined;
    if (holder.host === host && !this.#alive(holder.pid)) {
      if (this.#steal.run(host, pid, runId, Date.now(), key, holder.runId).changes === 1) return undefined;
      return this.tryAcquire(key);
    }
    return holder;
  }

  /** Releases a claim this run holds. */
  release(key: string): void {
    this.#pending.delete(key);
    this.#del.run(key, this.#me.runId);
  }

  /**
   * Releases a claim at the end of the current write batch (see `GroupCommit.beforeCommit`):
   * one statement for all the batch's releases instead of one per step. Other processes see
   * the same as with `release`, since they see nothing of a batch before it commits.
   */
  releaseLater(key: string): void {
    this.#pending.add(key);
  }

  /** Performs the pending `releaseLater`s (call inside the batch, before it commits). */
  flushReleases(): void {
    if (this.#pending.size === 0) return;
    this.#delMany.run(this.#me.runId, JSON.stringify([...this.#pending]));
    this.#pending.clear();
  }

  /** Releases every claim of this run (end of run, crash cleanup). */
  releaseAll(): void {
    this.#pending.clear();
    this.#delMine.run(this.#me.runId);
  }
}
