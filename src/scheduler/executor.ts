import type { AnyStep, ExecutorKind, LogLevel, ModelsClient, PortKind } from "../define/index.ts";
import type { Digest } from "../util/canonical-json.ts";

/** An input as the executor receives it: a digest, or a workspace path for source files. */
export interface ResolvedInput {
  readonly kind: PortKind;
  readonly digest: Digest;
  /** For sources: the file or folder in the workspace (read in place, never copied). */
  readonly sourcePath?: string;
}

/** What an executor returns per output port: bytes for the coordinator to store, or a digest already stored. */
export type ProducedOutput = { readonly bytes: Uint8Array } | { readonly digest: Digest };

/** One attempt of one step instance. */
export interface StepTask {
  readonly runId: string;
  readonly stepId: string;
  readonly step: AnyStep;
  readonly attempt: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, ResolvedInput>>;
  /** Values of the env vars the step declared. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal: AbortSignal;
  /** The registry client for this attempt (lineage filled in), when the run has a registry. */
  readonly models?: ModelsClient;
  onLog(level: LogLevel, msg: string, data?: Record<string, unknown>): void;
  onMetric(name: string, value: number, step?: number): void;
  /** A remote executor names the worker that took the attempt (`host:pid`), once it starts there (again after a stalled worker's job moves). */
  onWorker?(worker: string): void;
}

/** What the coordinator knows of an attempt, for the registry's lineage. */
export interface AttemptContext {
  readonly runId: string;
  readonly stepId: string;
  readonly pipeline: string;
  readonly inputs: Readonly<Record<string, ResolvedInput>>;
  readonly params: Readonly<Record<string, unknown>>;
  readonly codeDigest: string | null;
}

/** Makes the registry client of one attempt. */
export type ModelsClientFactory = (ctx: AttemptContext) => ModelsClient;

/** Where steps run. The coordinator owns all run state; an executor only runs one attempt at a time per call. */
export interface Executor {
  readonly kind: ExecutorKind;
  /** How many attempts it runs at once. */
  readonly limit: number;
  /** A label for the run record (thread id, host). */
  readonly worker: string | null;
  /** Reads the store through its own connection (a worker thread, another machine): the coordinator commits pending cache writes before starting a step here. */
  readonly isolated: boolean;
  execute(task: StepTask): Promise<Record<string, ProducedOutput>>;
  close(): Promise<void>;
}
