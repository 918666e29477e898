/**
 * The run store and model registry on a real PostgreSQL (CI starts one on 127.0.0.1:5432 with
 * trust auth). Every target gets a fresh schema, dropped afterwards. If the server is down these
 * tests fail: they are never skipped.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresRunStore, createPostgresStores } from "../../src/store/run-store/index.ts";
import { aModel, modelRegistryContract } from "../unit/store/model-registry-contract.ts";
import { aRun, runStoreContract } from "../unit/store/run-store-contract.ts";

const URL = "postgres://postgres@127.0.0.1:5432/test";

/** One admin pool for dropping the schemas the targets make. */
let admin: pg.Pool | undefined;

function adminPool(): pg.Pool {
  admin ??= new pg.Pool({ connectionString: URL, max: 2 });
  return admin;
}

afterAll(async () => {
  await admin?.end();
});

let counter = 0;

/** A schema name no other target, test file or concurrent CI job uses. */
function freshSchema(): string {
  counter += 1;
  return `t_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 10)}`;
}

async function dropSchema(schema: string): Promise<void> {
  await adminPool().query(`drop schema if exists "${schema}" cascade`);
}

runStoreContract("postgres", async () => {
  const schema = freshSchema();
  return {
    open: () => createPostgresRunStore(URL, { schema }),
    dispose: () => dropSchema(schema),
  };
});

modelRegistryContract("postgres", async () => {
  const schema = freshSchema();
  return {
    open: async () => {
      const stores = await createPostgresStores(URL, { schema });
      return { models: stores.models, close: () => stores.close() };
    },
    dispose: () => dropSchema(schema),
  };
});

describe("PostgreSQL run store", () => {
  it("keeps each schema's records apart in one database", async () => {
    const [first, second] = [freshSchema(), freshSchema()];
    const a = await createPostgresStores(URL, { schema: first });
    try {
      const b = await createPostgresStores(URL, { schema: second });
      try {
        await a.runs.createRun(aRun({ id: "only-in-first" }));
        await b.models.register(aModel({ name: "only-in-second" }));
        expect(await b.runs.getRun("only-in-first")).toBeUndefined();
        expect(await a.models.list()).toEqual([]);
        expect((await a.runs.getRun("only-in-first"))?.startedAt).toBe(aRun().startedAt);
        expect((await b.models.get("only-in-second"))?.version).toBe(1);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
      await dropSchema(first);
      await dropSchema(second);
    }
  });

  it("creates the schema it is given and its tables inside it", async () => {
    const schema = freshSchema();
    const stores = await createPostgresStores(URL, { schema });
    try {
      const { rows } = await adminPool().query<{ table_name: string }>(
        "select table_name from information_schema.tables where table_schema = $1 order by table_name",
        [schema],
      );
      expect(rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(["deployments", "endpoints", "logs", "metrics", "model_names", "models", "runs", "sluice_run_store_migration", "step_runs"]),
      );
    } finally {
      await stores.close();
      await dropSchema(schema);
    }
  });

  it("fails to connect to a wrong port with SLUICE_STORE_FAILED, naming the URL without its password", async () => {
    const secret = "s3cret-pw";
    const err: unknown = await createPostgresStores(`postgres://postgres:${secret}@127.0.0.1:1/test`, { schema: freshSchema() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "SLUICE_STORE_FAILED" });
    const { message, details } = err as { message: string; details: unknown };
    expect(message).toContain("postgres://postgres:***@127.0.0.1:1/test");
    expect(message).toMatch(/Check that the server is running/);
    expect(message).not.toContain(secret);
    expect(JSON.stringify(details)).not.toContain(secret);
  });

  it("rejects a schema name that would need quoting, before connecting", async () => {
    await expect(createPostgresRunStore("postgres://postgres@127.0.0.1:1/test", { schema: 'bad"; drop' })).rejects.toMatchObject({
      code: "SLUICE_STORE_FAILED",
      details: { field: "schema" },
    });
  });
});
