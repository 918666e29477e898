/**
 * Prometheus metrics of the service, fed by run events (the same stream the run store and the
 * CLI view consume), in the server's own prom-client Registry (never the global one).
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { RunEvent } from "../scheduler/index.ts";

/** Step durations buckets (seconds): from a cached no-op to a long training step. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800];

/** Where each unfinished step of each run is: for the queue-depth gauge. */
type StepState = "waiting" | "running";

/**
 * Registers the run metrics in `registry` and returns the event sink that updates them:
 * `sluice_runs_total{status}`, `sluice_runs_running`, `sluice_steps_total{status}`,
 * `sluice_step_duration_seconds{status}`, `sluice_cache_hit_ratio`, `sluice_queue_depth{state}`.
 */
export function createRunMetrics(registry: Registry): (e: RunEvent) => void {
  const runs = new Counter({ name: "sluice_runs_total", help: "Runs finished, by status.", labelNames: ["status"], registers: [registry] });
  const steps = new Counter({ name: "sluice_steps_total", help: "Step instances finished, by status (cached, succeeded, failed, skipped, cancelled).", labelNames: ["status"], registers: [registry] });
  const durations = new Histogram({ name: "sluice_step_duration_seconds", help: "Duration of step instances that ran (not cached), by status.", labelNames: ["status"], buckets: DURATION_BUCKETS, registers: [registry] });
  const states = new Map<string, Map<string, StepState>>();
  let cached = 0;
  let ran = 0;
  new Gauge({
    name: "sluice_runs_running",
    help: "Runs of this server running now.",
    registers: [registry],
    collect() {
      this.set(states.size);
    },
  });
  new Gauge({
    name: "sluice_cache_hit_ratio",
    help: "Cached step instances / (cached + ran), since the server started; 0 before any step.",
    registers: [registry],
    collect() {
      this.set(cached + ran === 0 ? 0 : cached / (cached + ran));
    },
  });
  new Gauge({
    name: "sluice_queue_depth",
    help: "Step instances of running runs: waiting (queued, or waiting for another run making the same key) and running.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const n = { waiting: 0, running: 0 };
      for (const run of states.values()) for (const s of run.values()) n[s]++;
      this.set({ state: "waiting" }, n.waiting);
      this.set({ state: "running" }, n.running);
    },
  });
  const set = (e: { runId: string; stepId: string }, s: StepState | undefined): void => {
    const run = states.get(e.runId);
    if (!run) return;
    if (s === undefined) run.delete(e.stepId);
    else run.set(e.stepId, s);
  };
  return (e) => {
    switch (e.type) {
      case "run.started":
        states.set(e.runId, new Map());
        break;
      case "run.finished":
        runs.inc({ status: e.status });
        states.delete(e.runId);
        break;
      case "step.queued":
      case "step.waiting":
      case "step.retrying":
        set(e, "waiting");
        break;
      case "step.started":
        set(e, "running");
        break;
      case "step.cached":
        cached++;
        steps.inc({ status: "cached" });
        set(e, undefined);
        break;
      case "step.succeeded":
      case "step.failed":
        ran++;
        steps.inc({ status: e.type === "step.succeeded" ? "succeeded" : "failed" });
        durations.observe({ status: e.type === "step.succeeded" ? "succeeded" : "failed" }, e.durationMs / 1000);
        set(e, undefined);
        break;
      case "step.skipped":
      case "step.cancelled":
        steps.inc({ status: e.type === "step.skipped" ? "skipped" : "cancelled" });
        set(e, undefined);
        break;
      case "map.expanded":
      case "map.finished":
      case "log":
      case "metric":
        break;
      default: {
        const never: never = e;
        void never;
      }
    }
  };
}
