import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteStores } from "../../../src/store/run-store/index.ts";
import { scheduleLedgerContract } from "./schedule-ledger-contract.ts";

scheduleLedgerContract("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-ledger-"));
  return {
    open: async () => {
      const stores = await createSqliteStores(join(dir, "runs.db"));
      return { fires: stores.fires, close: () => stores.close() };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});
