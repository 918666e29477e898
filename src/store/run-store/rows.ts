/**
 * Record ⇄ row conversion for the run store: JSON fields to TEXT and back, integers read back
 * with `Number()` (PostgreSQL returns `bigint` as a string), nulls kept as nulls.
 */
import type { Insertable, Selectable } from "kysely";
import { configure } from "safe-stable-stringify";
import { type SerializedError, SluiceError } from "../../errors.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import type { LogsTable, MetricsTable, RunsTable, StepRunsTable } from "./schema.ts";
import type { LogLevel, LogLine, MetricPoint, RunRecord, RunStatus, StepRunRecord, StepStatus, Trigger } from "./types.ts";

// Log data comes from user code: a cycle or a bigint must not lose the line.
const lenientJson = configure({ bigint: true, circularValue: "[Circular]" });

function logDataJson(value: unknown): string {
  return lenientJson(value) ?? "null";
}

/** A serialized error as JSON text, or null (its details come from user code: lenient). */
export function errorJson(e: SerializedError | null | undefined): string | null {
  return e == null ? null : (lenientJson(e) ?? null);
}

function parseJson(text: string): unknown {
  return JSON.parse(text) as unknown;
}

function parseError(text: string | null): SerializedError | null {
  return text === null ? null : (JSON.parse(text) as SerializedError);
}

function int(v: number | string | bigint): number {
  return Number(v);
}

function intOrNull(v: number | string | bigint | null): number | null {
  return v === null ? null : Number(v);
}

/** A run as a `runs` row. */
export function toRunRow(r: RunRecord): Insertable<RunsTable> {
  return {
    id: r.id,
    pipeline: r.pipeline,
    status: r.status,
    params: canonicalJson(r.params),
    trigger: r.trigger,
    actor: r.actor,
    code_digest: r.codeDigest ?? null,
    host: r.host,
    pid: r.pid,
    started_at: r.startedAt ?? null,
    finished_at: r.finishedAt ?? null,
    error: errorJson(r.error),
    step_count: r.stepCount,
  };
}

/** A `runs` row as a run. */
export function fromRunRow(row: Selectable<RunsTable>): RunRecord {
  return {
    id: row.id,
    pipeline: row.pipeline,
    status: row.status as RunStatus,
    params: parseJson(row.params),
    trigger: row.trigger as Trigger,
    actor: row.actor,
    codeDigest: row.code_digest,
    host: row.host,
    pid: int(row.pid),
    startedAt: int(row.started_at),
    finishedAt: intOrNull(row.finished_at),
    error: parseError(row.error),
    stepCount: int(row.step_count),
  };
}

/** Columns of `step_runs`, in insert order (also the list the upsert updates). */
export const STEP_RUN_COLUMNS = [
  "run_id",
  "step_id",
  "step_name",
  "status",
  "cache_key",
  "inputs",
  "outputs",
  "executor",
  "worker",
  "attempts",
  "started_at",
  "finished_at",
  "duration_ms",
  "error",
  "reason",
] as const satisfies readonly (keyof StepRunsTable)[];

/** A `step_runs` row to insert, every column present. */
export type StepRunRow = Required<Insertable<StepRunsTable>>;

/** A step run as a `step_runs` row (keys in `STEP_RUN_COLUMNS` order; nullish → null). */
export function toStepRunRow(r: StepRunRecord): StepRunRow {
  return {
    run_id: r.runId,
    step_id: r.stepId,
    step_name: r.stepName,
    status: r.status,
    cache_key: r.cacheKey ?? null,
    // Plain JSON.stringify: these are string maps, and it is ~10× faster than canonical JSON,
    // which matters at 10,000 rows.
    inputs: JSON.stringify(r.inputs),
    outputs: JSON.stringify(r.outputs),
    executor: r.executor,
    worker: r.worker ?? null,
    attempts: r.attempts,
    started_at: r.startedAt ?? null,
    finished_at: r.finishedAt ?? null,
    duration_ms: r.durationMs ?? null,
    error: errorJson(r.error),
    reason: r.reason ?? null,
  };
}

