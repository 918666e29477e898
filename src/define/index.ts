export * from "./ports.ts";
export * from "./define-step.ts";
export * from "./define-pipeline.ts";
export { callerModuleUrl } from "./caller.ts";
export { validateParams, type ParamIssue } from "./params.ts";
export * from "./define-command-step.ts";
