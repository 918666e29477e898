/**
 * `sluice serve` over real HTTP on loopback (fastify listening on 127.0.0.1, fetch), with a real
 * SQLite run store: triggering and following runs, cancelling, idempotency, and every refusal the
 * service must survive, each state-changing attempt audited.
 */
import { afterEach, describe, expect, it } from "vitest";
import { readSse, startServe, type ServeHarness, type SseMessage } from "./serve-harness.ts";

let h: ServeHarness | undefined;
afterEach(async () => {
  await h?.close();
  h?.tw.remove();
  h = undefined;
});

const json = { "content-type": "application/json" };

async function trigger(s: ServeHarness, pipeline: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<Response> {
  return s.request(`/api/v1/pipelines/${pipeline}/runs`, { method: "POST", role: "operator", headers: { ...json, ...headers }, body: JSON.stringify(body) });
}

describe("sluice serve: runs over HTTP", () => {
  it("starts a run with params and streams its events to completion, each with an id, resumable after any of them", async () => {
    h = await startServe();
    const res = await trigger(h, "demo", { params: { factor: 3 } });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    const stream = await h.request(`/api/v1/runs/${runId}/events`);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = await readSse(stream);
    expect(events[0]!.event).toBe("run.started");
    expect(events[0]!.data).toMatchObject({ runId, pipeline: "demo", params: { factor: 3 }, trigger: "http" });
    expect(events.at(-1)!.event).toBe("run.finished");
    expect(events.at(-1)!.data.status).toBe("succeeded");
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.event === "step.succeeded").map((e) => e.data.stepId).sort()).toEqual(["blob", "load", "normalize", "scale", "shout", "total"]);

    const resumed = await readSse(await h.request(`/api/v1/runs/${runId}/events`, { headers: { "last-event-id": String(events.length - 2) } }));
    expect(resumed.map((e) => e.id)).toEqual([events.length - 1, events.length]);

    const run = (await (await h.request(`/api/v1/runs/${runId}`)).json()) as { run: { status: string; actor: string; trigger: string }; steps: unknown[] };
    expect(run.run).toMatchObject({ status: "succeeded", trigger: "http" });
    expect(run.run.actor).toMatch(/^operator-/);
    expect(run.steps).toHaveLength(6);
    const listed = (await (await h.request("/api/v1/runs?trigger=http&pipeline=demo&limit=5")).json()) as Array<{ id: string }>;
    expect(listed.map((r) => r.id)).toEqual([runId]);
    const output = await h.request(`/api/v1/runs/${runId}/steps/total/outputs/total`);
    expect(await output.text()).toBe(String(3 * ["hello world", "sluice caches steps", "by content"].join("").length));
  });

  it("replays a finished run's events from the run store after a restart, and ends the stream", async () => {
    h = await startServe();
    const { runId } = (await (await trigger(h, "demo")).json()) as { runId: string };
    const live = await readSse(await h.request(`/api/v1/runs/${runId}/events`));
    await h.close();
    const tw = h.tw;
    h = await startServe({ reuse: tw });
    const replayed = await readSse(await h.request(`/api/v1/runs/${runId}/events`));
    expect(replayed[0]!.event).toBe("run.started");
    expect(replayed.at(-1)!.data).toMatchObject({ type: "run.finished", status: "succeeded" });
    const outcomes = (ms: SseMessage[]) => ms.filter((m) => m.event.startsWith("step.") && m.event !== "step.queued" && m.event !== "step.started").map((m) => `${m.data.stepId}:${m.event}`).sort();
    expect(outcomes(replayed)).toEqual(outcomes(live));
    const tail = await readSse(await h.request(`/api/v1/runs/${runId}/events`, { headers: { "last-event-id": String(replayed.length - 1) } }));
    expect(tail.map((m) => m.id)).toEqual([replayed.length]);
    // An id from the live stream numbers every event (queued, started…), so it can lie past the
    // replay's end: the client still gets how the run finished.
    expect(live.length).toBeGreaterThan(replayed.length);
    const past = await readSse(await h.request(`/api/v1/runs/${runId}/events`, { headers: { "last-event-id": String(live.length - 1) } }));
    expect(past.map((m) => m.data.type)).toEqual(["run.finished"]);
  });

  it("cancels a run waiting in a gate step: the stream ends with run.finished cancelled", async () => {
    h = await startServe();
    h.tw.write("block", "");
    const { runId } = (await (await trigger(h, "gated")).json()) as { runId: string };
    let cancel: Promise<Response> | undefined;
    const events = await readSse(await h.request(`/api/v1/runs/${runId}/events`), (m) => {
      if (m.event === "step.started" && m.data.stepId === "gate") cancel = h!.request(`/api/v1/runs/${runId}/cancel`, { method: "POST", role: "operator" });
    });
    expect((await cancel!).status).toBe(202);
    expect(events.at(-1)!.data).toMatchObject({ type: "run.finished", status: "cancelled" });
    expect(events.find((e) => e.event === "step.cancelled")?.data.stepId).toBe("gate");
    const run = (await (await h.request(`/api/v1/runs/${runId}`)).json()) as { run: { status: string } };
    expect(run.run.status).toBe("cancelled");
    const again = await h.request(`/api/v1/runs/${runId}/cancel`, { method: "POST", role: "operator" });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("SLUICE_RUN_NOT_ACTIVE");
  });

  it("closes cleanly with a run in progress: the run is cancelled and recorded, its event stream ends", async () => {
    h = await startServe();
    h.tw.write("block", "");
    const { runId } = (await (await trigger(h, "gated")).json()) as { runId: string };
    let closing: Promise<void> | undefined;
    const events = await readSse(await h.request(`/api/v1/runs/${runId}/events`), (m) => {
      if (m.event === "step.started" && m.data.stepId === "gate") closing = h!.server.close();
    });
    await closing;
    expect(events.at(-1)!.data).toMatchObject({ type: "run.finished", status: "cancelled" });
    expect((await h.ws.runs.getRun(runId))!.status).toBe("cancelled");
    expect((await h.ws.runs.listStepRuns(runId)).find((s) => s.stepId === "gate")!.status).toBe("cancelled");
  });

  it("starts one run for the same Idempotency-Key, sent twice in a row and twice at once", async () => {
    h = await startServe();
    const first = (await (await trigger(h, "demo", {}, { "idempotency-key": "hook-1" })).json()) as { runId: string; reused: boolean };
    const second = (await (await trigger(h, "demo", {}, { "idempotency-key": "hook-1" })).json()) as { runId: string; reused: boolean };
    expect(second).toMatchObject({ runId: first.runId, reused: true });
    expect(first.reused).toBe(false);
    const both = await Promise.all([trigger(h, "demo", {}, { "idempotency-key": "hook-2" }), trigger(h, "demo", {}, { "idempotency-key": "hook-2" })]);
    const ids = await Promise.all(both.map(async (r) => ((await r.json()) as { runId: string }).runId));
    expect(ids[0]).toBe(ids[1]);
    await Promise.all([first.runId, ids[0]!].map((id) => h!.server.runs.get(id)!.done));
    const runs = (await (await h.request("/api/v1/runs?pipeline=demo")).json()) as unknown[];
    expect(runs).toHaveLength(2);
  });

  it("lists pipelines with params and steps, publishes an OpenAPI document of its routes, and counts runs in /metrics", async () => {
    h = await startServe();
    const pipelines = (await (await h.request("/api/v1/pipelines")).json()) as Array<{ name: string; params: { properties: Record<string, unknown> }; steps: Array<{ id: string; dependsOn: string[] }> | null }>;
    const demo = pipelines.find((p) => p.name === "demo")!;
    expect(Object.keys(demo.params.properties)).toEqual(["factor"]);
    expect(demo.steps!.find((s) => s.id === "total")!.dependsOn).toEqual(["scale"]);
    const doc = (await (await h.request("/api/v1/openapi.json", { role: null })).json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: { "application/json": { schema: { additionalProperties: boolean } } } } }>> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/pipelines/{name}/runs", "/api/v1/runs/{id}/events", "/api/v1/runs/{id}/cancel", "/api/v1/audit", "/healthz", "/readyz", "/metrics"]));
    expect(doc.paths["/api/v1/pipelines/{name}/runs"]!.post!.requestBody!.content["application/json"].schema.additionalProperties).toBe(false);

    for (let i = 0; i < 2; i++) {
      const { runId } = (await (await trigger(h, "demo")).json()) as { runId: string };
      await h.server.runs.get(runId)!.done;
    }
    const metrics = await (await h.request("/metrics", { role: null })).text();
    expect(metrics).toMatch(/^sluice_runs_total\{status="succeeded"\} 2$/m);
    expect(metrics).toMatch(/^sluice_steps_total\{status="cached"\} 6$/m);
    expect(metrics).toMatch(/^sluice_cache_hit_ratio 0\.5$/m);
    expect(metrics).toMatch(/^sluice_queue_depth\{state="waiting"\} 0$/m);
    expect(metrics).toMatch(/^sluice_step_duration_seconds_count\{status="succeeded"\} 6$/m);
  });

  it("lets an admin create and revoke tokens over the API; a revoked token is refused at once; both are audited", async () => {
    h = await startServe();
    const created = await h.request("/api/v1/tokens", { method: "POST", role: "admin", headers: json, body: JSON.stringify({ name: "bot", role: "viewer" }) });
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    expect((await fetch(`${h.base}/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await h.request("/api/v1/tokens", { method: "POST", role: "operator", headers: json, body: JSON.stringify({ name: "x", role: "admin" }) })).status).toBe(403);
    expect((await h.request("/api/v1/tokens/bot", { method: "DELETE", role: "admin" })).status).toBe(200);
    expect((await fetch(`${h.base}/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const audit = (await (await h.request("/api/v1/audit", { role: "admin" })).json()) as Array<{ action: string; target: string; result: string }>;
    expect(audit.map((e) => `${e.action} ${e.target} ${e.result}`)).toEqual(["token.revoke token/bot ok", "token.create tokens denied", "token.create tokens ok"]);
    expect(h.logs()).not.toContain(token);
    // No per-request lines (fastify's own "incoming request" / "request completed" at info).
    expect(h.logs()).not.toMatch(/incoming request|request completed/);
  });
});
