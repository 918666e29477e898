export * from "./events.ts";
export * from "./executor.ts";
export * from "./coordinator.ts";
export { KeyResolver, type CacheServices, type Fingerprinter, type LookupResult } from "./key-resolver.ts";
export { RunRecorder, type RunOwner } from "./run-recorder.ts";
export { previewRun, type StepPreview } from "./preview.ts";
