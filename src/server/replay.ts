/**
 * The events of a run no longer in memory, rebuilt from the run store: `run.started`, its log
 * lines and step outcomes in time order, then `run.finished`. The same records always give the
 * same list, so event ids (positions) stay valid for `Last-Event-ID`.
 */
import type { RunEvent } from "../scheduler/index.ts";
import type { RunRecord, RunStore, StepRunRecord } from "../store/run-store/index.ts";

function stepEvent(s: StepRunRecord): RunEvent | undefined {
  const base = { runId: s.runId, ts: s.finishedAt ?? s.startedAt ?? 0, stepId: s.stepId };
  switch (s.status) {
    case "cached":
      return { ...base, type: "step.cached", key: s.cacheKey ?? "", outputs: s.outputs as never, inputs: s.inputs as never, source: "cache" };
    case "succeeded":
      return { ...base, type: "step.succeeded", key: s.cacheKey ?? "", outputs: s.outputs as never, durationMs: s.durationMs ?? 0, attempt: s.attempts };
    case "failed":
      return { ...base, type: "step.failed", key: s.cacheKey, error: s.error ?? { code: "SLUICE_STEP_FAILED", message: "failed" }, durationMs: s.durationMs ?? 0, attempt: s.attempts };
    case "skipped":
      return { ...base, type: "step.skipped", reason: s.reason ?? "skipped" };
    case "cancelled":
    case "interrupted":
      return { ...base, type: "step.cancelled", reason: s.reason ?? s.status };
    default:
      return undefined; // not finished: nothing to replay for it
  }
}

/** The run's events as far as the store knows them; `run.finished` only when the run finished. */
export async function replayEvents(store: RunStore, run: RunRecord): Promise<RunEvent[]> {
  const [steps, logs] = await Promise.all([store.listStepRuns(run.id), store.listLogs(run.id)]);
  const body: RunEvent[] = [
    ...logs.map((l): RunEvent => ({ type: "log", runId: run.id, ts: l.ts, stepId: l.stepId, level: l.level, msg: l.msg, ...(l.data === null ? {} : { data: l.data as Record<string, unknown> }) })),
    ...steps.map(stepEvent).filter((e): e is RunEvent => e !== undefined),
  ];
  // Stable: equal times keep logs before step outcomes, each in store order.
  body.sort((a, b) => a.ts - b.ts);
  const out: RunEvent[] = [{ type: "run.started", runId: run.id, ts: run.startedAt, pipeline: run.pipeline, params: (run.params ?? {}) as Record<string, unknown>, steps: steps.map((s) => s.stepId), trigger: run.trigger, actor: run.actor }, ...body];
  if (run.finishedAt !== null) {
    out.push({ type: "run.finished", runId: run.id, ts: run.finishedAt, status: run.status as "succeeded", durationMs: run.finishedAt - run.startedAt, error: run.error });
  }
  return out;
}
