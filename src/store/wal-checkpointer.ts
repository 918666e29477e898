import type Database from "better-sqlite3";
import fs from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * WAL checkpoints on a helper thread. SQLite copies the write-ahead log back into the database
 * file (and fsyncs it) in the connection that commits once the log passes 1,000 pages: on the
 * main thread, that stalled a fully cached 10,000-step run for ~20 ms whenever its run record
 * crossed the mark, and a cold one for ~35. SQLite's documentation suggests this layout for
 * latency-sensitive writers: turn the automatic checkpoint down and checkpoint from another thread.
 *
 * A database is handed over once its log reaches `startBytes` (small databases never start the
 * thread). From then on each commit makes sure the thread does a PASSIVE checkpoint (which never
 * blocks readers or writers) after it, at most one every `intervalMs` (each ends with an fsync of
 * the database file: one per commit slowed a run of command steps by ~1.5 ms a step). The
 * committing connection keeps an automatic checkpoint at a higher mark (`fallbackBytes`, in whole
 * pages) in case the thread falls behind. If the thread cannot work (it failed to start, or a
 * checkpoint failed), every connection goes back to SQLite's default.
 */
export interface WalWatch {
  /** Call after a commit of this connection. */
  committed(): void;
  /** Resolves once the helper has done every checkpoint asked for so far (at once when it has none). */
  settled(): Promise<void>;
  /** Stops watching: the helper closes its connection first. Call before closing the database. */
  release(): Promise<void>;
}

/** The helper thread's program (plain CommonJS: it starts without any loader). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlite);
const dbs = new Map();
const due = new Set();
let timer;
let last = 0;
const fail = (file, err) => parentPort.postMessage({ op: "failed", file, message: String((err && err.message) || err) });
function checkpointDue() {
  clearTimeout(timer);
  timer = undefined;
  last = Date.now();
  for (const file of due) {
    due.delete(file);
    const db = dbs.get(file);
    if (!db) continue;
    try { db.pragma("wal_checkpoint(PASSIVE)"); } catch (err) { fail(file, err); }
  }
}
parentPort.on("message", (m) => {
  if (m.op === "open") {
    try { if (!dbs.has(m.file)) dbs.set(m.file, new Database(m.file, { fileMustExist: true })); } catch (err) { fail(m.file, err); }
  } else if (m.op === "checkpoint") {
    due.add(m.file);
    if (timer === undefined) timer = setTimeout(checkpointDue, Math.max(0, last + workerData.intervalMs - Date.now()));
  } else if (m.op === "caught-up") {
    // Timers run in order of their due time: a checkpoint already due runs before this answer.
    setTimeout(() => parentPort.postMessage({ op: "done", id: m.id }), 0);
  } else if (m.op === "sync") {
    checkpointDue();
    parentPort.postMessage({ op: "done", id: m.id });
  } else if (m.op === "close") {
    const db = dbs.get(m.file);
    dbs.delete(m.file);
    due.delete(m.file);
    try { if (db) db.close(); } catch {}
    parentPort.postMessage({ op: "done", id: m.id });
  }
});
`;

interface Watched {
  readonly db: Database.Database;
  readonly file: string;
  active: boolean;
  /** When this connection last asked the thread for a checkpoint (performance.now()). */
  askedAt: number;
  /** A request held back by the interval, sent when it ends (or by `settled`). */
  trailing: NodeJS.Timeout | undefined;
}

/** The size of a database's write-ahead log; 0 without one, or without access to it. */
function logBytes(file: string): number {
  try {
    return fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  } catch {
    return 0;
  }
}

/** SQLite's default automatic checkpoint (pages). */
const DEFAULT_PAGES = 1000;

/** A checkpoint thread and the connections that handed their checkpoints to it. */
export class WalCheckpointer {
  #worker: Worker | undefined;
  #broken = false;
  #nextId = 0;
  #sent = 0;
  readonly #waiting = new Map<number, () => void>();
  /** Per database file: the connections of this process that handed it over. */
  readonly #files = new Map<string, Set<Watched>>();

  /**
   * @param startBytes the log size at which a connection hands its checkpoints over
   * @param fallbackBytes the automatic checkpoint a connection keeps once it has handed them over
   *   (SQLite counts it in pages: this many bytes of the database's page size)
   * @param intervalMs the least time between two checkpoints of the thread (`settled` does one at once)
   */
  constructor(readonly startBytes: number, readonly fallbackBytes: number, readonly intervalMs = 200) {}

