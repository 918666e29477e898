/**
 * The service store (tokens, audit log, idempotency keys) on a real PostgreSQL (127.0.0.1:5432,
 * trust auth): the same contract as SQLite, each target in a fresh schema dropped afterwards.
 */
import pg from "pg";
import { afterAll } from "vitest";
import { createPostgresStores } from "../../src/store/run-store/index.ts";
import { serviceStoreContract } from "../unit/server/service-store-contract.ts";

const URL = "postgres://postgres@127.0.0.1:5432/test";
const admin = new pg.Pool({ connectionString: URL, max: 2 });
afterAll(() => admin.end());

let counter = 0;

serviceStoreContract("postgres", async () => {
  counter += 1;
  const schema = `svc_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 10)}`;
  return {
    open: async () => {
      const stores = await createPostgresStores(URL, { schema });
      return { service: stores.service, close: () => stores.close() };
    },
    dispose: async () => {
      await admin.query(`drop schema if exists "${schema}" cascade`);
    },
  };
});
