import { describe, expect, it } from "vitest";
import type { RunCoordinator, RunEvent, RunSummary } from "../../../src/scheduler/index.ts";
import { LiveRun, type NumberedEvent } from "../../../src/server/run-manager.ts";

// The buffer alone: the coordinator is only asked to cancel, which these tests never do.
const noCoordinator = {} as RunCoordinator;
const started: RunEvent = { type: "run.started", runId: "r1", ts: 1, pipeline: "p", params: {}, steps: [], trigger: "api", actor: "t" };
const log = (i: number): RunEvent => ({ type: "log", runId: "r1", ts: 1 + i, stepId: "s", level: "info", msg: `line ${i}` });

function collect(run: LiveRun, afterId: number): { ids: number[]; ended: boolean } {
  const out = { ids: [] as number[], ended: false };
  run.subscribe(afterId, (e: NumberedEvent | null) => (e ? out.ids.push(e.id) : (out.ended = true)));
  return out;
}

describe("LiveRun's event buffer", () => {
  it("keeps the first event and the newest maxEvents, numbering every event, however long the run", () => {
    const run = new LiveRun("r1", "p", noCoordinator, new Promise<RunSummary>(() => {}), { maxEvents: 4 });
    run.push(started);
    for (let i = 1; i <= 100; i++) run.push(log(i));
    expect(run.eventCount).toBe(101);
    expect(run.firstEvent).toEqual(started);
    // A new stream: run.started, then the newest 4 (ids 98–101), then live events.
    const fresh = collect(run, 0);
    expect(fresh.ids).toEqual([1, 98, 99, 100, 101]);
    run.push(log(101));
    expect(fresh.ids.at(-1)).toBe(102);
    // A stream resuming inside the window gets exactly what it missed; one far behind skips ahead.
    expect(collect(run, 100).ids).toEqual([101, 102]);
    expect(collect(run, 50).ids).toEqual([99, 100, 101, 102]);
    run.finish();
    expect(fresh.ended).toBe(true);
    expect(collect(run, 101)).toEqual({ ids: [102], ended: true });
  });
});
