import { describe, expect, it } from "vitest";
import { definePipeline, Type } from "sluice";
import { nextFires } from "../../../src/triggers/index.ts";
import { thrown } from "../../helpers/errors.ts";

const base = { timezone: "UTC", overlap: "skip", misfire: "run-once" } as const;

describe("definePipeline schedules", () => {
  it("fills the id from cron and zone, copies params, and keeps a given id", () => {
    const p = definePipeline({
      name: "nightly",
      params: Type.Object({ seed: Type.Integer({ default: 1 }) }),
      schedules: [{ ...base, cron: "0 2 * * *" }, { ...base, id: "weekly", cron: "0 3 * * 0", timezone: "Europe/Berlin", params: { seed: 7 }, overlap: "queue", misfire: "skip" }],
      build() {},
    });
    expect(p.schedules).toEqual([
      { id: "0 2 * * *@UTC", cron: "0 2 * * *", timezone: "UTC", params: {}, overlap: "skip", misfire: "run-once" },
      { id: "weekly", cron: "0 3 * * 0", timezone: "Europe/Berlin", params: { seed: 7 }, overlap: "queue", misfire: "skip" },
    ]);
    expect(Object.isFrozen(p.schedules[1])).toBe(true);
  });

  it("rejects a bad cron expression naming pipeline › schedules[i] › cron and the fix", () => {
    const err = thrown(() => definePipeline({ name: "bad", schedules: [{ ...base, cron: "0 2 * * *" }, { ...base, cron: "61 2 * * *" }], build() {} }));
    expect(err.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(err.message).toBe('pipeline "bad" › schedules[1] › cron: "61 2 * * *" is not a valid cron expression (Constraint error, got value 61 expected range 0-59). Write five fields "minute hour day-of-month month day-of-week", e.g. "0 2 * * *".');
    expect(err.details).toMatchObject({ pipeline: "bad", field: "schedules[1].cron" });
  });

  it("rejects an unknown IANA time zone naming the field and examples of valid ones", () => {
    const err = thrown(() => definePipeline({ name: "tz", schedules: [{ ...base, cron: "0 2 * * *", timezone: "Europe/Berln" }], build() {} }));
    expect(err.message).toBe('pipeline "tz" › schedules[0] › timezone: "Europe/Berln" is not an IANA time zone. Use a name such as "UTC", "Europe/Berlin" or "America/New_York".');
    expect(err.details).toMatchObject({ field: "schedules[0].timezone" });
  });

  it("reports every problem of every schedule in one error: policies, params, unknown options, duplicate ids", () => {
    const err = thrown(() =>
      definePipeline({
        name: "many",
        params: Type.Object({ seed: Type.Integer({ default: 1 }) }),
        schedules: [
          { ...base, id: "a", cron: "0 2 * * *", overlap: "parallel" as never, misfire: "catch-up" as never },
          { ...base, id: "b", cron: "0 2 * * *", params: { seed: "x", sed: 1 } },
          { ...base, id: "a", cron: "0 3 * * *", every: "day" } as never,
        ],
        build() {},
      }),
    );
    expect(err.details.fields).toEqual(["schedules[0].overlap", "schedules[0].misfire", "schedules[1].params.sed", "schedules[1].params.seed", "schedules[2].every", "schedules[2].id"]);
    expect(err.message).toContain('pipeline "many" › schedules[0] › overlap: "parallel" is not an overlap policy. Use "skip"');
    expect(err.message).toContain('pipeline "many" › schedules[1] › params › sed: is not a known param.');
    expect(err.message).toContain('pipeline "many" › schedules[2] › id: "a" is also the id of schedules[0]. Give each schedule its own id.');
  });

  it("rejects schedules that are not an array of objects", () => {
    expect(thrown(() => definePipeline({ name: "x", schedules: "0 2 * * *" as never, build() {} })).details).toMatchObject({ field: "schedules" });
    expect(thrown(() => definePipeline({ name: "x", schedules: [null] as never, build() {} })).details).toMatchObject({ field: "schedules[0]" });
  });
});

describe("nextFires", () => {
  it("gives the next n instants strictly after `from`, read in the schedule's zone", () => {
    const from = Date.parse("2026-03-28T01:30:00Z"); // exactly a fire of this schedule
    expect(nextFires({ cron: "30 2 * * *", timezone: "Europe/Berlin" }, from, 3).map((t) => new Date(t).toISOString())).toEqual(["2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z", "2026-03-31T00:30:00.000Z"]);
    expect(nextFires({ cron: "0 2 * * *", timezone: "UTC" }, from, 0)).toEqual([]);
  });
});
