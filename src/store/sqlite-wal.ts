import type Database from "better-sqlite3";

/**
 * The page size of databases sluice creates. A cold 10,000-step run commits ~4 MB of small rows at
 * random places of its key indexes; with SQLite's default 4 KiB pages those commits took 16–21 ms
 * a run, with 16 KiB pages 10–11 ms, and the whole run 20–30 ms less (bigger pages gained no more;
 * reading a cached run back was no slower).
 */
export const PAGE_SIZE = 16_384;

/**
 * Sets a new database's page size and puts it in WAL mode. Switching needs an exclusive lock, and
 * SQLite answers SQLITE_BUSY at once (without the busy handler) when another connection holds a
 * lock at that moment, e.g. a second process migrating the same new file: retry for up to the
 * busy timeout.
 */
export function switchToWal(sqlite: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // Only a new, empty file takes a page size (a database already in WAL mode keeps its own).
  sqlite.pragma(`page_size = ${PAGE_SIZE}`);
  for (;;) {
    try {
      sqlite.pragma("journal_mode = WAL");
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_BUSY" || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}