/** A `step_runs` row as a step run. */
export function fromStepRunRow(row: Selectable<StepRunsTable>): StepRunRecord {
  return {
    runId: row.run_id,
    stepId: row.step_id,
    stepName: row.step_name,
    status: row.status as StepStatus,
    cacheKey: row.cache_key,
    inputs: parseJson(row.inputs) as Record<string, string>,
    outputs: parseJson(row.outputs) as Record<string, string>,
    executor: row.executor,
    worker: row.worker,
    attempts: int(row.attempts),
    startedAt: intOrNull(row.started_at),
    finishedAt: intOrNull(row.finished_at),
    durationMs: intOrNull(row.duration_ms),
    error: parseError(row.error),
    reason: row.reason,
  };
}

/** The `format` of step-run sets written now. */
export const STEP_RUN_SET_FORMAT = 1;

/** One value per row, or `{ c }` when every row has the same value. */
type Column<T> = T[] | { c: T };

/** A port map column: one column per port when every row has the same ports, else the maps themselves. */
type PortsColumn = { ports: Record<string, Column<string>> } | { maps: Record<string, string>[] };

/**
 * A `step_run_sets` body, format 1: the rows' fields as columns (a 10,000-step cached run has
 * many identical values and stores each once), times as offsets from `base`.
 */
interface StepRunSetBody {
  n: number;
  base: number;
  stepId: Column<string>;
  stepName: Column<string>;
  status: Column<string>;
  cacheKey: Column<string | null>;
  inputs: PortsColumn;
  outputs: PortsColumn;
  executor: Column<string>;
  worker: Column<string | null>;
  attempts: Column<number>;
  startedAt: Column<number | null>;
  finishedAt: Column<number | null>;
  durationMs: Column<number | null>;
  /** Errors as JSON text. */
  error: Column<string | null>;
  reason: Column<string | null>;
}

function column<T>(rows: readonly StepRunRecord[], get: (r: StepRunRecord) => T): Column<T> {
  const first = get(rows[0]!);
  let i = 1;
  while (i < rows.length && get(rows[i]!) === first) i++;
  if (i === rows.length) return { c: first };
  const out = new Array<T>(rows.length);
  for (let k = 0; k < rows.length; k++) out[k] = get(rows[k]!);
  return out;
}

function at<T>(col: Column<T>, i: number): T {
  return Array.isArray(col) ? col[i]! : col.c;
}

function portsColumn(rows: readonly StepRunRecord[], get: (r: StepRunRecord) => Record<string, string>): PortsColumn {
  const names = Object.keys(get(rows[0]!));
  for (const r of rows) {
    const m = get(r);
    let n = 0;
    for (const k in m) if (names[n++] !== k) return { maps: rows.map(get) };
    if (n !== names.length) return { maps: rows.map(get) };
  }
  const ports: Record<string, Column<string>> = {};
  for (const name of names) ports[name] = column(rows, (r) => get(r)[name]!);
  return { ports };
}

function portsAt(col: PortsColumn, i: number): Record<string, string> {
  if ("maps" in col) return col.maps[i]!;
  const out: Record<string, string> = {};
  for (const name in col.ports) out[name] = at(col.ports[name]!, i);
  return out;
}

/** One run's finished step runs (at least one) as a `step_run_sets` body. */
export function encodeStepRunSet(rows: readonly StepRunRecord[]): string {
  let base = Infinity;
  for (const r of rows) {
    if (r.startedAt !== null && r.startedAt < base) base = r.startedAt;
    if (r.finishedAt !== null && r.finishedAt < base) base = r.finishedAt;
  }
  if (base === Infinity) base = 0;
  const body: StepRunSetBody = {
    n: rows.length,
    base,
    stepId: column(rows, (r) => r.stepId),
    stepName: column(rows, (r) => r.stepName),
    status: column(rows, (r) => r.status),
    cacheKey: column(rows, (r) => r.cacheKey ?? null),
    inputs: portsColumn(rows, (r) => r.inputs),
    outputs: portsColumn(rows, (r) => r.outputs),
    executor: column(rows, (r) => r.executor),
    worker: column(rows, (r) => r.worker ?? null),
    attempts: column(rows, (r) => r.attempts),
    startedAt: column(rows, (r) => (r.startedAt == null ? null : r.startedAt - base)),
    finishedAt: column(rows, (r) => (r.finishedAt == null ? null : r.finishedAt - base)),
    durationMs: column(rows, (r) => r.durationMs ?? null),
    error: column(rows, (r) => errorJson(r.error)),
    reason: column(rows, (r) => r.reason ?? null),
  };
  return JSON.stringify(body);
}

