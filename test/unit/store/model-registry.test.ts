import Database from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../../src/errors.ts";
import {
  createKyselyModelRegistry,
  createKyselyRunStore,
  createSqliteRunStore,
  createSqliteStores,
  runStoreMigrations,
  type RunStoreSchema,
} from "../../../src/store/run-store/index.ts";
import { aModel, modelDigest, modelRegistryContract } from "./model-registry-contract.ts";
import { aRun } from "./run-store-contract.ts";

modelRegistryContract("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-model-registry-"));
  return {
    open: async () => {
      const stores = await createSqliteStores(join(dir, "state", "runs.db"));
      return { models: stores.models, close: () => stores.close() };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

/** Tables of a SQLite file, by name. */
function tablesOf(file: string): string[] {
  const raw = new Database(file, { readonly: true });
  try {
    return raw.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all() as string[];
  } finally {
    raw.close();
  }
}

describe("SQLite stores sharing one file", () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-model-registry-sqlite-"));
    file = join(dir, "runs.db");
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("adds the registry's (and every later migration's) tables to a database made by the first migration only, keeping its runs", async () => {
    // The database as a sluice without the registry left it: only 0001 applied.
    const db = new Kysely<RunStoreSchema>({ dialect: new SqliteDialect({ database: new Database(file) }) });
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => ({ "0001_initial": runStoreMigrations("sqlite")["0001_initial"]! }) },
      migrationTableName: "sluice_run_store_migration",
      migrationLockTableName: "sluice_run_store_migration_lock",
    });
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    await db
      .insertInto("runs")
      .values({ id: "old-run", pipeline: "iris", status: "succeeded", params: "{}", trigger: "cli", actor: "ada", code_digest: null, host: "h", pid: 1, started_at: 5, finished_at: 6, error: null, step_count: 0 })
      .execute();
    await db.destroy();
    expect(tablesOf(file)).not.toContain("models");

    const stores = await createSqliteStores(file);
    try {
      expect((await stores.runs.getRun("old-run"))?.id).toBe("old-run");
      expect((await stores.models.register(aModel())).version).toBe(1);
    } finally {
      await stores.close();
    }
    expect(tablesOf(file)).toEqual(expect.arrayContaining(["models", "model_names", "endpoints", "deployments", "runs", "step_run_sets"]));
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.prepare("select name from sluice_run_store_migration order by name").pluck().all()).toEqual(["0001_initial", "0002_models", "0003_service", "0004_schedules", "0005_step_run_sets"]);
    } finally {
      raw.close();
    }
  });

  it("adds the registry's tables when a plain run store opens the file", async () => {
    const runs = await createSqliteRunStore(file);
    await runs.close();
    expect(tablesOf(file)).toEqual(expect.arrayContaining(["models", "model_names", "endpoints", "deployments"]));
  });

  it("shares one connection and write lock between the run store and the registry", async () => {
    const stores = await createSqliteStores(file);
    try {
      await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => stores.runs.createRun(aRun({ id: `run-${i}` }))),
        ...Array.from({ length: 8 }, (_, i) => stores.models.register(aModel({ digest: modelDigest(i + 1) }))),
      ]);
      expect(await stores.runs.listRuns()).toHaveLength(8);
      expect((await stores.models.list()).map((m) => m.version)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    } finally {
      await stores.close();
    }
  });

  it("lets a separate run store and registry on the same file write at once without waiting on each other", async () => {
    const runs = await createSqliteRunStore(file);
    const stores = await createSqliteStores(join(dir, ".", "runs.db"));
    try {
      await Promise.all([
        ...Array.from({ length: 5 }, (_, i) => runs.createRun(aRun({ id: `a-${i}` }))),
        ...Array.from({ length: 5 }, (_, i) => stores.models.register(aModel({ digest: modelDigest(i + 1) }))),
        ...Array.from({ length: 5 }, (_, i) => stores.runs.createRun(aRun({ id: `b-${i}` }))),
      ]);
      expect(await runs.listRuns()).toHaveLength(10);
      expect(await stores.models.list()).toHaveLength(5);
    } finally {
      await runs.close();
      await stores.close();
    }
  });

  it("works as a registry over a run store's Kysely database", async () => {
    const db = new Kysely<RunStoreSchema>({ dialect: new SqliteDialect({ database: new Database(file) }) });
    const runs = await createKyselyRunStore(db);
    try {
      const models = createKyselyModelRegistry(db);
      await models.register(aModel());
      expect((await models.promote("iris", 1, 5)).stage).toBe("champion");
    } finally {
      await runs.close();
    }
  });

  it("reports a file that is not a database as SLUICE_STORE_FAILED", async () => {
    await writeFile(file, "this is not SQLite, just text that is long enough".repeat(20));
    await expect(createSqliteStores(file)).rejects.toMatchObject({ code: "SLUICE_STORE_FAILED" });
  });

  it("reports use after close as SLUICE_STORE_FAILED", async () => {
    const stores = await createSqliteStores(file);
    await stores.close();
    await expect(stores.models.list()).rejects.toMatchObject({ code: "SLUICE_STORE_FAILED", details: { op: "list" } });
  });
});

describe("SLUICE_MODEL_NOT_FOUND", () => {
  it("is in the catalogue as a usage error with HTTP 404", () => {
    expect(ERROR_CODES.SLUICE_MODEL_NOT_FOUND).toEqual({ summary: "No model of that name and version in the registry.", exit: 2, status: 404 });
  });
});
