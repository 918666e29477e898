/**
 * Schedules end to end: `GET /api/v1/schedules` on a real fastify app on loopback (the server's
 * createServer with the schedule route group), the cron scheduler launching real runs through the
 * server's run manager under a fake clock, and `sluice schedules` (the built CLI) reading the
 * same workspace's fire ledger.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "../../src/index.ts";
import { createLogger } from "../../src/log.ts";
import { createServer, hashToken, newToken, type SluiceServer } from "../../src/server/index.ts";
import { scheduleRoutes } from "../../src/server/routes/schedules.ts";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "../../src/testing/index.ts";
import { nextFires, startSchedules, type LaunchedRun, type LaunchRequest, type ScheduleInfo } from "../../src/triggers/index.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";
import { runCli, runJson } from "../helpers/cli.ts";
import { FakeTime } from "../unit/triggers/fake-time.ts";

const NIGHTLY = `import { definePipeline, Type } from "sluice";
import { load, normalize, scale } from "../steps/lib.ts";

export default definePipeline({
  name: "nightly",
  params: Type.Object({ factor: Type.Number({ default: 1, minimum: 0, maximum: 100 }) }),
  schedules: [
    { id: "berlin", cron: "30 2 * * *", timezone: "Europe/Berlin", params: { factor: 2 }, overlap: "skip", misfire: "run-once" },
    { id: "ny-weekly", cron: "0 6 * * 1", timezone: "America/New_York", overlap: "queue", misfire: "skip" },
  ],
  build(p, params) {
    const loaded = p.step("load", load, { inputs: { text: p.file("text", "data/input.txt") } });
    const norm = p.step("normalize", normalize, { inputs: { lines: loaded.outputs.lines } });
    p.step("scale", scale, { inputs: { lines: norm.outputs.lines }, params: { factor: params.factor } });
  },
});
`;

const FILES = { "data/input.txt": DEMO_FILES["data/input.txt"]!, "steps/count.ts": DEMO_FILES["steps/count.ts"]!, "steps/lib.ts": DEMO_FILES["steps/lib.ts"]!, "pipelines/nightly.ts": NIGHTLY };

const utc = (iso: string): number => Date.parse(iso);
/** Saturday noon before Europe/Berlin's spring-forward night. */
const NOW = utc("2026-03-28T12:00:00Z");

let tw: TestWorkspace;
let ws: Workspace;
let server: SluiceServer;
let base: string;
let viewer: string;

beforeAll(async () => {
  tw = createTestWorkspace(FILES);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const log = createLogger({ level: "info", destination: sink });
  ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }), { logger: log });
  server = await createServer({ workspace: ws, log, clock: () => NOW, routeGroups: [scheduleRoutes] });
  viewer = newToken();
  await server.service.createToken({ name: "viewer-sched", role: "viewer", hash: hashToken(viewer), createdAt: NOW });
  base = await server.app.listen({ port: 0, host: "127.0.0.1" });
});

afterAll(async () => {
  await server?.close();
  await ws?.close();
  tw?.remove();
});

const get = (p: string, token: string | null = viewer): Promise<Response> => fetch(base + p, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("GET /api/v1/schedules over HTTP", () => {
  it("lists each schedule with its next fire times (UTC and local, across the DST change) and no last fire yet", async () => {
    const res = await get("/api/v1/schedules?count=2");
    expect(res.status).toBe(200);
    const body = (await res.json()) as ScheduleInfo[];
    expect(body.map((s) => [s.pipeline, s.id, s.overlap, s.misfire, s.params])).toEqual([
      ["nightly", "berlin", "skip", "run-once", { factor: 2 }],
      ["nightly", "ny-weekly", "queue", "skip", {}],
    ]);
    expect(body[0]!.next).toEqual([
      { at: utc("2026-03-29T01:30:00Z"), utc: "2026-03-29T01:30:00.000Z", local: "2026-03-29 03:30:00 GMT+2" },
      { at: utc("2026-03-30T00:30:00Z"), utc: "2026-03-30T00:30:00.000Z", local: "2026-03-30 02:30:00 GMT+2" },
    ]);
    expect(body[1]!.next.map((f) => f.utc)).toEqual(["2026-03-30T10:00:00.000Z", "2026-04-06T10:00:00.000Z"]);
    expect(body.every((s) => s.lastFire === null)).toBe(true);
  });

  it("refuses a missing token (401), an unknown query field or bad count (400) and an unknown pipeline (404)", async () => {
    expect((await get("/api/v1/schedules", null)).status).toBe(401);
    const unknown = await get("/api/v1/schedules?every=1");
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { field: string } }).error.field).toContain("every");
    expect((await get("/api/v1/schedules?count=0")).status).toBe(400);
    expect((await get("/api/v1/schedules?count=101")).status).toBe(400);
    const missing = await get("/api/v1/schedules?pipeline=nope");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("SLUICE_PIPELINE_NOT_FOUND");
  });

  it("is listed in the OpenAPI document", async () => {
    const doc = (await (await get("/api/v1/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/api/v1/schedules");
  });
});

