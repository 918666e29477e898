/**
 * Cron schedules declared on a pipeline: their shape, the checks `definePipeline` runs on them,
 * and the (cached) cron-parser expression for each `(cron, timezone)`. Pure: no I/O, no clock.
 */
import type { TObject } from "@sinclair/typebox";
import { createRequire } from "node:module";
import type { CronExpression, CronExpressionParser as Parser } from "cron-parser";
import { validateParams } from "./params.ts";

/** What happens to a fire whose previous run of the same schedule is still going. */
export type OverlapPolicy = "skip" | "queue";

/** What happens to fires missed while no scheduler was running (or the process was asleep). */
export type MisfirePolicy = "skip" | "run-once";

/** A cron schedule as declared in `definePipeline({ schedules: [...] })` (run by `sluice serve`). */
export interface ScheduleSpec {
  /**
   * Names the schedule in `sluice schedules`, the API and the fire ledger. Keep it when you edit
   * `cron` so the ledger's fire history (and misfire catch-up) carries over.
   * @default `<cron>@<timezone>`
   */
  readonly id?: string;
  /**
   * Five fields `minute hour day-of-month month day-of-week` (or six with seconds first), as
   * cron-parser reads them.
   * @example "0 2 * * *"
   */
  readonly cron: string;
  /**
   * IANA time zone the cron fields are read in.
   * @example "Europe/Berlin"
   */
  readonly timezone: string;
  /** Pipeline params of the runs this schedule starts (checked against the pipeline's schema). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** `skip`: no run while the previous one is going (the fire is recorded as skipped); `queue`: run it after the previous one. */
  readonly overlap: OverlapPolicy;
  /** `skip`: fires missed while down do not run; `run-once`: one run stands for all of them. */
  readonly misfire: MisfirePolicy;
}

/** A checked schedule: id filled in, params a copy. */
export interface Schedule {
  readonly id: string;
  readonly cron: string;
  readonly timezone: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly overlap: OverlapPolicy;
  readonly misfire: MisfirePolicy;
}

/** One schedule problem: the field (`schedules[1].cron`) and a message with the fix. */
export interface ScheduleProblem {
  readonly field: string;
  readonly message: string;
}

const OVERLAPS: readonly OverlapPolicy[] = ["skip", "queue"];
const MISFIRES: readonly MisfirePolicy[] = ["skip", "run-once"];
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const KNOWN_FIELDS = new Set(["id", "cron", "timezone", "params", "overlap", "misfire"]);

/** True when `tz` is an IANA time zone this Node knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Parsed expressions by `timezone\u0000cron`: parsing costs ≈ 0.2 ms, and schedules are read on every tick. */
let parser: typeof Parser | undefined;

/** cron-parser, loaded on first use (its CommonJS build): pipelines without schedules never pay for it. */
function cronParser(): typeof Parser {
  return (parser ??= (createRequire(import.meta.url)("cron-parser") as { CronExpressionParser: typeof Parser }).CronExpressionParser);
}

const parsed = new Map<string, CronExpression>();

/**
 * The cron-parser expression for `cron` read in `timezone`, parsed once and cached. It is an
 * iterator: callers `reset(date)` it and take `next()` synchronously, never across an `await`.
 * Throws cron-parser's error for a malformed expression.
 */
