/**
 * A worker thread for the run store's bulk writes (step rows, logs, metrics) and the cache
 * database's WAL checkpoints, so that large runs do neither on the coordinator's thread.
 */
export { StoreWorker, type StoreWorkerOptions } from "./store-worker.ts";
export { LazyStoreWorker, SAFETY_NET_AUTOCHECKPOINT_PAGES, type LazyStoreWorkerOptions } from "./lazy-store-worker.ts";
export type { CheckpointReport } from "./protocol.ts";
