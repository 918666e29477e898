/**
 * Triggers: the cron scheduler of `sluice serve` and what `sluice schedules` shows.
 */
import type { Logger } from "../log.ts";
import type { Workspace } from "../workspace/index.ts";
import { CronScheduler, type Launch, type ScheduleState } from "./cron-scheduler.ts";
import type { Timers } from "./timers.ts";

export { CronScheduler, type CronSchedulerOptions, type Launch, type LaunchedRun, type LaunchRequest, type PipelineSchedule, type ScheduleState } from "./cron-scheduler.ts";
export { dueInstants, nextFires, type CronSpec, type DueInstants } from "./next-fires.ts";
export { describeSchedules, localTime, type ScheduleInfo, type UpcomingFire } from "./schedule-info.ts";
export { realTimers, type Timers } from "./timers.ts";

/** Options of `startSchedules`. */
export interface StartSchedulesOptions {
  /** Its pipelines' schedules are run; its fire ledger (`workspace.fires`) records every fire. */
  readonly workspace: Workspace;
  readonly log: Logger;
  /** Epoch ms now. */
  readonly clock: () => number;
  /** @default real setTimeout */
  readonly timers?: Timers;
  /** Starts one run; `done` settles when it is over. */
  readonly launch: Launch;
  /** See `CronSchedulerOptions.misfireGraceMs`. @default 60_000 */
  readonly misfireGraceMs?: number;
}

/** Running schedules. */
export interface RunningSchedules {
  /** Stops firing (runs already launched go on) and waits for work in progress. */
  stop(): Promise<void>;
  /** Every schedule: next fire, running run, queued fires, last fire. */
  list(): ScheduleState[];
  /** Resolves once no schedule has work in progress (for tests with a fake clock). */
  settled(): Promise<void>;
}

/**
 * Starts the cron schedules of every pipeline in the workspace: catches up missed fires by each
 * schedule's misfire policy, then fires on time. Every fire is claimed in the workspace's fire
 * ledger before `launch` is called, so restarts and other processes never fire an instant twice.
 */
export async function startSchedules(opts: StartSchedulesOptions): Promise<RunningSchedules> {
  const pipelines = await opts.workspace.pipelines();
  const schedules = pipelines.flatMap((p) => p.pipeline.schedules.map((schedule) => ({ pipeline: p.name, schedule })));
  const scheduler = new CronScheduler({ schedules, ledger: opts.workspace.fires, launch: opts.launch, log: opts.log, clock: opts.clock, ...(opts.timers ? { timers: opts.timers } : {}), ...(opts.misfireGraceMs !== undefined ? { misfireGraceMs: opts.misfireGraceMs } : {}) });
  await scheduler.start();
  if (schedules.length > 0) opts.log.info({ schedules: schedules.length }, "cron schedules started");
  return { stop: () => scheduler.stop(), list: () => scheduler.list(), settled: () => scheduler.settled() };
}
