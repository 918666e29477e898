/**
 * The breast-cancer example's nightly retraining, driven by the cron scheduler under a fake clock
 * with real runs (thread executor, onnxruntime-node, registry): the first night promotes the
 * winner, the next night's gate (compare with the champion) keeps the champion.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, Workspace, type RunSummary } from "../../src/index.ts";
import { silentLogger } from "../../src/log.ts";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "../../src/testing/index.ts";
import { startSchedules, type LaunchedRun, type LaunchRequest } from "../../src/triggers/index.ts";
import { FakeTime } from "../unit/triggers/fake-time.ts";

const ROOT = sluicePackageRoot();
const utc = (iso: string): number => Date.parse(iso);
const statuses = (s: RunSummary): Record<string, string> => Object.fromEntries(s.steps.map((x) => [x.id, x.status]));

let dir: TestWorkspace;
let ws: Workspace;

beforeAll(async () => {
  dir = createTestWorkspace();
  for (const pkg of ["onnx-proto", "onnxruntime-node"]) fs.symlinkSync(path.join(ROOT, "node_modules", pkg), dir.path(`node_modules/${pkg}`), "dir");
  for (const rel of ["pipelines/breast-cancer.ts", "steps", "data/ml"]) fs.cpSync(path.join(ROOT, rel), dir.path(rel), { recursive: true });
  ws = await Workspace.open(await loadConfig({ root: dir.root, env: {} }));
});

afterAll(async () => {
  await ws?.close();
  dir?.remove();
});

describe("breast-cancer nightly retraining schedule", () => {
  it("fires at 02:00 Berlin time; the first night promotes the winner, the next night's champion gate keeps it", async () => {
    const time = new FakeTime(utc("2026-11-29T12:00:00Z"));
    const runs: Array<{ req: LaunchRequest; done: Promise<RunSummary> }> = [];
    const launch = async (req: LaunchRequest): Promise<LaunchedRun> => {
      const info = await ws.load(req.pipeline);
      let runId!: (id: string) => void;
      const id = new Promise<string>((resolve) => (runId = resolve));
      const done = ws.run(info, { params: { ...req.params }, trigger: "cron", actor: `schedule:${req.scheduleId}`, onStart: (rid) => runId(rid) });
      runs.push({ req, done });
      // A run that fails before it starts settles `done` without calling onStart.
      return { runId: await Promise.race([id, done.then((s) => s.runId)]), done };
    };
    const schedules = await startSchedules({ workspace: ws, log: silentLogger(), clock: time.clock, timers: time.timers, launch });
    try {
      await time.advanceTo(utc("2026-11-30T01:30:00Z"));
      expect(runs.map((r) => [r.req.pipeline, r.req.scheduleId, new Date(r.req.fireTime).toISOString()])).toEqual([["breast-cancer", "nightly-retrain", "2026-11-30T01:00:00.000Z"]]);
      const first = await runs[0]!.done;
      expect(first.status, JSON.stringify(first.error)).toBe("succeeded");
      expect(statuses(first)).toMatchObject({ "compare-champion": "succeeded", register: "succeeded" });
      const champion = await ws.models.champion("breast-cancer");
      expect(champion).toMatchObject({ version: 1, stage: "champion" });

      await time.advanceTo(utc("2026-12-01T01:30:00Z"));
      expect(runs).toHaveLength(2);
      const second = await runs[1]!.done;
      expect(second.status).toBe("succeeded");
      // Same data: training is a cache hit; the champion comparison always runs and says "not better".
      expect(statuses(second)).toMatchObject({ "train-gbdt": "cached", "train-logistic": "cached", "compare-champion": "succeeded", register: "skipped" });
      expect(await ws.models.champion("breast-cancer")).toMatchObject({ version: 1 });
      await schedules.settled();
      const fires = await ws.fires.list({ pipeline: "breast-cancer" });
      expect(fires.map((f) => [new Date(f.fireTime).toISOString(), f.status, f.runId])).toEqual([
        ["2026-12-01T01:00:00.000Z", "finished", second.runId],
        ["2026-11-30T01:00:00.000Z", "finished", first.runId],
      ]);
    } finally {
      await schedules.stop();
    }
  });
});
