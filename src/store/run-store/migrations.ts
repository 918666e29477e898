/**
 * Run-store schema migrations, in code (no files read at runtime), applied with Kysely's
 * `Migrator`. Names sort in order (`0001_initial`, `0002_…`); a shipped migration never changes.
 *
 * Two processes may open one database at the same time, so applying migrations must be safe to
 * race: on PostgreSQL Kysely's migrator already takes an advisory lock inside a transaction; on
 * SQLite it takes none and runs DDL outside a transaction, so we hold SQLite's write lock
 * (`BEGIN IMMEDIATE`, waiting up to the busy timeout) for the whole migration. The loser then
 * finds every migration applied and does nothing.
 */
import { type Kysely, type Migration, Migrator, PostgresAdapter, SqliteAdapter, sql } from "kysely";
import { SluiceError } from "../../errors.ts";

/** The SQL dialects the run store supports. */
export type RunStoreDialect = "sqlite" | "postgres";

/** Names of Kysely's bookkeeping tables for this store, so other stores may share the database. */
export const RUN_STORE_MIGRATION_TABLE = "sluice_run_store_migration";
/** Lock table of the run store's migrator. */
export const RUN_STORE_MIGRATION_LOCK_TABLE = "sluice_run_store_migration_lock";

/** Which dialect a Kysely instance talks, from its adapter. */
export function dialectOf(db: Kysely<any>): RunStoreDialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) return "sqlite";
  if (adapter instanceof PostgresAdapter) return "postgres";
  throw new SluiceError(
    "SLUICE_STORE_FAILED",
    `run store: unsupported database dialect (${adapter.constructor.name}). Use SQLite or PostgreSQL.`,
    { adapter: adapter.constructor.name },
  );
}

/** An auto-numbered primary key that keeps append order. */
function seqColumnType(dialect: RunStoreDialect): "integer" | "bigint" {
  // SQLite: an `integer primary key` is the rowid, numbered on insert. pg: an identity column.
  return dialect === "sqlite" ? "integer" : "bigint";
}

