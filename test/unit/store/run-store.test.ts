import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqliteRunStore, runStoreMigrations } from "../../../src/store/run-store/index.ts";
import { aRun, runStoreContract } from "./run-store-contract.ts";

runStoreContract("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-run-store-"));
  return {
    open: () => createSqliteRunStore(join(dir, "state", "runs.db")),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

const storeModule = new URL("../../../src/store/run-store/index.ts", import.meta.url).href;

/**
 * A child process that loads the store, says "ready", waits for "go" on stdin, then for each of
 * `files` in turn opens a store, records a run and closes it; prints "ok" or the first error.
 * Two of them released together race on every file, so one test run is many races.
 */
function startOpener(files: readonly string[], runId: string): { ready: Promise<void>; go: () => void; done: Promise<string> } {
  const code = `
    import { createInterface } from "node:readline";
    const { createSqliteRunStore } = await import(${JSON.stringify(storeModule)});
    console.log("ready");
    const lines = createInterface({ input: process.stdin });
    for await (const _ of lines) break;
    try {
      for (const file of ${JSON.stringify(files)}) {
        const store = await createSqliteRunStore(file);
        await store.createRun(${JSON.stringify(aRun({ id: runId }))});
        await store.close();
      }
      console.log("ok");
    } catch (err) {
      console.log("error " + (err && err.stack || err));
    }
    process.exit(0);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { stdio: ["pipe", "pipe", "inherit"] });
  const out = createInterface({ input: child.stdout });
  const lines: string[] = [];
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  out.on("line", (line) => {
    if (line === "ready") markReady();
    else lines.push(line);
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", () => resolve(lines.join("\n")));
  });
  return { ready, go: () => child.stdin.end("go\n"), done };
}

describe("SQLite run store", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-run-store-sqlite-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the parent folder and puts the database in WAL mode", async () => {
    const file = join(dir, "deep", "er", "runs.db");
    const store = await createSqliteRunStore(file);
    await store.createRun(aRun());
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
      const tables = raw.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(["runs", "step_runs", "metrics", "logs", "sluice_run_store_migration"]));
      const applied = raw.prepare("select name from sluice_run_store_migration order by name").pluck().all();
      expect(applied).toEqual(Object.keys(runStoreMigrations("sqlite")).sort());
    } finally {
      raw.close();
      await store.close();
    }
  });

  it("names migrations so that they sort in the order they apply", () => {
    for (const dialect of ["sqlite", "postgres"] as const) {
      const names = Object.keys(runStoreMigrations(dialect));
      expect(names.every((n) => /^\d{4}_[a-z0-9_]+$/.test(n))).toBe(true);
      expect([...names].sort()).toEqual(names);
    }
  });

  it("refuses a database migrated by a newer sluice: the up-to-date check leaves any other set of names to the migrator", async () => {
    const file = join(dir, "runs.db");
    await (await createSqliteRunStore(file)).close();
    const names = Object.keys(runStoreMigrations("sqlite"));
    const sqlite = new Database(file);
    expect(sqlite.prepare("SELECT name FROM sluice_run_store_migration ORDER BY name").pluck().all()).toEqual(names);
    sqlite.prepare("INSERT INTO sluice_run_store_migration (name, timestamp) VALUES (?, ?)").run("9999_from_the_future", new Date().toISOString());
    sqlite.close();
    await expect(createSqliteRunStore(file)).rejects.toMatchObject({ code: "SLUICE_STORE_FAILED", message: expect.stringMatching(/^run store: migration/) });
  });

  it("reports a file that is not a database as SLUICE_STORE_FAILED", async () => {
    const file = join(dir, "not-a-db");
    await writeFile(file, "this is not SQLite, just text that is long enough".repeat(20));
    await expect(createSqliteRunStore(file)).rejects.toMatchObject({ code: "SLUICE_STORE_FAILED" });
  });

  it("lets two processes open and migrate the same new database at the same moment", async () => {
    const files = Array.from({ length: 12 }, (_, i) => join(dir, `shared-${i}`, "runs.db"));
    const openers = [startOpener(files, "from-1"), startOpener(files, "from-2")];
    await Promise.all(openers.map((o) => o.ready));
    expect(files.some((f) => existsSync(f))).toBe(false);
    for (const o of openers) o.go();
    expect(await Promise.all(openers.map((o) => o.done))).toEqual(["ok", "ok"]);

    for (const file of files) {
      const store = await createSqliteRunStore(file);
      try {
        expect((await store.listRuns()).map((r) => r.id).sort()).toEqual(["from-1", "from-2"]);
      } finally {
        await store.close();
      }
    }
  });
});
