import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { SluiceError } from "../errors.ts";

/** The cache folder's SQLite database (action cache, claims, stat cache, small objects). */
export type CacheDb = Database.Database;

/**
 * Opens `<cacheDir>/cache.db` in WAL mode. Several processes share it: writers wait up to
 * `busyTimeoutMs` for each other instead of failing.
 */
export function openCacheDb(cacheDir: string, opts: { busyTimeoutMs?: number } = {}): CacheDb {
  const file = path.join(cacheDir, "cache.db");
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const db = new Database(file);
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 30_000}`);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    return db;
  } catch (err) {
    throw new SluiceError("SLUICE_STORE_FAILED", `cache database ${file} could not be opened: ${(err as Error).message}. Check the folder's permissions and free space, or set SLUICE_CACHE_DIR.`, { path: file }, { cause: err });
  }
}
