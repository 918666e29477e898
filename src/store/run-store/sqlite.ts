/**
 * The SQLite run store: better-sqlite3 in WAL mode (readers never wait for the writer), a
 * 10 s busy timeout (other processes' writes are waited for, not failed), `synchronous = NORMAL`
 * (durable at checkpoints, safe against corruption, far faster than FULL in WAL mode).
 */
import Database from "better-sqlite3";
import { Kysely, SqliteDialect, type SqliteDatabase } from "kysely";
import { mkdir, realpath } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { SluiceError } from "../../errors.ts";
import { switchToWal } from "../sqlite-wal.ts";
import { watchWal } from "../wal-checkpointer.ts";
import { createKyselyRunStore } from "./kysely-run-store.ts";
import { createKyselyModelRegistry, type ModelRegistry } from "./model-registry.ts";
import { createKyselyScheduleLedger, type ScheduleLedger } from "./schedule-ledger.ts";
import type { RunStoreSchema } from "./schema.ts";
import { createKyselyServiceStore, type ServiceStore } from "./service-store.ts";
import type { RunStore } from "./types.ts";

/** How long a connection waits for another one's write lock before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** Tail of each file's queue of exclusive sections in this process (absent when idle). */
const fileQueues = new Map<string, Promise<void>>();

/**
 * A lock shared by every store of this process on `path`. better-sqlite3 waits for a locked
 * database synchronously, blocking the event loop: if a second connection in this process waited
 * for the first one's open transaction, the first could never commit. Other processes have their
 * own event loops and simply wait out SQLite's busy timeout.
 */
function fileLock(path: string): <T>(fn: () => Promise<T>) => Promise<T> {
  return async (fn) => {
    const previous = fileQueues.get(path) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => done);
    fileQueues.set(path, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (fileQueues.get(path) === tail) fileQueues.delete(path);
    }
  };
}

/** Prepared statements kept per connection (least recently used dropped first). */
const STATEMENT_CACHE_SIZE = 64;

/**
 * better-sqlite3 behind Kysely's SQLite driver, with a statement cache: the driver prepares every
 * query afresh, and preparing the same 500-row INSERT twenty times cost ~45 ms of a 10,000-row
 * upsert. A statement still iterating (a streamed query) is never handed out twice.
 */
function withStatementCache(sqlite: Database.Database): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text) {
      const hit = cache.get(text);
      cache.delete(text);
      const stmt = hit !== undefined && !hit.busy ? hit : sqlite.prepare(text);
      cache.set(text, stmt);
      if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return stmt;
    },
  };
}

function openDatabase(path: string): Database.Database {
  const sqlite = new Database(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    // The busy timeout first, so that switching a fresh file to WAL waits for a racing opener.
    sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    switchToWal(sqlite, SQLITE_BUSY_TIMEOUT_MS);
    sqlite.pragma("synchronous = NORMAL");
    return sqlite;
  } catch (err) {
    sqlite.close();
    throw err;
  }
}

/** The open database of a SQLite file and its in-process write lock. */
interface OpenSqlite {
  db: Kysely<RunStoreSchema>;
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Stops the WAL watch: call before closing the connection. */
  beforeClose: () => Promise<void>;
}

/** Opens (creating its folder) the SQLite file `file` behind Kysely, with the file's lock. */
async function openSqlite(file: string): Promise<OpenSqlite> {
  let path = resolve(file);
  let exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  let sqlite: Database.Database;
  try {
    await mkdir(dirname(path), { recursive: true });
    // The folder's real path, so that two spellings of one file share the in-process lock.
    path = join(await realpath(dirname(path)), basename(path));
    exclusive = fileLock(path);
    sqlite = await exclusive(async () => openDatabase(path));
  } catch (err) {
    throw new SluiceError(
      "SLUICE_STORE_FAILED",
      `run store: cannot open SQLite database ${path}: ${err instanceof Error ? err.message : String(err)}. ` +
        "Check that the folder is writable and the file is a sluice run database.",
      { path },
      { cause: err },
    );
  }
  const db = new Kysely<RunStoreSchema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  // Every write of this process to the file runs in an exclusive section: its end is a commit.
  const wal = watchWal(sqlite, path);
  const locked = exclusive;
  const afterWrite = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await locked(fn);
    } finally {
      wal.committed();
    }
  };
  return { db, exclusive: afterWrite, beforeClose: wal.release };
}

/** A run store in the SQLite file `file` (its folder is created); applies pending migrations. */
export async function createSqliteRunStore(file: string): Promise<RunStore> {
  const { db, exclusive, beforeClose } = await openSqlite(file);
  try {
    return await createKyselyRunStore(db, { exclusive, beforeClose });
  } catch (err) {
    await beforeClose();
    await db.destroy();
    throw err;
  }
}

/** The stores that share one SQLite file: run records and the model registry. */
export interface SqliteStores {
  runs: RunStore;
  models: ModelRegistry;
  /** Tokens, audit log and idempotency keys of `sluice serve`. */
  service: ServiceStore;
  /** Fire times of cron schedules (claimed before each launch). */
  fires: ScheduleLedger;
  /** Closes the shared connection; both stores are unusable afterwards. */
  close(): Promise<void>;
}

/**
 * The run store and the model registry in the SQLite file `file` (its folder is created), on one
 * connection, migrated once, sharing one write lock.
 */
export async function createSqliteStores(file: string): Promise<SqliteStores> {
  const { db, exclusive, beforeClose } = await openSqlite(file);
  let runs: RunStore;
  try {
    runs = await createKyselyRunStore(db, { exclusive, beforeClose });
  } catch (err) {
    await beforeClose();
    await db.destroy();
    throw err;
  }
  return { runs, models: createKyselyModelRegistry(db, { exclusive }), service: createKyselyServiceStore(db, { exclusive }), fires: createKyselyScheduleLedger(db, { exclusive }), close: () => runs.close() };
}
