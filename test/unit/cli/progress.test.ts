import { describe, expect, it } from "vitest";
import { formatCount } from "../../../src/cli/format.ts";
import { ProgressView } from "../../../src/cli/progress.ts";
import type { CliIo } from "../../../src/cli/io.ts";
import type { RunEvent } from "../../../src/scheduler/index.ts";

function fakeIo(isTTY: boolean): CliIo & { text: () => string } {
  let buf = "";
  return { out: (t) => (buf += t), err: (t) => (buf += t), isTTY, columns: 80, now: () => 1_000, text: () => buf };
}

/** A run with one map of n elements, all cached but two that ran. */
function events(n: number): RunEvent[] {
  const base = { runId: "r1", ts: 0 };
  const out: RunEvent[] = [
    { ...base, type: "run.started", pipeline: "many-models", params: {}, steps: ["gen", "train", "board"], trigger: "cli", actor: "me" },
    { ...base, type: "step.succeeded", stepId: "gen", key: "k", outputs: {}, durationMs: 3, attempt: 1 },
    { ...base, type: "map.expanded", stepId: "train", count: n },
  ];
  for (let i = 0; i < n; i++) {
    const stepId = `train[${i}]`;
    if (i < 2) {
      out.push({ ...base, type: "step.started", stepId, key: "k", executor: "inline", attempt: 1, worker: null, inputs: {}, mapId: "train" });
      out.push({ ...base, type: "step.succeeded", stepId, key: "k", outputs: {}, durationMs: 1, attempt: 1, mapId: "train" });
    } else out.push({ ...base, type: "step.cached", stepId, key: "k", outputs: {}, inputs: {}, source: "cache", mapId: "train" });
  }
  out.push({ ...base, type: "map.finished", stepId: "train", status: "succeeded", counts: { cached: n - 2, succeeded: 2, failed: 0, skipped: 0, cancelled: 0 }, outputs: {}, durationMs: 5 });
  out.push({ ...base, type: "step.succeeded", stepId: "board", key: "k", outputs: {}, durationMs: 1, attempt: 1 });
  out.push({ runId: "r1", ts: 9, type: "run.finished", status: "succeeded", durationMs: 9, error: null });
  return out;
}

describe("the progress view", () => {
  it("summarises a 10,000-element map in one line instead of one per element", () => {
    const io = fakeIo(false);
    const view = new ProgressView(io);
    for (const e of events(10_000)) view.onEvent(e);
    const lines = io.text().trimEnd().split("\n");
    expect(lines.length).toBeLessThan(10);
    expect(io.text()).toContain("✓ map train: 9,998 cached · 2 ran");
    expect(lines.at(-1)).toBe("9,998 cached · 4 ran (10,002/10,002) · 9ms · succeeded");
  });

  it("on a terminal keeps the redrawn block within a dozen lines however many steps run at once", () => {
    const io = fakeIo(true);
    const view = new ProgressView(io);
    const base = { runId: "r1", ts: 0 };
    view.onEvent({ ...base, type: "run.started", pipeline: "p", params: {}, steps: ["m"], trigger: "cli", actor: "me" });
    view.onEvent({ ...base, type: "map.expanded", stepId: "m", count: 500 });
    for (let i = 0; i < 500; i++) view.onEvent({ ...base, type: "step.started", stepId: `m[${i}]`, key: "k", executor: "thread", attempt: 1, worker: null, inputs: {}, mapId: "m" });
    const before = io.text().length;
    view.onEvent({ ...base, type: "log", stepId: "m[3]", level: "warn", msg: "slow" });
    const frame = io.text().slice(before).split("\x1b[0J").at(-1)!;
    expect(frame.trimEnd().split("\n").length).toBeLessThanOrEqual(12);
    expect(frame).toContain("… and 492 more running");
    view.stop();
  });
});

describe("formatCount", () => {
  it("writes integers as en-US toLocaleString does, without Intl", () => {
    for (const n of [0, 7, 999, 1000, 10_001, 999_999, 1_000_000, 123_456_789, -1, -1234, -1_000_000]) expect(formatCount(n)).toBe(n.toLocaleString("en-US"));
  });
});
