import type Database from "better-sqlite3";

/**
 * Puts a database in WAL mode. Switching needs an exclusive lock, and SQLite answers SQLITE_BUSY at
 * once (without the busy handler) when another connection holds a lock at that moment, e.g. a
 * second process migrating the same new file: retry for up to the busy timeout.
 */
export function switchToWal(sqlite: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
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
