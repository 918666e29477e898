/**
 * The fire-ledger contract: SQLite and PostgreSQL must both pass it. `makeTarget` gives a fresh,
 * empty database per test; `open` may be called several times (several processes' connections).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NewFire, ScheduleLedger } from "../../../src/store/run-store/index.ts";

/** A ledger opened on a target's database, and how to close what it opened. */
export interface OpenedLedger {
  fires: ScheduleLedger;
  close(): Promise<void>;
}

/** One empty database the contract runs against. */
export interface LedgerTarget {
  open(): Promise<OpenedLedger>;
  dispose(): Promise<void>;
}

const T0 = Date.UTC(2026, 2, 29, 1, 0, 0);
const HOUR = 3_600_000;

/** A fire with sensible values; `over` replaces fields. */
export function aFire(over: Partial<NewFire> = {}): NewFire {
  return { pipeline: "iris", scheduleId: "nightly", fireTime: T0, status: "launching", reason: "cron", instants: 1, claimedAt: T0 + 5, ...over };
}

/** Runs the ledger contract against `makeTarget`'s databases. */
export function scheduleLedgerContract(name: string, makeTarget: () => Promise<LedgerTarget>): void {
  describe(`schedule ledger contract (${name})`, () => {
    let target: LedgerTarget;
    const opened: OpenedLedger[] = [];
    const open = async (): Promise<ScheduleLedger> => {
      const o = await target.open();
      opened.push(o);
      return o.fires;
    };

    beforeEach(async () => {
      target = await makeTarget();
    });
    afterEach(async () => {
      for (const o of opened.splice(0)) await o.close();
      await target.dispose();
    });

    it("claims a (pipeline, schedule, instant) once: a second claim of it changes nothing", async () => {
      const fires = await open();
      expect(await fires.claim(aFire())).toBe(true);
      expect(await fires.claim(aFire({ status: "skipped", claimedAt: T0 + 99 }))).toBe(false);
      expect(await fires.claim(aFire({ fireTime: T0 + HOUR }))).toBe(true);
      expect(await fires.claim(aFire({ scheduleId: "hourly" }))).toBe(true);
      expect(await fires.claim(aFire({ pipeline: "wine" }))).toBe(true);
      const rows = await fires.list({ pipeline: "iris", scheduleId: "nightly" });
      expect(rows).toEqual([
        { ...aFire({ fireTime: T0 + HOUR }), runId: null, note: null, updatedAt: T0 + 5 },
        { ...aFire(), runId: null, note: null, updatedAt: T0 + 5 },
      ]);
    });

    it("lets exactly one of many racing connections claim an instant", async () => {
      const ledgers = [await open(), await open(), await open()];
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => ledgers[i % 3]!.claim(aFire({ claimedAt: T0 + i }))));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await ledgers[0]!.list()).toHaveLength(1);
    });

    it("keeps fires across close and reopen", async () => {
      const first = await target.open();
      await first.fires.claim(aFire());
      await first.close();
      const fires = await open();
      expect(await fires.claim(aFire())).toBe(false);
      expect((await fires.latest())[0]).toMatchObject({ fireTime: T0, status: "launching" });
    });

    it("updates status, run id and note; with `from` only out of those statuses, so a hand-over happens once", async () => {
      const fires = await open();
      const key = { pipeline: "iris", scheduleId: "nightly", fireTime: T0 };
      await fires.claim(aFire({ status: "queued" }));
      const handOver = await Promise.all([1, 2, 3].map(() => fires.update(key, { status: "launching", at: T0 + 10 }, ["queued"])));
      expect(handOver.filter(Boolean)).toHaveLength(1);
      expect(await fires.update(key, { status: "launched", runId: "r1", at: T0 + 20 })).toBe(true);
      expect(await fires.update(key, { status: "finished", note: "done", at: T0 + 30 })).toBe(true);
      expect(await fires.update({ ...key, fireTime: T0 + 1 }, { status: "finished", at: T0 + 30 })).toBe(false);
      expect((await fires.list())[0]).toEqual({ ...aFire({ status: "finished" }), runId: "r1", note: "done", updatedAt: T0 + 30 });
    });

    it("gives the newest fire of each schedule, and lists by status newest first", async () => {
      const fires = await open();
      for (let h = 0; h < 4; h++) await fires.claim(aFire({ fireTime: T0 + h * HOUR, status: h % 2 === 0 ? "queued" : "skipped" }));
      await fires.claim(aFire({ scheduleId: "weekly", fireTime: T0 - 7 * 24 * HOUR }));
      await fires.claim(aFire({ pipeline: "breast-cancer", fireTime: T0 + 9 * HOUR }));
      const latest = await fires.latest();
      expect(latest.map((f) => [f.pipeline, f.scheduleId, f.fireTime])).toEqual([
        ["breast-cancer", "nightly", T0 + 9 * HOUR],
        ["iris", "nightly", T0 + 3 * HOUR],
        ["iris", "weekly", T0 - 7 * 24 * HOUR],
      ]);
      expect((await fires.latest("iris")).map((f) => f.scheduleId)).toEqual(["nightly", "weekly"]);
      expect((await fires.list({ status: "queued" })).map((f) => f.fireTime)).toEqual([T0 + 2 * HOUR, T0]);
      expect(await fires.list({ limit: 2 })).toHaveLength(2);
    });
  });
}
