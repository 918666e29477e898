/**
 * Model endpoints: onnxruntime-node sessions per model digest, traffic split by share (weighted or
 * sticky), shadow deployments, share changes without downtime, and batch scoring jobs.
 */
export { EndpointService, type DeploymentInfo, type EndpointInfo, type EndpointServiceOptions, type ScoreResult } from "./endpoint-service.ts";
export type { TrafficChange } from "./traffic-plan.ts";
export type { BatchJob, BatchSource, BatchStatus } from "./batch-jobs.ts";
export { LATENCY_BUCKETS_S, type DeploymentStats } from "./endpoint-metrics.ts";
export type { Prediction } from "./model-io.ts";
export { stickyPoint } from "./routing.ts";
