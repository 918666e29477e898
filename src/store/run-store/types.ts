/**
 * Run records: what a run was asked to do, what each step did, its metrics and its logs.
 * Plain data only; the scheduler writes these from its event stream and the CLI and HTTP server
 * read them back. One interface, two databases (SQLite by default, PostgreSQL for teams).
 */
import type { SerializedError } from "../../errors.ts";

/** Lifecycle of a whole run. `interrupted`: its owner process died while it was running. */
export type RunStatus = "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

/** Lifecycle of one step within a run. */
export type StepStatus =
  | "pending"
  | "queued"
  | "running"
  | "cached"
  | "succeeded"
  | "failed"
  | "skipped"
  | "cancelled"
  | "interrupted";

/** What started a run. */
export type Trigger = "cli" | "cron" | "http" | "api";

/** One run of a pipeline. Times are epoch milliseconds. */
export interface RunRecord {
  id: string;
  pipeline: string;
  status: RunStatus;
  /** The run's params after validation; any JSON value (`undefined` reads back as `null`). */
  params: unknown;
  trigger: Trigger;
  /** Who started it: a user name, `cron:<schedule>`, an API token's name… */
  actor: string;
  /** Digest of the code snapshot the run used, when known. */
  codeDigest: string | null;
  /** Host and process id of the coordinator that owns the run (see `markInterrupted`). */
  host: string;
  pid: number;
  startedAt: number;
  finishedAt: number | null;
  error: SerializedError | null;
  /** Number of step instances in the run's plan. */
  stepCount: number;
}

/** What one step instance of a run did. Keyed by (runId, stepId). */
export interface StepRunRecord {
  runId: string;
  stepId: string;
  stepName: string;
  status: StepStatus;
  cacheKey: string | null;
  /** Input port name → artifact digest. */
  inputs: Record<string, string>;
  /** Output port name → artifact digest. */
  outputs: Record<string, string>;
  executor: string;
  worker: string | null;
  attempts: number;
  startedAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  error: SerializedError | null;
  /** Why it ran, was cached or was skipped, in a few words. */
  reason: string | null;
}

/** One sample of a metric a step reported. */
export interface MetricPoint {
  runId: string;
  stepId: string;
  name: string;
  value: number;
  /** Training step / epoch / iteration the sample belongs to, when the step gave one. */
  step: number | null;
  ts: number;
}

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** One structured log line of a run; `stepId` null for run-level lines. */
export interface LogLine {
  runId: string;
  stepId: string | null;
  ts: number;
  level: LogLevel;
  msg: string;
  /** Structured fields; any JSON value (`undefined` reads back as `null`). */
  data: unknown;
}

/** Filter and page for `RunStore.listRuns`. */
export interface ListRunsQuery {
  pipeline?: string;
  status?: RunStatus;
  /** Only runs started by this trigger. */
  trigger?: Trigger;
  /** Only runs started by this actor (exact match). */
  actor?: string;
  /**
   * Most runs returned.
   * @default 50
   */
  limit?: number;
  /** Only runs started strictly before this time (epoch ms): the page after the oldest one seen. */
  beforeStartedAt?: number;
}

/** Persistent record of runs. Every method throws `SluiceError` (`SLUICE_STORE_FAILED`, `SLUICE_RUN_NOT_FOUND`). */
export interface RunStore {
  /** Records a new run; its id must be unused. */
  createRun(run: RunRecord): Promise<void>;
  /** Sets a run's final status, finish time and error. Throws `SLUICE_RUN_NOT_FOUND` for an unknown id. */
  finishRun(id: string, status: RunStatus, finishedAt: number, error?: SerializedError | null): Promise<void>;
  /** Insert or update (primary key runId+stepId) many rows in one transaction; 10,000 rows well under 200 ms. */
  upsertStepRuns(rows: readonly StepRunRecord[]): Promise<void>;
  /**
   * Records step runs that have finished and have no row yet, compactly (many to a stored row),
   * in one transaction. `listStepRuns` and `referencedBy` read them like upserted rows; a later
   * `upsertStepRuns` of the same step wins. A fully cached 10,000-step run writes 3 rows this way, not 10,001.
   */
  appendFinishedStepRuns(rows: readonly StepRunRecord[]): Promise<void>;
  /** Appends metric samples, in one transaction. */
  appendMetrics(points: readonly MetricPoint[]): Promise<void>;
  /** Appends log lines, in one transaction. */
  appendLogs(lines: readonly LogLine[]): Promise<void>;
  /** The run, or `undefined` when no run has that id. */
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest first (by `startedAt`, then id). */
  listRuns(q?: ListRunsQuery): Promise<RunRecord[]>;
  /** The run's step runs, by `startedAt` (not started last), then `stepId`. */
  listStepRuns(runId: string): Promise<StepRunRecord[]>;
  /** The run's metric samples (only one step's when `stepId` is given), in the order appended. */
  listMetrics(runId: string, stepId?: string): Promise<MetricPoint[]>;
  /**
   * The run's log lines (only one step's when `stepId` is given), in the order appended.
   * With `limit`, the last `limit` lines (a tail), still oldest first.
   */
  listLogs(runId: string, stepId?: string, limit?: number): Promise<LogLine[]>;
  /** Runs still `running` whose owner process is dead (per isAlive(host, pid)) become `interrupted`, and their pending/queued/running step runs too. Returns the run ids changed. */
  markInterrupted(isAlive: (host: string, pid: number) => boolean): Promise<string[]>;
  /** Ids of the newest `n` runs of each pipeline (for cache garbage collection reachability). */
  recentRunIds(n: number): Promise<string[]>;
  /** All cache keys and output digests recorded by these runs. */
  referencedBy(runIds: readonly string[]): Promise<{ cacheKeys: Set<string>; digests: Set<string> }>;
  /** Closes the database connection; the store is unusable afterwards. */
  close(): Promise<void>;
}