describe("the scheduler launching real runs through the server's run manager", () => {
  it("fires at 03:30 CEST on the spring-forward night, runs with the schedule's params, and the API shows the finished fire", async () => {
    const time = new FakeTime(NOW);
    const runs: LaunchedRun[] = [];
    const launch = async (req: LaunchRequest): Promise<LaunchedRun> => {
      const started = await server.runs.start(req.pipeline, { ...req.params }, { trigger: "cron", actor: `schedule:${req.scheduleId}` });
      runs.push(started);
      return started;
    };
    const schedules = await startSchedules({ workspace: ws, log: createLogger({ level: "silent" }), clock: time.clock, timers: time.timers, launch });
    try {
      await time.advanceTo(utc("2026-03-29T02:00:00Z"));
      expect(runs).toHaveLength(1);
      await runs[0]!.done;
      await schedules.settled();
      const record = await ws.runs.getRun(runs[0]!.runId);
      expect(record).toMatchObject({ pipeline: "nightly", status: "succeeded", trigger: "cron", actor: "schedule:berlin", params: { factor: 2 } });
      expect(schedules.list().map((s) => [s.schedule.id, s.nextFire])).toEqual([
        ["berlin", utc("2026-03-30T00:30:00Z")],
        ["ny-weekly", utc("2026-03-30T10:00:00Z")],
      ]);
    } finally {
      await schedules.stop();
    }
    const body = (await (await get("/api/v1/schedules?pipeline=nightly&count=1")).json()) as ScheduleInfo[];
    expect(body[0]!.lastFire).toMatchObject({ scheduleId: "berlin", fireTime: utc("2026-03-29T01:30:00Z"), status: "finished", reason: "cron", runId: runs[0]!.runId });
    expect(body[1]!.lastFire).toBeNull();
  });
});

describe("sluice schedules", () => {
  beforeAll(() => {
    execFileSync(process.execPath, [path.join(sluicePackageRoot(), "scripts", "build.mjs")], { stdio: "ignore" });
  });

  it("prints every schedule's next fire times and the ledger's last fire, as JSON and for people", async () => {
    const before = Date.now();
    const { code, json } = await runJson<ScheduleInfo[]>(["schedules", "--json", "--count", "2"], { cwd: tw.root });
    expect(code).toBe(0);
    expect(json.map((s) => s.id)).toEqual(["berlin", "ny-weekly"]);
    for (const s of json) {
      const at = s.next.map((f) => f.at);
      expect(at[0]).toBeGreaterThan(before);
      // The fires are consecutive instants of the schedule, the first one the next after the CLI's clock.
      expect(at).toEqual(nextFires(s, at[0]! - 1, 2));
      expect(at[0]!).toBeLessThanOrEqual(nextFires(s, before, 2)[1]!);
    }
    expect(json[0]!.lastFire).toMatchObject({ fireTime: utc("2026-03-29T01:30:00Z"), status: "finished" });

    const text = await runCli(["schedules", "--count", "1"], { cwd: tw.root });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('nightly › berlin  "30 2 * * *" Europe/Berlin · overlap skip · misfire run-once · params {"factor":2}');
    expect(text.stdout).toContain("  last  2026-03-29 03:30:00 GMT+2  (2026-03-29T01:30:00.000Z)  finished · run r");
    expect(text.stdout).toContain("nightly › ny-weekly");
    expect(text.stdout).toContain("  last  never fired");
  });

  it("has --help, and refuses a bad --count or an unknown pipeline", async () => {
    const help = await runCli(["schedules", "--help"], { cwd: tw.root });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: sluice schedules [--pipeline NAME] [--count N] [--json]");
    expect((await runCli(["--help"], { cwd: tw.root })).stdout).toContain("schedules            cron schedules");
    const bad = await runCli(["schedules", "--count", "x"], { cwd: tw.root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--count "x" must be a whole number');
    const missing = await runCli(["schedules", "--pipeline", "nope"], { cwd: tw.root });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('SLUICE_PIPELINE_NOT_FOUND: no pipeline "nope"');
  });

  it("reports a schedule with an unknown time zone as a definition error naming the field", async () => {
    const bad = createTestWorkspace({ "pipelines/bad.ts": `import { definePipeline } from "sluice";\nexport default definePipeline({ name: "bad", schedules: [{ cron: "0 2 * * *", timezone: "Mars/Olympus", overlap: "skip", misfire: "skip" }], build() {} });\n` });
    try {
      const res = await runCli(["schedules"], { cwd: bad.root });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('pipeline "bad" › schedules[0] › timezone: "Mars/Olympus" is not an IANA time zone.');
    } finally {
      bad.remove();
    }
  });

  it("shows the breast-cancer example's nightly retraining at 02:00 Berlin time", async () => {
    const ml = createTestWorkspace();
    try {
      for (const pkg of ["onnx-proto", "onnxruntime-node"]) fs.symlinkSync(path.join(sluicePackageRoot(), "node_modules", pkg), ml.path(`node_modules/${pkg}`), "dir");
      for (const rel of ["pipelines/breast-cancer.ts", "steps"]) fs.cpSync(path.join(sluicePackageRoot(), rel), ml.path(rel), { recursive: true });
      const { code, json } = await runJson<ScheduleInfo[]>(["schedules", "--json", "--count", "1"], { cwd: ml.root });
      expect(code).toBe(0);
      expect(json).toHaveLength(1);
      expect(json[0]).toMatchObject({ pipeline: "breast-cancer", id: "nightly-retrain", cron: "0 2 * * *", timezone: "Europe/Berlin", overlap: "skip", misfire: "run-once", lastFire: null });
      expect(json[0]!.next[0]!.local).toMatch(/ 02:00:00 GMT\+[12]$/);
    } finally {
      ml.remove();
    }
  });
});
