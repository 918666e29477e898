/**
 * What `sluice schedules` and `GET /api/v1/schedules` show: every pipeline's schedules with their
 * next fire times (UTC and the schedule's local time) and the last fire the ledger recorded.
 */
import type { AnyPipeline, Schedule } from "../define/index.ts";
import type { FireRecord, ScheduleLedger } from "../store/run-store/index.ts";
import { nextFires } from "./next-fires.ts";

/** One upcoming fire. */
export interface UpcomingFire {
  /** Epoch ms. */
  readonly at: number;
  /** ISO 8601 in UTC. */
  readonly utc: string;
  /** Wall-clock time in the schedule's zone, with the zone's abbreviation (`2026-03-29 03:30 GMT+2`). */
  readonly local: string;
}

/** A schedule with its next fires and last recorded fire. */
export interface ScheduleInfo extends Schedule {
  readonly pipeline: string;
  readonly next: readonly UpcomingFire[];
  readonly lastFire: FireRecord | null;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** `at` as `YYYY-MM-DD HH:mm:ss <zone>` in `timezone`. */
export function localTime(at: number, timezone: string): string {
  let f = formats.get(timezone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" });
    formats.set(timezone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(at)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}

/** The schedules of `pipelines` with their next `count` fires after `now` and their last fire in `ledger`. */
export async function describeSchedules(pipelines: ReadonlyArray<{ readonly name: string; readonly pipeline: AnyPipeline }>, ledger: ScheduleLedger, now: number, count: number): Promise<ScheduleInfo[]> {
  const latest = await ledger.latest();
  return pipelines.flatMap(({ name, pipeline }) =>
    pipeline.schedules.map((s) => ({
      pipeline: name,
      id: s.id,
      cron: s.cron,
      timezone: s.timezone,
      params: s.params,
      overlap: s.overlap,
      misfire: s.misfire,
      next: nextFires(s, now, count).map((at) => ({ at, utc: new Date(at).toISOString(), local: localTime(at, s.timezone) })),
      lastFire: latest.find((f) => f.pipeline === name && f.scheduleId === s.id) ?? null,
    })),
  );
}
