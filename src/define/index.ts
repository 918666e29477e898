export * from "./ports.ts";
export * from "./define-step.ts";
export * from "./define-pipeline.ts";
export { callerModuleUrl } from "./caller.ts";
export { validateParams, type ParamIssue } from "./params.ts";
export * from "./define-command-step.ts";
export { checkSchedules, cronExpression, isTimeZone, type MisfirePolicy, type OverlapPolicy, type Schedule, type ScheduleProblem, type ScheduleSpec } from "./schedules.ts";
