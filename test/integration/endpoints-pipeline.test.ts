/**
 * The whole loop through one server: the `diabetes` pipeline, triggered over HTTP, trains,
 * registers and deploys (its `deploy` step writes the registry); the endpoint group, made by the
 * server from its context as `sluice serve` makes it, then scores with that model; a second run
 * with another param deploys version 2 in its place.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "../../src/index.ts";
import { silentLogger } from "../../src/log.ts";
import { createServer, hashToken, newToken, type SluiceServer } from "../../src/server/index.ts";
import { endpointRoutes } from "../../src/server/routes/endpoints.ts";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "../../src/testing/index.ts";
import { readSse } from "./serve-harness.ts";

const ROOT = sluicePackageRoot();
const ROW = { age: 59, sex: 2, bmi: 32.1, bp: 101, s1_tc: 157, s2_ldl: 93.2, s3_hdl: 38, s4_tch: 4, s5_ltg: 4.8598, s6_glu: 87 };

describe("a model deployed by a pipeline run over HTTP is served by the endpoint of the same server", () => {
  let tw: TestWorkspace;
  let ws: Workspace;
  let server: SluiceServer;
  let base: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    tw = createTestWorkspace();
    for (const pkg of ["onnx-proto", "onnxruntime-node"]) fs.symlinkSync(path.join(ROOT, "node_modules", pkg), tw.path(`node_modules/${pkg}`), "dir");
    for (const rel of ["pipelines/diabetes.ts", "steps", "data/ml"]) fs.cpSync(path.join(ROOT, rel), tw.path(rel), { recursive: true });
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
    server = await createServer({ workspace: ws, log: silentLogger(), routeGroups: [endpointRoutes()] });
    const token = newToken();
    await server.service.createToken({ name: "ci", role: "admin", hash: hashToken(token), createdAt: Date.now() });
    headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    base = `${await server.app.listen({ port: 0, host: "127.0.0.1" })}/api/v1`;
  });
  afterAll(async () => {
    await server?.close();
    await ws?.close();
    tw?.remove();
  });

  /** Triggers the pipeline and follows its events to the end; returns the final event. */
  async function run(params: Record<string, unknown>): Promise<{ status: string }> {
    const res = await fetch(`${base}/pipelines/diabetes/runs`, { method: "POST", headers, body: JSON.stringify({ params }) });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    const events = await readSse(await fetch(`${base}/runs/${runId}/events`, { headers }));
    return events.at(-1)!.data as { status: string };
  }

  const score = async () => (await fetch(`${base}/endpoints/diabetes/score`, { method: "POST", headers, body: JSON.stringify({ rows: [ROW] }) })).json() as Promise<{ deployment: string; model: { version: number }; predictions: Array<{ prediction: number }> }>;

  it("scores with version 1 after the first run, and with version 2 once a second run has deployed it", async () => {
    expect((await fetch(`${base}/endpoints/diabetes/score`, { method: "POST", headers, body: JSON.stringify({ rows: [ROW] }) })).status).toBe(404);
    expect(await run({})).toMatchObject({ status: "succeeded" });
    // Listing endpoints re-reads the registry at once (otherwise it is re-read every 5 s, and an
    // unknown name on a score request at most once a second, which the 404 above just used).
    expect((await fetch(`${base}/endpoints`, { headers })).status).toBe(200);
    const first = await score();
    expect(first).toMatchObject({ deployment: "primary", model: { version: 1 } });
    // Diabetes progression runs from 25 to 346: a sane regression answer, not NaN.
    expect(first.predictions[0]!.prediction).toBeGreaterThan(25);
    expect(first.predictions[0]!.prediction).toBeLessThan(346);

    expect(await run({ alpha: 20 })).toMatchObject({ status: "succeeded" });
    const listed = (await (await fetch(`${base}/endpoints`, { headers })).json()) as Array<{ endpoint: string; deployments: Array<{ version: number }> }>;
    expect(listed.find((e) => e.endpoint === "diabetes")?.deployments.map((d) => d.version)).toEqual([2]);
    const second = await score();
    expect(second.model.version).toBe(2);
    expect(second.predictions[0]!.prediction).not.toBe(first.predictions[0]!.prediction);
  });
});