/** The run store's migrations for a dialect, keyed by sortable name. */
export function runStoreMigrations(dialect: RunStoreDialect): Record<string, Migration> {
  const seqType = seqColumnType(dialect);
  return {
    "0001_initial": {
      async up(db: Kysely<any>): Promise<void> {
        // No foreign keys: SQLite does not enforce them by default and PostgreSQL does, and both
        // stores must accept the same writes in the same order (step rows may precede the run row).
        await db.schema
          .createTable("runs")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("pipeline", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("params", "text", (c) => c.notNull())
          .addColumn("trigger", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("code_digest", "text")
          .addColumn("host", "text", (c) => c.notNull())
          .addColumn("pid", "integer", (c) => c.notNull())
          .addColumn("started_at", "bigint", (c) => c.notNull())
          .addColumn("finished_at", "bigint")
          .addColumn("error", "text")
          .addColumn("step_count", "integer", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("runs_pipeline_started_at").on("runs").columns(["pipeline", "started_at"]).execute();
        await db.schema.createIndex("runs_started_at").on("runs").column("started_at").execute();
        await db.schema.createIndex("runs_status").on("runs").column("status").execute();

        await db.schema
          .createTable("step_runs")
          .addColumn("run_id", "text", (c) => c.notNull())
          .addColumn("step_id", "text", (c) => c.notNull())
          .addColumn("step_name", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("cache_key", "text")
          .addColumn("inputs", "text", (c) => c.notNull())
          .addColumn("outputs", "text", (c) => c.notNull())
          .addColumn("executor", "text", (c) => c.notNull())
          .addColumn("worker", "text")
          .addColumn("attempts", "integer", (c) => c.notNull())
          .addColumn("started_at", "bigint")
          .addColumn("finished_at", "bigint")
          .addColumn("duration_ms", "bigint")
          .addColumn("error", "text")
          .addColumn("reason", "text")
          .addPrimaryKeyConstraint("step_runs_pk", ["run_id", "step_id"])
          .execute();

        await db.schema
          .createTable("metrics")
          .addColumn("seq", seqType, (c) => (dialect === "sqlite" ? c.primaryKey() : c.primaryKey().generatedByDefaultAsIdentity()))
          .addColumn("run_id", "text", (c) => c.notNull())
          .addColumn("step_id", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("value", "double precision", (c) => c.notNull())
          .addColumn("step", "bigint")
          .addColumn("ts", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("metrics_run_step").on("metrics").columns(["run_id", "step_id", "seq"]).execute();

        await db.schema
          .createTable("logs")
          .addColumn("seq", seqType, (c) => (dialect === "sqlite" ? c.primaryKey() : c.primaryKey().generatedByDefaultAsIdentity()))
          .addColumn("run_id", "text", (c) => c.notNull())
          .addColumn("step_id", "text")
          .addColumn("ts", "bigint", (c) => c.notNull())
          .addColumn("level", "text", (c) => c.notNull())
          .addColumn("msg", "text", (c) => c.notNull())
          .addColumn("data", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("logs_run_step").on("logs").columns(["run_id", "step_id", "seq"]).execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        for (const table of ["logs", "metrics", "step_runs", "runs"]) await db.schema.dropTable(table).execute();
      },
    },
    "0002_models": {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema.createTable("model_names").addColumn("name", "text", (c) => c.primaryKey()).execute();

        await db.schema
          .createTable("models")
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("digest", "text", (c) => c.notNull())
          .addColumn("metrics", "text", (c) => c.notNull())
          .addColumn("signature", "text", (c) => c.notNull())
          .addColumn("stage", "text", (c) => c.notNull())
          .addColumn("lineage", "text", (c) => c.notNull())
          .addColumn("tags", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("stage_updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("models_pk", ["name", "version"])
          .execute();
        // Re-registering the same bytes under a name finds this row instead of adding a version.
        await db.schema.createIndex("models_name_digest").unique().on("models").columns(["name", "digest"]).execute();
        // A last line of defence: the registry already serialises a name's promotions.
        await db.schema.createIndex("models_one_champion").unique().on("models").column("name").where(sql.ref("stage"), "=", "champion").execute();
        await db.schema.createIndex("models_created_at").on("models").column("created_at").execute();

        await db.schema
          .createTable("endpoints")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("deployments")
          .addColumn("endpoint", "text", (c) => c.notNull())
          .addColumn("deployment", "text", (c) => c.notNull())
          .addColumn("model", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("traffic_percent", "integer", (c) => c.notNull())
          .addColumn("shadow", "integer", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("deployments_pk", ["endpoint", "deployment"])
          .execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        for (const table of ["deployments", "endpoints", "models", "model_names"]) await db.schema.dropTable(table).execute();
      },
    },
    "0003_service": {
      async up(db: Kysely<any>): Promise<void> {
        // Bearer tokens of `sluice serve`, by sha256 of the token; a name is unique among live tokens.
        await db.schema
          .createTable("tokens")
          .addColumn("hash", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("revoked_at", "bigint")
          .execute();
        await db.schema.createIndex("tokens_live_name").unique().on("tokens").column("name").where(sql.ref("revoked_at"), "is", null).execute();

        await db.schema
          .createTable("audit_log")
          .addColumn("seq", seqType, (c) => (dialect === "sqlite" ? c.primaryKey() : c.primaryKey().generatedByDefaultAsIdentity()))
          .addColumn("ts", "bigint", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("target", "text", (c) => c.notNull())
          .addColumn("result", "text", (c) => c.notNull())
          .addColumn("details", "text", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("idempotency_keys")
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("run_id", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("idempotency_keys_pk", ["actor", "key"])
          .execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        for (const table of ["idempotency_keys", "audit_log", "tokens"]) await db.schema.dropTable(table).execute();
      },
    },
    "0004_schedules": {
      async up(db: Kysely<any>): Promise<void> {
        // One row per (pipeline, schedule, cron instant): inserting it is the claim that makes a
        // fire happen once across restarts and processes (see schedule-ledger.ts).
        await db.schema
          .createTable("schedule_fires")
          .addColumn("pipeline", "text", (c) => c.notNull())
          .addColumn("schedule_id", "text", (c) => c.notNull())
          .addColumn("fire_time", "bigint", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("reason", "text", (c) => c.notNull())
          .addColumn("instants", "integer", (c) => c.notNull())
          .addColumn("run_id", "text")
          .addColumn("note", "text")
          .addColumn("claimed_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("schedule_fires_pk", ["pipeline", "schedule_id", "fire_time"])
          .execute();
        await db.schema.createIndex("schedule_fires_status").on("schedule_fires").columns(["status", "fire_time"]).execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        await db.schema.dropTable("schedule_fires").execute();
      },
    },
    "0005_step_run_sets": {
      async up(db: Kysely<any>): Promise<void> {
        // Finished steps that never had a row of their own, many to a row (see kysely-run-store
        // `appendFinishedStepRuns`): a cached 10,000-step run writes a few rows, not 10,000.
        await db.schema
          .createTable("step_run_sets")
          .addColumn("seq", seqType, (c) => (dialect === "sqlite" ? c.primaryKey() : c.primaryKey().generatedByDefaultAsIdentity()))
          .addColumn("run_id", "text", (c) => c.notNull())
          .addColumn("format", "integer", (c) => c.notNull())
          .addColumn("count", "integer", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("step_run_sets_run_id").on("step_run_sets").column("run_id").execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        await db.schema.dropTable("step_run_sets").execute();
      },
    },
  };
}

// Migration names in code-unit order: they are ASCII. Kysely's default, localeCompare, costs every
// command ~8 ms of ICU start-up.
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Applies every pending run-store migration; safe when several processes do it at once. */
export async function migrateRunStore(db: Kysely<any>): Promise<void> {
  const dialect = dialectOf(db);
  const migrations = runStoreMigrations(dialect);
  // On PostgreSQL the migrator would look for its tables in every schema of the database; pin
  // them to the connection's current schema so stores in separate schemas migrate separately.
  const schema = dialect === "postgres" ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s : undefined;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: RUN_STORE_MIGRATION_TABLE,
    migrationLockTableName: RUN_STORE_MIGRATION_LOCK_TABLE,
    ...(schema ? { migrationTableSchema: schema } : {}),
    nameComparator: byCodeUnit,
  });
  const migrate = async (): Promise<void> => {
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === "Error")?.migrationName;
      throw new SluiceError(
        "SLUICE_STORE_FAILED",
        `run store: migration ${failed ?? "setup"} failed: ${error instanceof Error ? error.message : String(error)}. ` +
          "Check that the database is writable and was not written by a newer sluice.",
        { migration: failed ?? null },
        { cause: error },
      );
    }
  };
  if (dialect === "postgres") return migrate();

  // Nothing pending, the usual case: one read instead of the migrator's lock, table checks and
  // queries in a write transaction (opening the stores of a cached `sluice run` 10–12 → 5–7 ms).
  // Applied names come only from this list, so all of them present means up to date; anything
  // else (a new file, a newer sluice's migrations) goes to the migrator, which applies or refuses
  // as before.
  const names = Object.keys(migrations).sort(byCodeUnit);
  const applied = await sql<{ n: number; last: string | null }>`select count(*) as n, max(name) as last from ${sql.table(RUN_STORE_MIGRATION_TABLE)}`
    .execute(db)
    .then((r) => r.rows[0], () => undefined); // no table yet: a new file
  if (applied && Number(applied.n) === names.length && applied.last === names.at(-1)) return;

  // SQLite: one connection per Kysely instance, so these statements all run on it, in order.
  await sql`begin immediate`.execute(db);
  try {
    await migrate();
  } catch (err) {
    await sql`rollback`.execute(db);
    throw err;
  }
  await sql`commit`.execute(db);
}
