/**
 * The PostgreSQL run store and model registry: Kysely's `PostgresDialect` over a `pg.Pool`.
 * PostgreSQL serialises writers itself (row locks, the migrator's advisory lock), so unlike
 * SQLite no in-process write lock is needed. `bigint` columns come back from pg as strings; the
 * row mappers turn every number back with `Number()`.
 */
import { Kysely, PostgresDialect, sql } from "kysely";
import { SluiceError } from "../../errors.ts";
import { importModule } from "../../util/import-module.ts";
import { createKyselyRunStore } from "./kysely-run-store.ts";
import { createKyselyModelRegistry, type ModelRegistry } from "./model-registry.ts";
import { createKyselyScheduleLedger, type ScheduleLedger } from "./schedule-ledger.ts";
import type { RunStoreSchema } from "./schema.ts";
import { createKyselyServiceStore, type ServiceStore } from "./service-store.ts";
import type { RunStore } from "./types.ts";

/** Schema names accepted by `schema`: plain lowercase identifiers, so they never need quoting. */
export const POSTGRES_SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Options of `createPostgresStores` and `createPostgresRunStore`. */
export interface PostgresStoreOptions {
  /**
   * The schema holding sluice's tables; created when missing and put first on every pooled
   * connection's `search_path`. Lowercase letters, digits and `_` (`POSTGRES_SCHEMA_PATTERN`).
   * @default the connection's current schema (usually `public`)
   * @example { schema: "sluice" }
   */
  schema?: string;
}

/** The stores that share one PostgreSQL database (and schema): run records and the model registry. */
export interface PostgresStores {
  runs: RunStore;
  models: ModelRegistry;
  /** Tokens, audit log and idempotency keys of `sluice serve`. */
  service: ServiceStore;
  /** Fire times of cron schedules (claimed before each launch). */
  fires: ScheduleLedger;
  /** Closes the shared connection pool; both stores are unusable afterwards. */
  close(): Promise<void>;
}

/** `url` with its password replaced by `***`, safe for messages and logs. */
export function redactPostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    // Not a URL the WHATWG parser takes: hide whatever sits between "user:" and "@".
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
  }
}

/** The connection string with `-c search_path=<schema>` added to its `options` parameter. */
function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  const options = u.searchParams.get("options");
  u.searchParams.set("options", `${options === null ? "" : `${options} `}-c search_path=${schema}`);
  return u.toString();
}

function storeFailed(url: string, what: string, fix: string, cause: unknown): SluiceError {
  const redacted = redactPostgresUrl(url);
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new SluiceError("SLUICE_STORE_FAILED", `run store: ${what} ${redacted}: ${reason}. ${fix}`, { url: redacted }, { cause });
}

/** Creates `schema` unless it exists; two processes doing so at once both succeed. */
async function ensureSchema(db: Kysely<RunStoreSchema>, schema: string): Promise<void> {
  try {
    await db.schema.createSchema(schema).ifNotExists().execute();
  } catch (err) {
    // `if not exists` still races on pg_namespace's unique index: fine if the other one won.
    const { rows } = await sql<{ n: number }>`select 1 as n from pg_namespace where nspname = ${schema}`.execute(db);
    if (rows.length === 0) throw err;
  }
}

/** Opens a pool on `url`, checks the connection, prepares and migrates the schema. */
async function openPostgres(url: string, opts: PostgresStoreOptions): Promise<Kysely<RunStoreSchema>> {
  const { schema } = opts;
  if (schema !== undefined && !POSTGRES_SCHEMA_PATTERN.test(schema)) {
    throw new SluiceError(
      "SLUICE_STORE_FAILED",
      `run store: PostgreSQL schema name "${schema}" is not allowed. Use lowercase letters, digits and "_", starting with a letter or "_" (at most 63).`,
      { field: "schema", value: schema },
    );
  }
  let connectionString: string;
  try {
    connectionString = schema === undefined ? url : withSearchPath(url, schema);
  } catch {
    // Not the parser's error as cause: Node's TypeError keeps the whole input, password included.
    throw storeFailed(url, "cannot parse the PostgreSQL URL", 'Write it as "postgres://user:password@host:port/database".', new Error("not a valid URL"));
  }
  // Loaded here, not at the top: the pg client (and what it pulls in) cost ~25 ms of every
  // `sluice` start-up that uses SQLite.
  const { default: pg } = await importModule<typeof import("pg")>("pg");
  const pool = new pg.Pool({ connectionString });
  // An idle pooled connection that breaks emits "error"; without a listener that would crash the
  // process. The next query on the pool fails and reports it instead.
  pool.on("error", () => undefined);
  const db = new Kysely<RunStoreSchema>({ dialect: new PostgresDialect({ pool }) });
  try {
    try {
      await sql`select 1`.execute(db);
    } catch (err) {
      throw storeFailed(url, "cannot connect to PostgreSQL at", "Check that the server is running, and the host, port, database, user and password in the URL.", err);
    }
    try {
      if (schema !== undefined) await ensureSchema(db, schema);
      const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
      if ((rows[0]?.schema ?? null) === null) throw new Error("no schema on the search_path exists");
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      throw storeFailed(url, "cannot prepare the run-store schema in", "Check that the database user may create schemas and tables, or pass an existing schema.", err);
    }
    return db;
  } catch (err) {
    await db.destroy();
    throw err;
  }
}

/**
 * A run store in the PostgreSQL database at `url` (`postgres://user:password@host:port/db`),
 * in `opts.schema` if given; applies pending migrations. `close()` ends the connection pool.
 * Connection failures throw `SLUICE_STORE_FAILED` naming the URL without its password.
 */
export async function createPostgresRunStore(url: string, opts: PostgresStoreOptions = {}): Promise<RunStore> {
  return (await createPostgresStores(url, opts)).runs;
}

/**
 * The run store and the model registry in the PostgreSQL database at `url`
 * (`postgres://user:password@host:port/db`), in `opts.schema` if given (created when missing),
 * on one connection pool, migrated once. Safe when several processes open one database at once.
 * Connection failures throw `SLUICE_STORE_FAILED` naming the URL without its password.
 */
export async function createPostgresStores(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStores> {
  const db = await openPostgres(url, opts);
  let runs: RunStore;
  try {
    runs = await createKyselyRunStore(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { runs, models: createKyselyModelRegistry(db), service: createKyselyServiceStore(db), fires: createKyselyScheduleLedger(db), close: () => runs.close() };
}
