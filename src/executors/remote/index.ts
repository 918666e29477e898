export { RemoteExecutor, type RemoteExecutorOptions } from "./remote-executor.ts";
export { RemoteWorker, type QuickSteps, type RemoteWorkerOptions } from "./remote-worker.ts";
export { connectionFrom, cancelChannel, type RemoteJobData, type RemoteJobResult, type RemoteProgress } from "./protocol.ts";
