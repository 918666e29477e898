/**
 * Cron arithmetic on a schedule: its next instants, and the instants due in a window. Pure: the
 * current time is always passed in. Instants are epoch ms in UTC; the cron fields are read in the
 * schedule's time zone by cron-parser (its DST handling is ours: see README "Schedules").
 */
import { cronExpression, type Schedule } from "../define/index.ts";

/** What cron arithmetic needs of a schedule. */
export type CronSpec = Pick<Schedule, "cron" | "timezone">;

/** The first `n` instants of `schedule` strictly after `from` (epoch ms), earliest first. */
export function nextFires(schedule: CronSpec, from: number, n: number): number[] {
  const expr = cronExpression(schedule.cron, schedule.timezone);
  expr.reset(new Date(from));
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(expr.next().getTime());
  return out;
}

/** Instants in a window: how many (counted up to a cap) and the latest. */
export interface DueInstants {
  /** Instants in the window, at most `cap` (a minutely cron down for a year would be 525,600). */
  readonly count: number;
  /** The latest instant in the window, or undefined when there is none. */
  readonly latest: number | undefined;
}

/** The instants of `schedule` in `(after, upTo]`. */
export function dueInstants(schedule: CronSpec, after: number, upTo: number, cap = 10_000): DueInstants {
  if (upTo <= after) return { count: 0, latest: undefined };
  const expr = cronExpression(schedule.cron, schedule.timezone);
  expr.reset(new Date(after));
  let count = 0;
  let latest: number | undefined;
  while (count < cap) {
    const t = expr.next().getTime();
    if (t > upTo) return { count, latest };
    count += 1;
    latest = t;
  }
  if (count < cap) return { count, latest };
  // Capped: the latest is the one just before upTo (prev() is strictly before its start).
  expr.reset(new Date(upTo + 1));
  return { count, latest: expr.prev().getTime() };
}