  watch(db: Database.Database, file: string): WalWatch {
    const w: Watched = { db, file, active: false, askedAt: Number.NEGATIVE_INFINITY, trailing: undefined };
    return {
      committed: () => this.#committed(w),
      settled: () => {
        // Every held-back request for the file (another connection of this process may hold one).
        for (const other of this.#files.get(w.file) ?? []) if (other.trailing) this.#askCheckpoint(other);
        return this.#ask(w.active ? this.#worker : undefined, (id) => ({ op: "sync", id }));
      },
      release: () => this.#release(w),
    };
  }

  /** Messages posted to the thread so far (each costs the committing thread ~25 µs). */
  get sent(): number {
    return this.#sent;
  }

  /**
   * Resolves once the thread has handled what was sent to it so far and done the checkpoints that
   * were already due, without forcing those the interval holds back (`settled` forces them).
   */
  caughtUp(): Promise<void> {
    return this.#ask(this.#worker, (id) => ({ op: "caught-up", id }));
  }

  /** Sends a message that the thread answers with `done`; resolves then (or when the thread stops). */
  #ask(worker: Worker | undefined, message: (id: number) => object): Promise<void> {
    if (!worker) return Promise.resolve();
    const id = this.#nextId++;
    return new Promise<void>((resolve) => {
      this.#waiting.set(id, resolve);
      this.#post(worker, message(id));
    });
  }

  #post(worker: Worker, message: object): void {
    this.#sent++;
    worker.postMessage(message);
  }

  /**
   * Asks the thread for a checkpoint of `w`'s file. The thread does at most one per interval, so
   * a commit within the interval after a request only makes sure one more follows when it ends:
   * a message per commit cost a run of remote steps (one commit each) ~25 µs a step.
   */
  #askCheckpoint(w: Watched): void {
    clearTimeout(w.trailing);
    w.trailing = undefined;
    if (!w.active || !this.#worker) return;
    w.askedAt = performance.now();
    this.#post(this.#worker, { op: "checkpoint", file: w.file });
  }

  #committed(w: Watched): void {
    if (this.#broken) return;
    if (w.active) {
      const wait = w.askedAt + this.intervalMs - performance.now();
      if (wait <= 0) this.#askCheckpoint(w);
      else if (!w.trailing) {
        w.trailing = setTimeout(() => this.#askCheckpoint(w), wait);
        w.trailing.unref();
      }
      return;
    }
    // Without a log (or without access to it) there is nothing to hand over; a commit never fails here.
    if (logBytes(w.file) < this.startBytes) return;
    const worker = this.#start();
    if (!worker) return;
    let set = this.#files.get(w.file);
    if (!set) {
      set = new Set();
      this.#files.set(w.file, set);
      this.#post(worker, { op: "open", file: w.file });
    }
    set.add(w);
    w.active = true;
    const pageSize = w.db.pragma("page_size", { simple: true }) as number;
    w.db.pragma(`wal_autocheckpoint = ${Math.max(DEFAULT_PAGES, Math.ceil(this.fallbackBytes / pageSize))}`);
    this.#askCheckpoint(w);
  }

  async #release(w: Watched): Promise<void> {
    clearTimeout(w.trailing);
    w.trailing = undefined;
    if (!w.active) return;
    w.active = false;
    const set = this.#files.get(w.file);
    set?.delete(w);
    if (!set || set.size > 0 || !this.#worker) return;
    this.#files.delete(w.file);
    const worker = this.#worker;
    await this.#ask(worker, (id) => ({ op: "close", file: w.file, id }));
    if (this.#files.size === 0 && this.#worker === worker) {
      this.#worker = undefined;
      await worker.terminate();
    }
  }

  #start(): Worker | undefined {
    if (this.#worker) return this.#worker;
    try {
      const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sqlite, intervalMs: this.intervalMs } });
      worker.unref();
      worker.on("message", (m: { op: string; id?: number; file?: string }) => {
        if (m.op === "done") {
          this.#waiting.get(m.id!)?.();
          this.#waiting.delete(m.id!);
        } else if (m.op === "failed") this.#giveUp(worker);
      });
      worker.on("error", () => this.#giveUp(worker));
      worker.on("exit", () => this.#giveUp(worker));
      this.#worker = worker;
      return worker;
    } catch {
      this.#broken = true;
      return undefined;
    }
  }

  /** The thread cannot do its work: every connection checkpoints for itself again. */
  #giveUp(worker: Worker): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#broken = true;
    for (const set of this.#files.values()) {
      for (const w of set) {
        clearTimeout(w.trailing);
        w.trailing = undefined;
        w.active = false;
        if (w.db.open) w.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
      }
    }
    this.#files.clear();
    for (const resolve of this.#waiting.values()) resolve();
    this.#waiting.clear();
    void worker.terminate();
  }
}

/** The process's checkpoint thread: started when a log first reaches 1 MiB; a 64 MiB fallback. */
const shared = new WalCheckpointer(2 ** 20, 64 * 2 ** 20);

/** Hands the WAL checkpoints of `db` (the SQLite file `file`) to the process's checkpoint thread. */
export function watchWal(db: Database.Database, file: string): WalWatch {
  return shared.watch(db, file);
}