/** The step runs of a `step_run_sets` row; an unknown format is a store failure (a newer sluice wrote it). */
export function decodeStepRunSet(runId: string, format: number, text: string): StepRunRecord[] {
  if (format !== STEP_RUN_SET_FORMAT) {
    throw new SluiceError("SLUICE_STORE_FAILED", `run store › step_run_sets: run "${runId}" has step runs in format ${format}, which this sluice cannot read. Upgrade sluice.`, { runId, format });
  }
  const b = JSON.parse(text) as StepRunSetBody;
  const time = (v: number | null): number | null => (v === null ? null : v + b.base);
  const out = new Array<StepRunRecord>(b.n);
  for (let i = 0; i < b.n; i++) {
    out[i] = {
      runId,
      stepId: at(b.stepId, i),
      stepName: at(b.stepName, i),
      status: at(b.status, i) as StepStatus,
      cacheKey: at(b.cacheKey, i),
      inputs: portsAt(b.inputs, i),
      outputs: portsAt(b.outputs, i),
      executor: at(b.executor, i),
      worker: at(b.worker, i),
      attempts: at(b.attempts, i),
      startedAt: time(at(b.startedAt, i)),
      finishedAt: time(at(b.finishedAt, i)),
      durationMs: at(b.durationMs, i),
      error: parseError(at(b.error, i)),
      reason: at(b.reason, i),
    };
  }
  return out;
}

/** Columns of a `metrics` insert, in the order `toMetricRow` lists them. */
export const METRIC_COLUMNS = ["run_id", "step_id", "name", "value", "step", "ts"] as const satisfies readonly (keyof MetricsTable)[];

/** A `metrics` row to insert, every column present. */
export type MetricRow = Required<Omit<Insertable<MetricsTable>, "seq">>;

/** A metric sample as a `metrics` row. */
export function toMetricRow(p: MetricPoint): MetricRow {
  return { run_id: p.runId, step_id: p.stepId, name: p.name, value: p.value, step: p.step ?? null, ts: p.ts };
}

/** A `metrics` row as a metric sample. */
export function fromMetricRow(row: Omit<Selectable<MetricsTable>, "seq">): MetricPoint {
  return {
    runId: row.run_id,
    stepId: row.step_id,
    name: row.name,
    value: Number(row.value),
    step: intOrNull(row.step),
    ts: int(row.ts),
  };
}

/** Columns of a `logs` insert, in the order `toLogRow` lists them. */
export const LOG_COLUMNS = ["run_id", "step_id", "ts", "level", "msg", "data"] as const satisfies readonly (keyof LogsTable)[];

/** A `logs` row to insert, every column present. */
export type LogRow = Required<Omit<Insertable<LogsTable>, "seq">>;

/** A log line as a `logs` row. */
export function toLogRow(l: LogLine): LogRow {
  return { run_id: l.runId, step_id: l.stepId ?? null, ts: l.ts, level: l.level, msg: l.msg, data: logDataJson(l.data) };
}

/** A `logs` row as a log line. */
export function fromLogRow(row: Omit<Selectable<LogsTable>, "seq">): LogLine {
  return {
    runId: row.run_id,
    stepId: row.step_id,
    ts: int(row.ts),
    level: row.level as LogLevel,
    msg: row.msg,
    data: parseJson(row.data),
  };
}
