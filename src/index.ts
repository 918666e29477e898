/**
 * sluice: pipelines of TypeScript steps, cached by the content of everything that determines
 * their outputs. This is the public API; `steps/` and `pipelines/` import only from here.
 */
export { Type, type Static, type TObject } from "@sinclair/typebox";
export {
  defineStep, definePipeline, defineCommandStep, port, isStep, isPipeline,
  type CommandStep, type CommandStepDeclaration, type RetryPolicy, type Resources, type RunPolicy, type WhenCondition, type MapHandle,
  type Step, type AnyStep, type StepContext, type StepDeclaration, type ExecutorKind, type ExecutorSpec, type CachePolicy, type LogLevel,
  type Pipeline, type AnyPipeline, type PipelineBuilder, type PipelineDeclaration, type StepHandle, type ScheduleSpec,
  type PortKind, type PortSpec, type Ports, type OutputRef, type PathOutput,
} from "./define/index.ts";
export { SluiceError, NonRetryableError, ERROR_CODES, type ErrorCode } from "./errors.ts";
export { loadConfig, type ResolvedConfig } from "./config/index.ts";
export { Workspace, type RunOptions, type PipelineInfo } from "./workspace/index.ts";
export type { RunEvent, RunSummary, StepSummary, StepPreview } from "./scheduler/index.ts";
export { canonicalJson, sha256, type Digest } from "./util/canonical-json.ts";
export {
  createTable, column, selectColumns, dropColumns, filterRows, takeRows, toFloat64Matrix, tableFromRows, tableToRows, cellValue,
  encodeTable, decodeTable, readCsv, parseCsv, writeCsv, readJsonl, parseJsonl, readParquet, parseParquet, writeParquet, COLUMN_TYPES,
  type Table, type Column, type ColumnType, type ColumnValues, type ReadCsvOptions,
} from "./artifacts/index.ts";
