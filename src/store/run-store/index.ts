/**
 * Run records (runs, step runs, metrics, per-step logs) and the model registry (versions,
 * champions, endpoint deployments) on SQLite or PostgreSQL through Kysely.
 */
export type { ListRunsQuery, LogLevel, LogLine, MetricPoint, RunRecord, RunStatus, RunStore, StepRunRecord, StepStatus, Trigger } from "./types.ts";
export type { RunStoreSchema } from "./schema.ts";
export { createKyselyRunStore, type KyselyRunStoreOptions } from "./kysely-run-store.ts";
export { createSqliteRunStore } from "./sqlite.ts";
export { migrateRunStore, runStoreMigrations, type RunStoreDialect } from "./migrations.ts";
export { createSqliteStores, type SqliteStores } from "./sqlite.ts";
export type { Deployment, DeploymentSpec, ModelLineage, ModelRegistry, ModelStage, ModelVersion, NewModelVersion } from "./registry-types.ts";
export { createKyselyModelRegistry, type ModelRegistryOptions } from "./model-registry.ts";
export { REGISTRY_NAME_PATTERN } from "./registry-validate.ts";
export { createPostgresRunStore, createPostgresStores, POSTGRES_SCHEMA_PATTERN, redactPostgresUrl, type PostgresStoreOptions, type PostgresStores } from "./postgres.ts";
export { createKyselyServiceStore, type AuditRecord, type IdempotencyClaim, type ServiceStore, type ServiceStoreOptions, type TokenRecord } from "./service-store.ts";
export { createKyselyScheduleLedger, FIRE_STATUSES, type FireKey, type FireReason, type FireRecord, type FireStatus, type ListFiresQuery, type NewFire, type ScheduleLedger, type ScheduleLedgerOptions } from "./schedule-ledger.ts";
