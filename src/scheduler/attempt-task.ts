import type { AnyStep, LogLevel, ModelsClient } from "../define/index.ts";
import type { EventSink } from "./events.ts";
import type { ModelsClientFactory, ResolvedInput, StepTask } from "./executor.ts";

/** What every attempt of one run reports to: made once per run, shared by its attempts. */
export interface AttemptOwner<R> {
  readonly runId: string;
  readonly pipeline: string;
  readonly emit: EventSink;
  readonly clock: () => number;
  readonly models: ModelsClientFactory | undefined;
  /** A remote executor named the worker that took the attempt `ref` (again after a stalled worker's job moved). */
  workerChanged(ref: R, worker: string): void;
}

/**
 * The task an executor runs: one attempt of one step. A class, so its methods and the lazy
 * `models` getter live on the prototype: an object literal with them cost several closures and
 * an accessor pair per started step (about a tenth of a cold 10,000-step run's allocations).
 */
export class AttemptTask<R> implements StepTask {
  readonly #owner: AttemptOwner<R>;
  readonly #ref: R;
  readonly #codeDigest: string | null;
  #models: ModelsClient | undefined;

  constructor(
    owner: AttemptOwner<R>,
    ref: R,
    readonly stepId: string,
    readonly step: AnyStep,
    readonly attempt: number,
    readonly params: Readonly<Record<string, unknown>>,
    readonly inputs: Readonly<Record<string, ResolvedInput>>,
    readonly env: Readonly<Record<string, string | undefined>>,
    readonly signal: AbortSignal,
    codeDigest: string | null,
  ) {
    this.#owner = owner;
    this.#ref = ref;
    this.#codeDigest = codeDigest;
  }

  get runId(): string {
    return this.#owner.runId;
  }

  /** Made on first use: most steps never touch the registry. */
  get models(): ModelsClient | undefined {
    const factory = this.#owner.models;
    if (!factory) return undefined;
    return (this.#models ??= factory({ runId: this.runId, stepId: this.stepId, pipeline: this.#owner.pipeline, inputs: this.inputs, params: this.params, codeDigest: this.#codeDigest }));
  }

  onLog(level: LogLevel, msg: string, data?: Record<string, unknown>): void {
    const o = this.#owner;
    o.emit(data ? { type: "log", runId: o.runId, ts: o.clock(), stepId: this.stepId, level, msg, data } : { type: "log", runId: o.runId, ts: o.clock(), stepId: this.stepId, level, msg });
  }

  onMetric(name: string, value: number, step?: number): void {
    const o = this.#owner;
    o.emit({ type: "metric", runId: o.runId, ts: o.clock(), stepId: this.stepId, name, value, step: step ?? null });
  }

  onWorker(worker: string): void {
    this.#owner.workerChanged(this.#ref, worker);
  }
}
