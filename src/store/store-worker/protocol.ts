import type { SerializedError } from "../../errors.ts";

/** What the store worker is started with (plain data, and one array shared with the main thread). */
export interface StoreWorkerInit {
  /** The SQLite run database the worker writes step rows, logs and metrics to. */
  readonly runsFile: string;
  /** A WAL database whose checkpoints the worker takes over (`cache.db`), or null for none. */
  readonly cacheFile: string | null;
  /** Checkpoint once this many WAL frames (pages) are not yet copied back into the database. */
  readonly checkpointPages: number;
  /** How often the worker reads how many WAL frames wait to be checkpointed. */
  readonly pollMs: number;
  /** Shared with the main thread, which reads it without waiting for a message: see `STATE`. */
  readonly state: Int32Array;
}

/** Slots of `StoreWorkerInit.state`. */
export const STATE = {
  /** Writes finished (committed or failed), counted as each finishes. */
  finished: 0,
  /** 1 once the run database is open. */
  ready: 1,
  length: 2,
} as const;

/** The bulk writes the worker does, named after the `RunStore` methods. */
export type WriteOp = "upsertStepRuns" | "appendLogs" | "appendMetrics";

/** Main thread → worker. Writes are done one at a time, in the order they were posted. */
export type StoreWorkerRequest =
  | { readonly type: "write"; readonly id: number; readonly op: WriteOp; readonly items: readonly unknown[] }
  /** Finish the queued writes, close both connections and answer `closed` (then the thread is ended). */
  | { readonly type: "close" };

/** What one checkpoint did (the counters of `PRAGMA wal_checkpoint`). */
export interface CheckpointReport {
  /** Frames in the WAL when the checkpoint ran. */
  readonly walFrames: number;
  /** Frames copied back into the database (all of them unless a reader held some back). */
  readonly checkpointedFrames: number;
}

/** Worker → main thread. */
export type StoreWorkerReply =
  | { readonly type: "done"; readonly id: number; readonly error?: SerializedError }
  /** The run database is open: writes go straight to it from now on. */
  | { readonly type: "ready" }
  | ({ readonly type: "checkpoint" } & CheckpointReport)
  /** A background failure (the cache database could not be opened or checkpointed). */
  | { readonly type: "failed"; readonly error: SerializedError }
  | { readonly type: "closed" };
