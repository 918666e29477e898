/**
 * Run records (runs, step runs, metrics, per-step logs) on SQLite or PostgreSQL through Kysely.
 */
export type { ListRunsQuery, LogLevel, LogLine, MetricPoint, RunRecord, RunStatus, RunStore, StepRunRecord, StepStatus, Trigger } from "./types.ts";
export type { RunStoreSchema } from "./schema.ts";
export { createKyselyRunStore, type KyselyRunStoreOptions } from "./kysely-run-store.ts";
export { createSqliteRunStore } from "./sqlite.ts";
export { migrateRunStore, runStoreMigrations, type RunStoreDialect } from "./migrations.ts";
