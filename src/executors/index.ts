export { InlineExecutor } from "./inline-executor.ts";
export { ThreadExecutor, type ThreadExecutorOptions } from "./thread-executor.ts";
export { runStepBody, type StepBodyTask } from "./step-io.ts";
export { ProcessExecutor } from "./process-executor.ts";
