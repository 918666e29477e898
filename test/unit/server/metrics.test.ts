import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createRunMetrics } from "../../../src/server/metrics.ts";
import type { RunEvent } from "../../../src/scheduler/index.ts";

const base = { runId: "r1", ts: 0 };

describe("run metrics", () => {
  it("counts runs and steps by status, step durations, the cache hit ratio and the queue depth from run events", async () => {
    const registry = new Registry();
    const observe = createRunMetrics(registry);
    const value = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      return (m?.values as Array<{ value: number; labels: Record<string, string> }> | undefined)?.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
    };
    const events: RunEvent[] = [
      { ...base, type: "run.started", pipeline: "p", params: {}, steps: ["a", "b", "c"], trigger: "http", actor: "ci" },
      { ...base, type: "step.cached", stepId: "a", key: "k", outputs: {}, inputs: {}, source: "cache" },
      { ...base, type: "step.queued", stepId: "b", key: "k", executor: "inline", reason: "new" },
      { ...base, type: "step.queued", stepId: "c", key: "k", executor: "inline", reason: "new" },
      { ...base, type: "step.started", stepId: "b", key: "k", executor: "inline", attempt: 1, worker: null, inputs: {} },
    ];
    events.forEach(observe);
    expect(await value("sluice_queue_depth", { state: "waiting" })).toBe(1);
    expect(await value("sluice_queue_depth", { state: "running" })).toBe(1);
    expect(await value("sluice_runs_running")).toBe(1);
    observe({ ...base, type: "step.succeeded", stepId: "b", key: "k", outputs: {}, durationMs: 250, attempt: 1 });
    observe({ ...base, type: "step.failed", stepId: "c", key: "k", error: { code: "SLUICE_STEP_FAILED", message: "x" }, durationMs: 10, attempt: 1 });
    observe({ ...base, type: "run.finished", status: "failed", durationMs: 300, error: null });
    expect(await value("sluice_runs_total", { status: "failed" })).toBe(1);
    expect(await value("sluice_steps_total", { status: "cached" })).toBe(1);
    expect(await value("sluice_steps_total", { status: "succeeded" })).toBe(1);
    expect(await value("sluice_cache_hit_ratio")).toBeCloseTo(1 / 3);
    expect(await value("sluice_queue_depth", { state: "waiting" })).toBe(0);
    expect(await value("sluice_runs_running")).toBe(0);
    expect(await registry.metrics()).toMatch(/sluice_step_duration_seconds_sum\{status="succeeded"\} 0\.25/);
  });
});
