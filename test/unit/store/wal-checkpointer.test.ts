import Database from "better-sqlite3";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WalCheckpointer } from "../../../src/store/wal-checkpointer.ts";

let root: string;
let file: string;
let db: Database.Database;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sluice-wal-"));
  file = join(root, "cache.db");
  db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
});

afterEach(() => {
  if (db.open) db.close();
  rmSync(root, { recursive: true, force: true });
});

/** Commits `kib` KiB of rows in one transaction (each row 4 KiB, so about one page each). */
function write(kib: number): void {
  const ins = db.prepare("INSERT INTO t (v) VALUES (?)");
  db.transaction(() => {
    for (let i = 0; i < kib / 4; i++) ins.run(Buffer.alloc(4000, i % 251));
  })();
}

const autocheckpoint = (): number => db.pragma("wal_autocheckpoint", { simple: true }) as number;

describe("WalCheckpointer", () => {
  it("leaves a small log to SQLite: no thread, the default automatic checkpoint", async () => {
    const watch = new WalCheckpointer(1024 * 1024, 64 * 1024 * 1024).watch(db, file);
    write(256);
    watch.committed();
    await watch.settled();
    expect(autocheckpoint()).toBe(1000);
    // Nothing copied the log into the database file.
    expect(statSync(file).size).toBeLessThan(64 * 1024);
    await watch.release();
  });

  it("checkpoints a log past the mark on its thread, and raises the connection's own mark", async () => {
    const watch = new WalCheckpointer(1024 * 1024, 64 * 1024 * 1024).watch(db, file);
    // 2 MiB: past the thread's mark, below SQLite's own (1,000 pages, ~4 MiB), so only the thread copies it.
    write(2048);
    expect(statSync(file).size).toBeLessThan(64 * 1024);
    watch.committed();
    await watch.settled();
    expect(statSync(file).size).toBeGreaterThan(2000 * 1024);
    expect(autocheckpoint()).toBe(16_384); // 64 MiB of 4 KiB pages
    // Later commits keep being copied.
    write(1024);
    watch.committed();
    await watch.settled();
    expect(statSync(file).size).toBeGreaterThan(3000 * 1024);
    expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(768);
    await watch.release();
    // The thread's connection is closed: this one is the last, and closing it removes the log.
    db.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("checkpoints at most once per interval: a commit soon after a checkpoint waits for the next", async () => {
    const cp = new WalCheckpointer(1024 * 1024, 64 * 1024 * 1024, 60_000);
    const watch = cp.watch(db, file);
    write(2048);
    watch.committed();
    // The first one is due at once.
    await cp.caughtUp();
    const afterFirst = statSync(file).size;
    expect(afterFirst).toBeGreaterThan(2000 * 1024);
    // Within the minute: the thread holds the next one back...
    write(1024);
    watch.committed();
    await cp.caughtUp();
    expect(statSync(file).size).toBe(afterFirst);
    // ...until asked to settle.
    await watch.settled();
    expect(statSync(file).size).toBeGreaterThan(3000 * 1024);
    await watch.release();
  });

  it("shares one thread connection between two watches of a file, closed when the last is released", async () => {
    const cp = new WalCheckpointer(1024 * 1024, 64 * 1024 * 1024);
    const other = new Database(file);
    try {
      const a = cp.watch(db, file);
      const b = cp.watch(other, file);
      write(2048);
      a.committed();
      b.committed();
      await a.release();
      write(1024);
      b.committed();
      await b.settled();
      expect(statSync(file).size).toBeGreaterThan(3000 * 1024);
      await b.release();
    } finally {
      other.close();
    }
  });

  it("gives the checkpoints back to the connection when the thread cannot do them", async () => {
    // A log past the mark beside a file that is not there: the thread cannot open it.
    const missing = join(root, "gone.db");
    writeFileSync(`${missing}-wal`, Buffer.alloc(2 * 1024 * 1024));
    const cp = new WalCheckpointer(1024 * 1024, 64 * 1024 * 1024);
    const watch = cp.watch(db, missing);
    watch.committed();
    expect(autocheckpoint()).toBe(16_384); // 64 MiB of 4 KiB pages
    await watch.settled();
    expect(autocheckpoint()).toBe(1000);
    // And it does not try again.
    const again = cp.watch(db, file);
    write(2048);
    again.committed();
    await again.settled();
    expect(autocheckpoint()).toBe(1000);
    expect(statSync(file).size).toBeLessThan(64 * 1024);
  });
});

describe("WalCheckpointer messages", () => {
  it("asks the thread once per interval however often the connection commits, and settles every commit", async () => {
    const cp = new WalCheckpointer(1024 * 1024, 64 * 1024 * 1024, 60_000);
    const watch = cp.watch(db, file);
    write(2048);
    watch.committed(); // hands the file over: open + checkpoint
    await cp.caughtUp();
    const sent = cp.sent;
    const afterFirst = statSync(file).size;
    for (let i = 0; i < 50; i++) {
      write(16);
      watch.committed();
    }
    // Within the interval no commit posts a message (one request waits for the interval's end).
    expect(cp.sent).toBe(sent);
    expect(statSync(file).size).toBe(afterFirst);
    // settled sends the held-back request first, so the 50 commits are copied too.
    await watch.settled();
    expect(statSync(file).size).toBeGreaterThanOrEqual(afterFirst + 50 * 4 * 4000);
    expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(512 + 200);
    await watch.release();
  });
});
