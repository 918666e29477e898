/**
 * The schedule fire ledger on a real PostgreSQL (127.0.0.1:5432, trust auth): the same contract
 * as SQLite, and two cron schedulers (separate connection pools, as two `sluice serve` processes)
 * sharing one database under a fake clock. Each target gets a fresh schema, dropped afterwards.
 * Never skipped: fails if the server is down.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { checkSchedules } from "../../src/define/index.ts";
import { silentLogger } from "../../src/log.ts";
import { createPostgresStores } from "../../src/store/run-store/index.ts";
import { CronScheduler, type LaunchRequest, type LaunchedRun } from "../../src/triggers/index.ts";
import { scheduleLedgerContract } from "../unit/triggers/schedule-ledger-contract.ts";
import { FakeTime } from "../unit/triggers/fake-time.ts";

const URL = "postgres://postgres@127.0.0.1:5432/test";
const admin = new pg.Pool({ connectionString: URL, max: 2 });

afterAll(async () => {
  await admin.end();
});

let counter = 0;
const freshSchema = (): string => {
  counter += 1;
  return `sched_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 10)}`;
};

scheduleLedgerContract("PostgreSQL", async () => {
  const schema = freshSchema();
  return {
    open: async () => {
      const stores = await createPostgresStores(URL, { schema });
      return { fires: stores.fires, close: () => stores.close() };
    },
    dispose: async () => {
      await admin.query(`drop schema if exists "${schema}" cascade`);
    },
  };
});

describe("cron schedulers on one PostgreSQL database", () => {
  it("launch each instant once between two processes, and a restarted one catches up missed fires with one run", async () => {
    const schema = freshSchema();
    const a = await createPostgresStores(URL, { schema });
    const b = await createPostgresStores(URL, { schema });
    const launched: LaunchRequest[] = [];
    const launch = async (req: LaunchRequest): Promise<LaunchedRun> => {
      launched.push(req);
      return { runId: `run-${launched.length}`, done: Promise.resolve() };
    };
    const { schedules } = checkSchedules("p", [{ id: "q", cron: "*/15 * * * *", timezone: "America/New_York", overlap: "skip", misfire: "run-once" }], undefined);
    const time = new FakeTime(Date.parse("2026-11-01T04:50:00Z"));
    const make = (fires: typeof a.fires) => new CronScheduler({ schedules: [{ pipeline: "p", schedule: schedules[0]! }], ledger: fires, launch, log: silentLogger(), clock: time.clock, timers: time.timers });
    const first = make(a.fires);
    const second = make(b.fires);
    try {
      await first.start();
      await second.start();
      await time.advanceTo(Date.parse("2026-11-01T06:20:00Z")); // through the repeated 01:00–02:00 hour
      const iso = launched.map((r) => new Date(r.fireTime).toISOString());
      expect(iso).toEqual(["2026-11-01T05:00:00.000Z", "2026-11-01T05:15:00.000Z", "2026-11-01T05:30:00.000Z", "2026-11-01T05:45:00.000Z", "2026-11-01T06:00:00.000Z", "2026-11-01T06:15:00.000Z"]);
      await first.stop();
      await second.stop();

      time.jumpTo(Date.parse("2026-11-01T08:05:00Z"));
      const restarted = make(b.fires);
      await restarted.start();
      await restarted.stop();
      expect(launched.slice(6).map((r) => new Date(r.fireTime).toISOString())).toEqual(["2026-11-01T08:00:00.000Z"]);
      expect((await a.fires.list({ limit: 1 }))[0]).toMatchObject({ reason: "misfire", instants: 7, status: "finished" });
    } finally {
      await a.close();
      await b.close();
      await admin.query(`drop schema if exists "${schema}" cascade`);
    }
  });
});
