/**
 * Step-run sets: the finished step runs of a run that never had a `step_runs` row of their own,
 * many to a stored row (see kysely-run-store `appendFinishedStepRuns`). Encoded as columns, so
 * the values every row shares (a step name, a status, a reason) are stored once.
 */
import { SluiceError } from "../../errors.ts";
import { errorJson, parseError } from "./rows.ts";
import type { StepRunRecord, StepStatus } from "./types.ts";

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
