/**
 * Table shapes of the run store as Kysely sees them. Column names are snake_case; JSON is TEXT;
 * times are integer epoch ms. Integer columns read as `number` on SQLite but as `string` for
 * PostgreSQL `bigint`, so their select type admits both and the store converts with `Number()`.
 */
import type { ColumnType, Generated } from "kysely";

/** An integer column: written as a number, read as number (SQLite) or string (pg bigint). */
export type IntColumn = ColumnType<number | string | bigint, number, number>;

/** A nullable integer column. */
export type NullableIntColumn = ColumnType<number | string | bigint | null, number | null, number | null>;

/** Table `runs`: one row per run. */
export interface RunsTable {
  id: string;
  pipeline: string;
  status: string;
  /** JSON. */
  params: string;
  trigger: string;
  actor: string;
  code_digest: string | null;
  host: string;
  pid: IntColumn;
  started_at: IntColumn;
  finished_at: NullableIntColumn;
  /** JSON `SerializedError`. */
  error: string | null;
  step_count: IntColumn;
}

/** Table `step_runs`: one row per (run, step instance), except the finished ones stored in `step_run_sets`. */
export interface StepRunsTable {
  run_id: string;
  step_id: string;
  step_name: string;
  status: string;
  cache_key: string | null;
  /** JSON object port → digest. */
  inputs: string;
  /** JSON object port → digest. */
  outputs: string;
  executor: string;
  worker: string | null;
  attempts: IntColumn;
  started_at: NullableIntColumn;
  finished_at: NullableIntColumn;
  duration_ms: NullableIntColumn;
  /** JSON `SerializedError`. */
  error: string | null;
  reason: string | null;
}

/**
 * Table `step_run_sets`: finished step runs that have no `step_runs` row, many to a row. `body`
 * is JSON in format `format` (see step-run-sets.ts `encodeStepRunSet`).
 */
export interface StepRunSetsTable {
  seq: Generated<IntColumn>;
  run_id: string;
  format: IntColumn;
  count: IntColumn;
  body: string;
}

/** Table `metrics`: append-only samples; `seq` keeps append order. */
export interface MetricsTable {
  seq: Generated<IntColumn>;
  run_id: string;
  step_id: string;
  name: string;
  value: ColumnType<number | string, number, number>;
  step: NullableIntColumn;
  ts: IntColumn;
}

/** Table `logs`: append-only lines; `seq` keeps append order. */
export interface LogsTable {
  seq: Generated<IntColumn>;
  run_id: string;
  step_id: string | null;
  ts: IntColumn;
  level: string;
  msg: string;
  /** JSON. */
  data: string;
}

/** The run store's database, for `Kysely<RunStoreSchema>`. */
export interface RunStoreSchema {
  runs: RunsTable;
  step_runs: StepRunsTable;
  step_run_sets: StepRunSetsTable;
  metrics: MetricsTable;
  logs: LogsTable;
  model_names: ModelNamesTable;
  models: ModelsTable;
  endpoints: EndpointsTable;
  deployments: DeploymentsTable;
}

/** Table `model_names`: one row per registered model name; writers lock it to serialise a name's changes. */
export interface ModelNamesTable {
  name: string;
}

/** Table `models`: one row per (name, version); `(name, digest)` is unique. */
export interface ModelsTable {
  name: string;
  version: IntColumn;
  /** `sha256:<hex>` of the ONNX bytes in the CAS. */
  digest: string;
  /** JSON object name → number. */
  metrics: string;
  /** JSON. */
  signature: string;
  /** `candidate`, `champion` or `archived`; at most one champion per name. */
  stage: string;
  /** JSON `ModelLineage`. */
  lineage: string;
  /** JSON object name → string. */
  tags: string;
  created_at: IntColumn;
  stage_updated_at: IntColumn;
}

/** Table `endpoints`: one row per endpoint ever given deployments; writers lock it to serialise an endpoint's changes. */
export interface EndpointsTable {
  name: string;
  updated_at: IntColumn;
}

/** Table `deployments`: the desired deployments of each endpoint. */
export interface DeploymentsTable {
  endpoint: string;
  deployment: string;
  model: string;
  version: IntColumn;
  traffic_percent: IntColumn;
  /** 1 for a shadow (mirrored, answers discarded), 0 otherwise: no boolean type both databases share. */
  shadow: IntColumn;
  updated_at: IntColumn;
}
