import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkSchedules, type ScheduleSpec } from "../../../src/define/index.ts";
import { silentLogger } from "../../../src/log.ts";
import { createSqliteStores, type ScheduleLedger, type SqliteStores } from "../../../src/store/run-store/index.ts";
import { CronScheduler, type LaunchRequest, type LaunchedRun } from "../../../src/triggers/index.ts";
import { FakeTime } from "./fake-time.ts";

const utc = (iso: string): number => Date.parse(iso);
const iso = (t: number): string => new Date(t).toISOString();

/** A `launch` that records each request and returns a run the test finishes with `finish(i)`. */
function recordingLauncher(opts: { finishAtOnce?: boolean; failOn?: (req: LaunchRequest) => boolean } = {}) {
  const calls: Array<{ req: LaunchRequest; runId: string; finish: () => void }> = [];
  const launch = async (req: LaunchRequest): Promise<LaunchedRun> => {
    if (opts.failOn?.(req)) throw new Error("run manager refused");
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const runId = `run-${calls.length + 1}`;
    calls.push({ req, runId, finish });
    if (opts.finishAtOnce) finish();
    return { runId, done };
  };
  return { launch, calls, fireTimes: () => calls.map((c) => iso(c.req.fireTime)), finish: (i: number) => calls[i]!.finish() };
}

function schedule(spec: Partial<ScheduleSpec> & Pick<ScheduleSpec, "cron">) {
  const full = { timezone: "UTC", overlap: "skip", misfire: "skip", id: "s", ...spec } as ScheduleSpec;
  const { schedules, problems } = checkSchedules("p", [full], undefined);
  expect(problems).toEqual([]);
  return [{ pipeline: "p", schedule: schedules[0]! }];
}

let dir: string;
const opened: SqliteStores[] = [];
const running: CronScheduler[] = [];

/** A ledger on this test's SQLite file (a new connection each call, as after a restart). */
async function openLedger(): Promise<ScheduleLedger> {
  const stores = await createSqliteStores(join(dir, "runs.db"));
  opened.push(stores);
  return stores.fires;
}

async function startScheduler(time: FakeTime, spec: Parameters<typeof schedule>[0], launch: (req: LaunchRequest) => Promise<LaunchedRun>, ledger?: ScheduleLedger): Promise<CronScheduler> {
  const scheduler = new CronScheduler({ schedules: schedule(spec), ledger: ledger ?? (await openLedger()), launch, log: silentLogger(), clock: time.clock, timers: time.timers });
  running.push(scheduler);
  await scheduler.start();
  return scheduler;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-cron-"));
});

afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  for (const s of opened.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

describe("CronScheduler across DST changes (cron-parser's behaviour, exact UTC instants)", () => {
  const cases = [
    // Europe/Berlin springs forward 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist that day and fires at 03:30 CEST.
    { zone: "Europe/Berlin", change: "spring-forward", cron: "30 2 * * *", from: "2026-03-27T12:00:00Z", to: "2026-03-31T00:00:00Z", fires: ["2026-03-28T01:30:00.000Z", "2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z"] },
    // Europe/Berlin falls back 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice and fires once, at the first (CEST) one.
    { zone: "Europe/Berlin", change: "fall-back", cron: "30 2 * * *", from: "2026-10-23T12:00:00Z", to: "2026-10-27T00:00:00Z", fires: ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"] },
    // America/New_York springs forward 2026-03-08 02:00 EST → 03:00 EDT: 02:30 fires at 03:30 EDT.
    { zone: "America/New_York", change: "spring-forward", cron: "30 2 * * *", from: "2026-03-06T12:00:00Z", to: "2026-03-10T00:00:00Z", fires: ["2026-03-07T07:30:00.000Z", "2026-03-08T07:30:00.000Z", "2026-03-09T06:30:00.000Z"] },
    // America/New_York falls back 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens twice and fires once, at 01:30 EDT.
    { zone: "America/New_York", change: "fall-back", cron: "30 1 * * *", from: "2026-10-30T12:00:00Z", to: "2026-11-03T00:00:00Z", fires: ["2026-10-31T05:30:00.000Z", "2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"] },
    // Hourly through Europe/Berlin's fall-back: both 02:00 (CEST, then CET) fire, one run per real hour.
    { zone: "Europe/Berlin", change: "fall-back (hourly)", cron: "0 * * * *", from: "2026-10-24T23:30:00Z", to: "2026-10-25T03:30:00Z", fires: ["2026-10-25T00:00:00.000Z", "2026-10-25T01:00:00.000Z", "2026-10-25T02:00:00.000Z", "2026-10-25T03:00:00.000Z"] },
    // Every 30 minutes through America/New_York's fall-back: 01:00 and 01:30 fire in EDT and again in EST.
    { zone: "America/New_York", change: "fall-back (every 30 min)", cron: "*/30 * * * *", from: "2026-11-01T04:45:00Z", to: "2026-11-01T07:15:00Z", fires: ["2026-11-01T05:00:00.000Z", "2026-11-01T05:30:00.000Z", "2026-11-01T06:00:00.000Z", "2026-11-01T06:30:00.000Z", "2026-11-01T07:00:00.000Z"] },
  ];
  for (const c of cases) {
    it(`fires "${c.cron}" in ${c.zone} across the ${c.change} at the exact instants`, async () => {
      const time = new FakeTime(utc(c.from));
      const runs = recordingLauncher({ finishAtOnce: true });
      await startScheduler(time, { cron: c.cron, timezone: c.zone }, runs.launch);
      await time.advanceTo(utc(c.to));
      expect(runs.fireTimes()).toEqual(c.fires);
      expect(runs.calls.map((x) => x.req)).toEqual(c.fires.map((f) => ({ pipeline: "p", params: {}, scheduleId: "s", fireTime: utc(f) })));
    });
  }
});

describe("CronScheduler and its ledger", () => {
  it("claims each fire in the ledger before launching it", async () => {
    const time = new FakeTime(utc("2026-01-01T01:00:00Z"));
    const ledger = await openLedger();
    let seenAtLaunch: unknown;
    const launch = async (): Promise<LaunchedRun> => {
      seenAtLaunch = (await ledger.list())[0];
      return { runId: "run-1", done: new Promise(() => undefined) };
    };
    await startScheduler(time, { cron: "0 2 * * *" }, launch, ledger);
    await time.advanceTo(utc("2026-01-01T02:30:00Z"));
    expect(seenAtLaunch).toMatchObject({ fireTime: utc("2026-01-01T02:00:00Z"), status: "launching", runId: null });
    expect((await ledger.list())[0]).toMatchObject({ status: "launched", runId: "run-1", reason: "cron", instants: 1 });
  });

  it("does not fire an instant twice after a restart between fires (new scheduler, same database)", async () => {
    const time = new FakeTime(utc("2026-01-01T00:00:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true });
    const first = await startScheduler(time, { cron: "0 2 * * *" }, runs.launch);
    await time.advanceTo(utc("2026-01-01T02:00:00Z"));
    await first.stop();
    // Restarted at the very instant that just fired, then again ten minutes later.
    const second = await startScheduler(time, { cron: "0 2 * * *" }, runs.launch);
    await second.stop();
    time.jumpTo(utc("2026-01-01T02:10:00Z"));
    await startScheduler(time, { cron: "0 2 * * *" }, runs.launch);
    await time.advanceTo(utc("2026-01-03T03:00:00Z"));
    expect(runs.fireTimes()).toEqual(["2026-01-01T02:00:00.000Z", "2026-01-02T02:00:00.000Z", "2026-01-03T02:00:00.000Z"]);
  });

  it("fires each instant once when two schedulers share one database", async () => {
    const time = new FakeTime(utc("2026-01-01T00:00:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true });
    await startScheduler(time, { cron: "*/15 * * * *" }, runs.launch);
    await startScheduler(time, { cron: "*/15 * * * *" }, runs.launch);
    await time.advanceTo(utc("2026-01-01T02:00:00Z"));
    expect(runs.fireTimes()).toHaveLength(8);
    expect(new Set(runs.fireTimes()).size).toBe(8);
  });
});

describe("CronScheduler misfire policy (fires missed while no scheduler ran)", () => {
  it("run-once: several missed fires give exactly one run, for the latest missed instant, then the schedule goes on", async () => {
    const time = new FakeTime(utc("2026-01-01T00:00:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true });
    const ledger = await openLedger();
    const first = await startScheduler(time, { cron: "0 2 * * *", misfire: "run-once" }, runs.launch, ledger);
    await time.advanceTo(utc("2026-01-01T03:00:00Z"));
    await first.stop();
    time.jumpTo(utc("2026-01-04T09:00:00Z")); // down through the 2nd, 3rd and 4th at 02:00
    await startScheduler(time, { cron: "0 2 * * *", misfire: "run-once" }, runs.launch);
    expect(runs.fireTimes()).toEqual(["2026-01-01T02:00:00.000Z", "2026-01-04T02:00:00.000Z"]);
    expect((await ledger.list({ limit: 1 }))[0]).toMatchObject({ reason: "misfire", instants: 3, status: "finished" });
    await time.advanceTo(utc("2026-01-05T03:00:00Z"));
    expect(runs.fireTimes().slice(2)).toEqual(["2026-01-05T02:00:00.000Z"]);
  });

  it("skip: missed fires give no run, the skip is recorded once, and the next instant fires", async () => {
    const time = new FakeTime(utc("2026-01-01T00:00:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true });
    const ledger = await openLedger();
    const first = await startScheduler(time, { cron: "0 2 * * *", misfire: "skip" }, runs.launch, ledger);
    await time.advanceTo(utc("2026-01-01T03:00:00Z"));
    await first.stop();
    time.jumpTo(utc("2026-01-04T09:00:00Z"));
    const second = await startScheduler(time, { cron: "0 2 * * *", misfire: "skip" }, runs.launch);
    expect(runs.fireTimes()).toEqual(["2026-01-01T02:00:00.000Z"]);
    expect((await ledger.list({ limit: 1 }))[0]).toMatchObject({ fireTime: utc("2026-01-04T02:00:00Z"), status: "skipped", reason: "misfire", instants: 3 });
    expect(second.list()[0]!.nextFire).toBe(utc("2026-01-05T02:00:00Z"));
    await time.advanceTo(utc("2026-01-05T03:00:00Z"));
    expect(runs.fireTimes()).toEqual(["2026-01-01T02:00:00.000Z", "2026-01-05T02:00:00.000Z"]);
  });

  it("treats a fire handled within the grace period after start-up as on time, whatever the policy", async () => {
    const time = new FakeTime(utc("2026-01-01T00:00:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true });
    const first = await startScheduler(time, { cron: "0 * * * *", misfire: "skip" }, runs.launch);
    await time.advanceTo(utc("2026-01-01T01:00:00Z"));
    await first.stop();
    time.jumpTo(utc("2026-01-01T02:00:30Z"));
    await startScheduler(time, { cron: "0 * * * *", misfire: "skip" }, runs.launch);
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z"]);
  });
});

describe("CronScheduler overlap policy (previous run of the schedule still going)", () => {
  it("skip: does not launch while the previous run goes, records the fire as skipped, launches again once it is over", async () => {
    const time = new FakeTime(utc("2026-01-01T00:30:00Z"));
    const runs = recordingLauncher();
    const ledger = await openLedger();
    const scheduler = await startScheduler(time, { cron: "0 * * * *", overlap: "skip" }, runs.launch, ledger);
    await time.advanceTo(utc("2026-01-01T03:30:00Z"));
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z"]);
    expect((await ledger.list()).map((f) => [iso(f.fireTime), f.status])).toEqual([
      ["2026-01-01T03:00:00.000Z", "skipped"],
      ["2026-01-01T02:00:00.000Z", "skipped"],
      ["2026-01-01T01:00:00.000Z", "launched"],
    ]);
    expect((await ledger.list({ limit: 1 }))[0]!.note).toContain("previous run run-1 still going");
    runs.finish(0);
    await scheduler.settled();
    expect((await ledger.list({ status: "finished" })).map((f) => f.runId)).toEqual(["run-1"]);
    await time.advanceTo(utc("2026-01-01T04:30:00Z"));
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z", "2026-01-01T04:00:00.000Z"]);
  });

  it("queue: launches each fire after the previous run finishes, in order, none lost", async () => {
    const time = new FakeTime(utc("2026-01-01T00:30:00Z"));
    const runs = recordingLauncher();
    const ledger = await openLedger();
    const scheduler = await startScheduler(time, { cron: "0 * * * *", overlap: "queue" }, runs.launch, ledger);
    await time.advanceTo(utc("2026-01-01T03:30:00Z"));
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z"]);
    expect(scheduler.list()[0]).toMatchObject({ running: "run-1", queued: [utc("2026-01-01T02:00:00Z"), utc("2026-01-01T03:00:00Z")] });
    expect((await ledger.list({ status: "queued" })).map((f) => iso(f.fireTime))).toEqual(["2026-01-01T03:00:00.000Z", "2026-01-01T02:00:00.000Z"]);
    runs.finish(0);
    await scheduler.settled();
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z"]);
    runs.finish(1);
    await scheduler.settled();
    runs.finish(2);
    await scheduler.settled();
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z", "2026-01-01T03:00:00.000Z"]);
    expect(await ledger.list({ status: "queued" })).toEqual([]);
    expect(scheduler.list()[0]).toMatchObject({ running: null, queued: [] });
  });

  it("queue: fires still queued when the scheduler stops are launched by the next one", async () => {
    const time = new FakeTime(utc("2026-01-01T00:30:00Z"));
    const runs = recordingLauncher();
    const first = await startScheduler(time, { cron: "0 * * * *", overlap: "queue" }, runs.launch);
    await time.advanceTo(utc("2026-01-01T02:30:00Z"));
    await first.stop();
    const second = await startScheduler(time, { cron: "0 * * * *", overlap: "queue" }, runs.launch);
    expect(runs.fireTimes()).toEqual(["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z"]);
    expect(second.list()[0]).toMatchObject({ running: "run-2", queued: [] });
  });

  it("keeps firing after the ledger failed once (the instant it could not claim is not launched)", async () => {
    const time = new FakeTime(utc("2026-01-01T00:30:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true });
    const real = await openLedger();
    let failures = 0;
    const flaky: ScheduleLedger = {
      ...real,
      claim: async (fire) => {
        if (fire.fireTime === utc("2026-01-01T01:00:00Z")) {
          failures += 1;
          throw new Error("database unreachable");
        }
        return real.claim(fire);
      },
    };
    await startScheduler(time, { cron: "0 * * * *" }, runs.launch, flaky);
    await time.advanceTo(utc("2026-01-01T02:30:00Z"));
    expect(failures).toBe(1);
    expect(runs.fireTimes()).toEqual(["2026-01-01T02:00:00.000Z"]);
  });

  it("records a run that could not start as failed and fires the next instant", async () => {
    const time = new FakeTime(utc("2026-01-01T00:30:00Z"));
    const runs = recordingLauncher({ finishAtOnce: true, failOn: (req) => req.fireTime === utc("2026-01-01T01:00:00Z") });
    const ledger = await openLedger();
    await startScheduler(time, { cron: "0 * * * *" }, runs.launch, ledger);
    await time.advanceTo(utc("2026-01-01T02:30:00Z"));
    expect(runs.fireTimes()).toEqual(["2026-01-01T02:00:00.000Z"]);
    expect((await ledger.list()).map((f) => [f.status, f.note])).toEqual([
      ["finished", null],
      ["failed", "run manager refused"],
    ]);
  });
});
