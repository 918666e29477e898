import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStores } from "../../../src/store/run-store/index.ts";
import { serviceStoreContract } from "./service-store-contract.ts";

serviceStoreContract("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-service-store-"));
  return {
    open: async () => {
      const stores = await createSqliteStores(join(dir, "runs.db"));
      return { service: stores.service, close: () => stores.close() };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});
