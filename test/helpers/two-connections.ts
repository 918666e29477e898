import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { openCacheDb, type CacheDb } from "../../src/store/cache-db.ts";

/** Two connections to one new cache database, as two processes have; remade for every test. */
export interface TwoConnections {
  /** The cache folder. */
  root: string;
  /** This process's connection. */
  mine: CacheDb;
  /** Another process's connection. */
  theirs: CacheDb;
}

/** Registers beforeEach/afterEach hooks that open and remove a fresh cache for each test. */
export function useTwoConnections(prefix: string): TwoConnections {
  const c = {} as TwoConnections;
  beforeEach(() => {
    c.root = mkdtempSync(join(tmpdir(), prefix));
    c.mine = openCacheDb(c.root);
    c.theirs = openCacheDb(c.root);
  });
  afterEach(() => {
    c.mine.close();
    c.theirs.close();
    rmSync(c.root, { recursive: true, force: true });
  });
  return c;
}
