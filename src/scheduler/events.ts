import type { ExecutorKind, LogLevel } from "../define/index.ts";
import type { SerializedError } from "../errors.ts";
import type { Digest } from "../util/canonical-json.ts";

/** Final state of a step instance in a run. */
export type StepOutcome = "cached" | "succeeded" | "failed" | "skipped" | "cancelled";

/** Final state of a run. */
export type RunOutcome = "succeeded" | "failed" | "cancelled";

/** Fields every event carries. */
interface Base {
  readonly runId: string;
  /** Epoch ms from the run's clock. */
  readonly ts: number;
}

/**
 * Every state change of a run is one of these. The CLI view, the run store, the HTTP stream and
 * metrics all consume the same events; the coordinator never formats output itself.
 */
export type RunEvent =
  | (Base & { readonly type: "run.started"; readonly pipeline: string; readonly params: Readonly<Record<string, unknown>>; readonly steps: readonly string[]; readonly trigger: string; readonly actor: string })
  | (Base & { readonly type: "run.finished"; readonly status: RunOutcome; readonly durationMs: number; readonly error: SerializedError | null })
  | (Base & { readonly type: "step.queued"; readonly stepId: string; readonly key: string; readonly executor: ExecutorKind; readonly reason: string; readonly mapId?: string })
  | (Base & { readonly type: "step.waiting"; readonly stepId: string; readonly key: string; readonly holder: string })
  | (Base & { readonly type: "step.started"; readonly stepId: string; readonly key: string; readonly executor: ExecutorKind; readonly attempt: number; readonly worker: string | null; readonly inputs: Readonly<Record<string, Digest>>; readonly mapId?: string })
  | (Base & { readonly type: "step.cached"; readonly stepId: string; readonly key: string; readonly outputs: Readonly<Record<string, Digest>>; readonly inputs: Readonly<Record<string, Digest>>; readonly source: "cache" | "peer"; readonly mapId?: string })
  | (Base & { readonly type: "step.succeeded"; readonly stepId: string; readonly key: string; readonly outputs: Readonly<Record<string, Digest>>; readonly durationMs: number; readonly attempt: number; readonly mapId?: string })
  | (Base & { readonly type: "step.retrying"; readonly stepId: string; readonly key: string; readonly error: SerializedError; readonly attempt: number; readonly delayMs: number; readonly mapId?: string })
  | (Base & { readonly type: "step.failed"; readonly stepId: string; readonly key: string | null; readonly error: SerializedError; readonly durationMs: number; readonly attempt: number; readonly mapId?: string })
  | (Base & { readonly type: "step.skipped"; readonly stepId: string; readonly reason: string; readonly mapId?: string })
  | (Base & { readonly type: "step.cancelled"; readonly stepId: string; readonly reason: string; readonly mapId?: string })
  | (Base & { readonly type: "map.expanded"; readonly stepId: string; readonly count: number })
  | (Base & { readonly type: "map.finished"; readonly stepId: string; readonly status: StepOutcome; readonly counts: Readonly<Record<StepOutcome, number>>; readonly outputs: Readonly<Record<string, Digest>>; readonly durationMs: number })
  | (Base & { readonly type: "log"; readonly stepId: string | null; readonly level: LogLevel; readonly msg: string; readonly data?: Readonly<Record<string, unknown>> })
  | (Base & { readonly type: "metric"; readonly stepId: string; readonly name: string; readonly value: number; readonly step: number | null });

/** The event types, for exhaustive consumers. */
export type RunEventType = RunEvent["type"];

/** Receives events. Must not throw; must not block for long. */
export type EventSink = (e: RunEvent) => void;

/** Fans one event stream out to several sinks; a throwing sink does not stop the others. */
export function fanOut(sinks: readonly EventSink[], onSinkError?: (err: unknown) => void): EventSink {
  return (e) => {
    for (const s of sinks) {
      try {
        s(e);
      } catch (err) {
        onSinkError?.(err);
      }
    }
  };
}
