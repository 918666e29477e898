import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openCacheDb } from "../../../src/store/cache-db.ts";
import { PAGE_SIZE } from "../../../src/store/sqlite-wal.ts";

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sluice-cachedb-"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("openCacheDb", () => {
  it("makes a new cache database with sluice's page size, in WAL mode", () => {
    const db = openCacheDb(root);
    try {
      db.exec("CREATE TABLE t (v TEXT)");
      expect(PAGE_SIZE).toBe(16_384);
      expect(db.pragma("page_size", { simple: true })).toBe(PAGE_SIZE);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("opens a database made with SQLite's default pages as it is, data and page size kept", () => {
    const old = new Database(join(root, "cache.db"));
    old.pragma("journal_mode = WAL");
    old.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')");
    old.close();
    const db = openCacheDb(root);
    try {
      expect(db.pragma("page_size", { simple: true })).toBe(4096);
      expect(db.prepare("SELECT v FROM t").pluck().get()).toBe("kept");
      db.prepare("INSERT INTO t VALUES (?)").run("more");
      expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(2);
    } finally {
      db.close();
    }
  });
});
