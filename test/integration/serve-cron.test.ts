/**
 * `startService` wires the cron scheduler to the run manager: a schedule's fire becomes a run of
 * this process (trigger `cron`, actor `schedule:<id>`) whose events stream over HTTP like any other.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { loadConfig, Workspace } from "../../src/index.ts";
import { silentLogger } from "../../src/log.ts";
import { hashToken, newToken } from "../../src/server/index.ts";
import { startService, type RunningService } from "../../src/server/start-service.ts";
import { until } from "../helpers/cli.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";
import { readSse } from "./serve-harness.ts";

const TICKER = `import { definePipeline } from "sluice";
import { load } from "../steps/lib.ts";

export default definePipeline({
  name: "ticker",
  schedules: [{ id: "every-second", cron: "* * * * * *", timezone: "UTC", overlap: "skip", misfire: "skip" }],
  build(p) {
    p.step("load", load, { inputs: { text: p.file("text", "data/input.txt") } });
  },
});
`;

let tw: TestWorkspace | undefined;
let ws: Workspace | undefined;
let service: RunningService | undefined;
afterEach(async () => {
  await service?.close();
  await ws?.close();
  tw?.remove();
  service = ws = tw = undefined;
});

describe("sluice serve with cron schedules", () => {
  it("runs a schedule's fire through the run manager, as trigger cron by schedule:<id>, with a live event stream", async () => {
    tw = createTestWorkspace({ ...DEMO_FILES, "pipelines/ticker.ts": TICKER });
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
    service = await startService({ workspace: ws, log: silentLogger(), port: 0 });
    let runId: string | undefined;
    // The schedule fires every second (real clock); wait on the run manager's state, not on time.
    await until(() => {
      const state = service!.schedules.list().find((s) => s.schedule.id === "every-second");
      runId ??= state?.running ?? state?.lastFire?.runId ?? undefined;
      return runId !== undefined;
    }, "the every-second schedule to launch a run");
    const token = newToken();
    await service.server.service.createToken({ name: "v", role: "viewer", hash: hashToken(token), createdAt: 1 });
    const events = await readSse(await fetch(`${service.url}/api/v1/runs/${runId}/events`, { headers: { authorization: `Bearer ${token}` } }));
    expect(events[0]!.data).toMatchObject({ type: "run.started", pipeline: "ticker", trigger: "cron", actor: "schedule:every-second" });
    expect(events.at(-1)!.data).toMatchObject({ type: "run.finished", status: "succeeded" });
  });
});
