/**
 * Two `sluice serve` processes behind one load balancer share a service store: a webhook retried
 * to both at once must start one run. Played with two run managers (each with its own workspace,
 * as on two machines) over one service store.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "../../../src/index.ts";
import { silentLogger } from "../../../src/log.ts";
import { RunManager } from "../../../src/server/index.ts";
import { createSqliteStores, type SqliteStores } from "../../../src/store/run-store/index.ts";
import { createTestWorkspace, type TestWorkspace } from "../../../src/testing/index.ts";
import { DEMO_FILES } from "../../fixtures/demo-workspace.ts";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function server(stores: SqliteStores): Promise<RunManager> {
  const tw: TestWorkspace = createTestWorkspace(DEMO_FILES);
  const ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
  const runs = new RunManager({ workspace: ws, service: stores.service, log: silentLogger(), clock: Date.now });
  cleanup.push(() => tw.remove(), () => ws.close(), () => runs.close());
  return runs;
}

describe("Idempotency-Key across two servers", () => {
  it("starts one run when both get the same key at once: the other waits for its run id and answers it", async () => {
    const shared = createTestWorkspace({});
    const stores = await createSqliteStores(shared.path("service.db"));
    cleanup.push(() => shared.remove(), () => stores.close());
    const [a, b] = [await server(stores), await server(stores)];
    const started = await Promise.all([a, b].map((m) => m.start("demo", {}, { trigger: "http", actor: "hook", idempotencyKey: "delivery-7" })));
    expect(started[0]!.runId).toBe(started[1]!.runId);
    expect(started.map((s) => s.reused).sort()).toEqual([false, true]);
    const winner = started.find((s) => !s.reused)!;
    expect((await winner.done).status).toBe("succeeded");
  });
});
