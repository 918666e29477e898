import os from "node:os";
import type { CacheDb, GroupCommit } from "./cache-db.ts";

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
 * Every claim this process holds, per database file, whether written as a row or not: runs of
 * one process see each other's claims here (other processes see only the rows).
 */
const heldByFile = new Map<string, Map<string, ClaimHolder>>();

/**
 * Single flight across processes sharing one cache: before running a step, a run claims its key.
 * Another run that finds the key claimed waits for the entry instead of running the step again.
 * A claim whose holder died (same host, pid gone) is taken over.
 *
 * Inside a write batch (`bindBatches`), a claim costs no row while no other process holds a
 * claim row: the batch holds the database's write lock, so no other process can claim anything,
 * or see anything, until it commits; just before it commits, every claim still held is written.
 * A step that finishes within its batch (most quick steps) thus never writes or deletes a claim
 * row, and the claim of a step still running is visible to other processes from the commit on.
 */
export class Claims {
  readonly #me: ClaimHolder;
  readonly #ins;
  readonly #put;
  readonly #get;
  readonly #del;
  readonly #steal;
  readonly #delMine;
  readonly #delMany;
  readonly #others;
  /** Rows of this run whose release waits for the end of the batch. */
  readonly #pending = new Set<string>();
  /** This run's claims held in memory only, and those written as rows. */
  readonly #memory = new Set<string>();
  readonly #rows = new Set<string>();
  readonly #held: Map<string, ClaimHolder>;
  readonly #alive: (pid: number) => boolean;
  #commits: GroupCommit | undefined;
  /** The batch in which other processes' claim rows were last looked for, and whether there were any. */
  #othersBatch = 0;
  #othersExist = true;

  constructor(db: CacheDb, runId: string, opts: { host?: string; pid?: number; isAlive?: (pid: number) => boolean } = {}) {
    db.exec("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, run_id TEXT NOT NULL, at INTEGER NOT NULL)");
    this.#me = { host: opts.host ?? os.hostname(), pid: opts.pid ?? process.pid, runId };
    this.#alive = opts.isAlive ?? isProcessAlive;
    // Keyed by host and pid too, so that tests playing two processes in one keep them apart.
    const file = `${db.name}\0${this.#me.host}\0${this.#me.pid}`;
    let held = heldByFile.get(file);
    if (!held) heldByFile.set(file, (held = new Map()));
    this.#held = held;
    this.#ins = db.prepare("INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?, ?)");
    this.#put = db.prepare("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)");
    this.#get = db.prepare("SELECT host, pid, run_id AS runId FROM claims WHERE key = ?");
    this.#del = db.prepare("DELETE FROM claims WHERE key = ? AND run_id = ?");
    this.#steal = db.prepare("UPDATE claims SET host = ?, pid = ?, run_id = ?, at = ? WHERE key = ? AND run_id = ?");
    this.#delMine = db.prepare("DELETE FROM claims WHERE run_id = ?");
    this.#delMany = db.prepare("DELETE FROM claims WHERE run_id = ? AND key IN (SELECT value FROM json_each(?))");
    this.#others = db.prepare("SELECT 1 FROM claims WHERE host != ? OR pid != ? LIMIT 1").pluck();
  }

  /**
   * Lets claims made inside `commits`' batches stay in memory until the batch commits, and
   * releases at the batch's end; returns the unsubscribe. Without it, every claim is a row at once.
   */
  bindBatches(commits: GroupCommit): () => void {
    this.#commits = commits;
    const off = commits.beforeCommit(() => this.flushReleases());
    return () => {
      off();
      if (this.#commits === commits) this.#commits = undefined;
    };
  }

  /** Claims `key`; returns undefined on success, else who holds it. */
  tryAcquire(key: string): ClaimHolder | undefined {
    const { host, pid, runId } = this.#me;
    // A release still pending in this batch is taken back: the row stays ours.
    if (this.#pending.size > 0 && this.#pending.delete(key)) return this.#own(key, this.#rows);
    const held = this.#held.get(key);
    if (held) return held.runId === runId ? undefined : held;
    const batch = this.#commits?.batch ?? 0;
    if (batch !== 0) {
      if (this.#othersBatch !== batch) {
        this.#othersBatch = batch;
        this.#othersExist = this.#others.get(host, pid) !== undefined;
      }
      if (!this.#othersExist) return this.#own(key, this.#memory);
    }
    if (this.#ins.run(key, host, pid, runId, Date.now()).changes === 1) return this.#own(key, this.#rows);
    const holder = this.#get.get(key) as ClaimHolder | undefined;
    if (!holder) return this.tryAcquire(key);
    if (holder.runId === runId) return this.#own(key, this.#rows);
    if (holder.host === host && !this.#alive(holder.pid)) {
      if (this.#steal.run(host, pid, runId, Date.now(), key, holder.runId).changes === 1) return this.#own(key, this.#rows);
      return this.tryAcquire(key);
    }
    return holder;
  }

  #own(key: string, where: Set<string>): undefined {
    where.add(key);
    this.#held.set(key, this.#me);
    return undefined;
  }

  #drop(key: string): void {
    if (this.#held.get(key) === this.#me) this.#held.delete(key);
  }

  /** Releases a claim this run holds. */
  release(key: string): void {
    this.#pending.delete(key);
    this.#drop(key);
    if (this.#memory.delete(key)) return;
    this.#rows.delete(key);
    this.#del.run(key, this.#me.runId);
  }

  /**
   * Releases a claim at the end of the current write batch (see `GroupCommit.beforeCommit`):
   * one statement for all the batch's releases instead of one per step. Other processes see
   * the same as with `release`, since they see nothing of a batch before it commits. A claim
   * that never left memory is simply dropped.
   */
  releaseLater(key: string): void {
    this.#drop(key);
    if (this.#memory.delete(key)) return;
    this.#rows.delete(key);
    this.#pending.add(key);
  }

  /**
   * Call inside the batch, just before it commits (`bindBatches` does): writes the claims still
   * held in memory, so other processes see them from the commit on, and performs the pending
   * `releaseLater`s.
   */
  flushReleases(): void {
    if (this.#memory.size > 0) {
      const { host, pid, runId } = this.#me;
      const at = Date.now();
      // No other process can hold these keys (none had a claim row when the batch took them),
      // so a row already there is a leftover of this host and pid: replace it.
      for (const key of this.#memory) {
        this.#put.run(key, host, pid, runId, at);
        this.#rows.add(key);
      }
      this.#memory.clear();
    }
    if (this.#pending.size === 0) return;
    this.#delMany.run(this.#me.runId, JSON.stringify([...this.#pending]));
    this.#pending.clear();
  }

  /** Releases every claim of this run (end of run, crash cleanup). */
  releaseAll(): void {
    for (const key of this.#memory) this.#drop(key);
    for (const key of this.#rows) this.#drop(key);
    this.#memory.clear();
    this.#rows.clear();
    this.#pending.clear();
    this.#delMine.run(this.#me.runId);
  }
}