export function cronExpression(cron: string, timezone: string): CronExpression {
  const key = `${timezone}\u0000${cron}`;
  let expr = parsed.get(key);
  if (expr === undefined) {
    expr = cronParser().parse(cron, { tz: timezone, currentDate: 0 });
    parsed.set(key, expr);
  }
  return expr;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks every schedule of pipeline `pipeline` (params against `paramsSchema`) and returns the
 * checked schedules and every problem found, each naming `schedules[i].field` and the fix.
 */
export function checkSchedules(pipeline: string, specs: unknown, paramsSchema: TObject | undefined): { schedules: Schedule[]; problems: ScheduleProblem[] } {
  const problems: ScheduleProblem[] = [];
  if (specs === undefined) return { schedules: [], problems };
  if (!Array.isArray(specs)) {
    return { schedules: [], problems: [{ field: "schedules", message: `pipeline "${pipeline}" › schedules: expected an array of { cron, timezone, overlap, misfire }. Write schedules: [{ cron: "0 2 * * *", timezone: "UTC", overlap: "skip", misfire: "run-once" }]` }] };
  }
  const schedules: Schedule[] = [];
  const ids = new Map<string, number>();
  specs.forEach((raw: unknown, i) => {
    const at = (field: string): string => `pipeline "${pipeline}" › schedules[${i}] › ${field}`;
    const add = (field: string, message: string): void => void problems.push({ field: `schedules[${i}].${field}`, message: `${at(field.replaceAll(".", " › "))}: ${message}` });
    if (!isPlainObject(raw)) {
      problems.push({ field: `schedules[${i}]`, message: `pipeline "${pipeline}" › schedules[${i}]: expected an object { cron, timezone, overlap, misfire }. Write { cron: "0 2 * * *", timezone: "UTC", overlap: "skip", misfire: "run-once" }` });
      return;
    }
    for (const key of Object.keys(raw)) if (!KNOWN_FIELDS.has(key)) add(key, `is not a schedule option. Use ${[...KNOWN_FIELDS].join(", ")}`);
    const { cron, timezone, overlap, misfire, params } = raw;
    let ok = true;
    if (typeof timezone !== "string" || !isTimeZone(timezone)) {
      add("timezone", `${JSON.stringify(timezone)} is not an IANA time zone. Use a name such as "UTC", "Europe/Berlin" or "America/New_York"`);
      ok = false;
    }
    if (typeof cron !== "string" || cron.trim() === "") {
      add("cron", `${JSON.stringify(cron)} is not a cron expression. Write five fields "minute hour day-of-month month day-of-week", e.g. "0 2 * * *"`);
      ok = false;
    } else {
      try {
        // With a bad zone, parse in UTC so that a bad expression is still reported.
        cronExpression(cron, ok ? (timezone as string) : "UTC");
      } catch (err) {
        add("cron", `"${cron}" is not a valid cron expression (${err instanceof Error ? err.message : String(err)}). Write five fields "minute hour day-of-month month day-of-week", e.g. "0 2 * * *"`);
        ok = false;
      }
    }
    if (!OVERLAPS.includes(overlap as OverlapPolicy)) {
      add("overlap", `${JSON.stringify(overlap)} is not an overlap policy. Use "skip" (no run while the previous one is going) or "queue" (run it afterwards)`);
      ok = false;
    }
    if (!MISFIRES.includes(misfire as MisfirePolicy)) {
      add("misfire", `${JSON.stringify(misfire)} is not a misfire policy. Use "skip" (missed fires do not run) or "run-once" (one run for all missed fires)`);
      ok = false;
    }
    if (params !== undefined && !isPlainObject(params)) {
      add("params", "expected an object of pipeline params. Write params: { name: value }");
      ok = false;
    } else if (params !== undefined && paramsSchema !== undefined && paramsSchema.type === "object") {
      const v = validateParams(paramsSchema, params);
      if (!v.ok) {
        for (const issue of v.issues) add(`params.${issue.path}`, `${issue.message}. Fix the schedule's params to match the pipeline's params schema`);
        ok = false;
      }
    }
    const id = raw.id === undefined ? `${String(cron)}@${String(timezone)}` : raw.id;
    if (typeof id !== "string" || (raw.id !== undefined && !ID_RE.test(id))) {
      add("id", `${JSON.stringify(raw.id)} is not a valid id. Use letters, digits, "-", "_", "."`);
      ok = false;
    } else if (ids.has(id)) {
      add("id", `"${id}" is also the id of schedules[${ids.get(id)}]. Give each schedule its own id`);
      ok = false;
    } else {
      ids.set(id, i);
    }
    if (ok) {
      schedules.push(Object.freeze({ id: id as string, cron: cron as string, timezone: timezone as string, params: Object.freeze({ ...((params as Record<string, unknown> | undefined) ?? {}) }), overlap: overlap as OverlapPolicy, misfire: misfire as MisfirePolicy }));
    }
  });
  return { schedules, problems };
}
