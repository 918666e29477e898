/**
 * What `sluice serve` refuses, over real HTTP on loopback: missing tokens, weak roles, malformed
 * or oversized bodies, unknown fields and pipelines, path traversal on log and artifact routes.
 * The process keeps answering after each, nothing leaks a stack or a token, and every
 * state-changing attempt is in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSse, startServe, type ServeHarness } from "./serve-harness.ts";

let h: ServeHarness;
let runId: string;
beforeAll(async () => {
  h = await startServe({ bodyLimitBytes: 4096 });
  const res = await h.request("/api/v1/pipelines/demo/runs", { method: "POST", role: "operator", headers: { "content-type": "application/json" }, body: "{}" });
  runId = ((await res.json()) as { runId: string }).runId;
  await readSse(await h.request(`/api/v1/runs/${runId}/events`));
});
afterAll(async () => {
  await h.close();
  h.tw.remove();
});

interface ErrorAnswer {
  error: { code: string; message: string; field: string | null };
}

async function post(path: string, body: string, role: "viewer" | "operator" | "admin" | null = "operator"): Promise<{ status: number; body: ErrorAnswer }> {
  const res = await h.request(path, { method: "POST", role, headers: { "content-type": "application/json" }, body });
  return { status: res.status, body: (await res.json()) as ErrorAnswer };
}

describe("sluice serve refuses bad requests and keeps answering", () => {
  it("answers 401 without a token or with an unknown one, 403 to a viewer triggering a run", async () => {
    const none = await post("/api/v1/pipelines/demo/runs", "{}", null);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("SLUICE_UNAUTHENTICATED");
    expect((await h.request("/api/v1/runs", { role: null })).headers.get("www-authenticate")).toBe('Bearer realm="sluice"');
    const bogus = await h.request("/api/v1/runs", { role: null, headers: { authorization: "Bearer slc_not-a-token" } });
    expect(bogus.status).toBe(401);
    const viewer = await post("/api/v1/pipelines/demo/runs", "{}", "viewer");
    expect(viewer.status).toBe(403);
    expect(viewer.body.error).toMatchObject({ code: "SLUICE_FORBIDDEN", field: "authorization" });
    expect((await h.request("/api/v1/audit", { role: "operator" })).status).toBe(403);
  });

  it("answers 400 naming the field to malformed JSON, unknown fields, wrong types and bad params", async () => {
    const malformed = await post("/api/v1/pipelines/demo/runs", '{"params": {');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ code: "SLUICE_REQUEST_INVALID", field: "body" });
    const unknown = await post("/api/v1/pipelines/demo/runs", '{"params": {}, "priority": 1}');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.field).toBe("body.priority");
    const wrongType = await post("/api/v1/pipelines/demo/runs", '{"params": "factor=2"}');
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.field).toBe("body.params");
    const badParam = await post("/api/v1/pipelines/demo/runs", '{"params": {"factor": "2"}}');
    expect(badParam.status).toBe(400);
    expect(badParam.body.error).toMatchObject({ code: "SLUICE_PARAMS_INVALID", field: "body.params.factor" });
    const badLimit = await h.request("/api/v1/runs?limit=ten");
    expect(badLimit.status).toBe(400);
    expect(((await badLimit.json()) as ErrorAnswer).error.field).toBe("querystring.limit");
  });

  it("answers 413 to a body over the limit and 404 to an unknown pipeline or route", async () => {
    const big = await post("/api/v1/pipelines/demo/runs", JSON.stringify({ params: { pad: "x".repeat(8000) } }));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("SLUICE_PAYLOAD_TOO_LARGE");
    const missing = await post("/api/v1/pipelines/nope/runs", "{}");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("SLUICE_PIPELINE_NOT_FOUND");
    const route = await h.request("/api/v1/nothing-here");
    expect(route.status).toBe(404);
    expect(((await route.json()) as ErrorAnswer).error.code).toBe("SLUICE_ROUTE_NOT_FOUND");
    expect((await h.request("/api/v1/runs/r-unknown")).status).toBe(404);
  });

  it("answers 400 or 404 to path traversal on every log, metric, explain and artifact route, plain or encoded", async () => {
    const attempts = [
      "/api/v1/runs/../../etc/passwd/logs",
      "/api/v1/runs/%2e%2e%2f%2e%2e%2fetc%2fpasswd/logs",
      "/api/v1/runs/..%2F..%2Fetc/metrics",
      `/api/v1/runs/${runId}/steps/..%2f..%2fsecret/logs`,
      `/api/v1/runs/${runId}/steps/%2e%2e/metrics`,
      `/api/v1/runs/${runId}/steps/..%2f..%2fsecret/explain`,
      `/api/v1/runs/${runId}/steps/%2e%2e/explain`,
      `/api/v1/runs/${runId}/steps/..%5c..%5cwindows/explain`,
      "/api/v1/runs/..%2f..%2fetc/steps/total/explain",
      `/api/v1/runs/${runId}/steps/no-such-step/explain`,
      `/api/v1/runs/${runId}/steps/total/outputs/..%2f..%2fruns.db`,
      `/api/v1/runs/${runId}/steps/total/outputs/%2e%2e%2f%2e%2e%2fcache`,
      `/api/v1/runs/${runId}/logs?step=..%2f..%2fetc`,
      `/api/v1/runs/${runId}/steps/../../../etc/passwd`,
      "/api/v1/models/..%2f..%2fetc",
      "/api/v1/%2e%2e/%2e%2e/etc/passwd",
      "/api/v1/runs/%E0%A4%A/logs",
      "/api/v1/runs/%00/logs",
    ];
    for (const path of attempts) {
      const res = await h.raw("GET", path, { role: "viewer" });
      expect([400, 404], `${path} → ${res.status} ${res.body}`).toContain(res.status);
      expect(JSON.parse(res.body).error.code).toMatch(/^SLUICE_/);
      expect(res.body).not.toMatch(/root:|at .*\.ts:\d+/);
    }
  });

  it("still answers after all of the above, never sends a stack trace, and keeps tokens out of its log", async () => {
    expect((await h.request("/healthz", { role: null })).status).toBe(200);
    expect(((await (await h.request("/readyz", { role: null })).json()) as { status: string }).status).toBe("ready");
    const logs = h.logs();
    expect(logs.length).toBeGreaterThan(0);
    for (const token of Object.values(h.tokens)) expect(logs).not.toContain(token);
    // What route groups log through the context is redacted too.
    h.server.context.log.warn({ headers: { authorization: `Bearer ${h.tokens.admin}` }, token: h.tokens.operator, body: { token: h.tokens.viewer } }, "probe");
    const probe = h.logs().split("\n").find((l) => l.includes('"probe"'))!;
    expect(probe).toContain("[redacted]");
    for (const token of Object.values(h.tokens)) expect(probe).not.toContain(token);
  });

  it("audits every state-changing attempt: who, what, target, when and result", async () => {
    const res = await h.request("/api/v1/audit?limit=100", { role: "admin" });
    expect(res.status).toBe(200);
    const entries = (await res.json()) as Array<{ actor: string; action: string; target: string; result: string; ts: number; details: { status: number } }>;
    const has = (actor: RegExp, action: string, target: string, result: string, status: number): void => {
      expect(entries.some((e) => actor.test(e.actor) && e.action === action && e.target === target && e.result === result && e.details.status === status && e.ts > 0), `${actor} ${action} ${target} ${result} ${status}`).toBe(true);
    };
    has(/^operator-/, "run.start", "pipeline/demo", "ok", 202);
    has(/^anonymous$/, "run.start", "pipeline/demo", "denied", 401);
    has(/^viewer-/, "run.start", "pipeline/demo", "denied", 403);
    has(/^operator-/, "run.start", "pipeline/demo", "invalid", 400);
    has(/^operator-/, "run.start", "pipeline/demo", "invalid", 413);
    has(/^operator-/, "run.start", "pipeline/nope", "invalid", 404);
    expect(entries.find((e) => e.action === "run.start" && e.result === "ok")!.details).toMatchObject({ runId });
  });
});

describe("sluice serve's audit log under anonymous probing", () => {
  it("writes a few entries a minute for anonymous requests to unknown URLs, then counts the rest and says so in the next entry", async () => {
    let now = Date.UTC(2026, 10, 29, 12, 0, 0);
    const p = await startServe({ clock: () => now, anonymousAuditsPerMinute: 3 });
    try {
      const probe = async (i: number): Promise<number> => (await p.request(`/api/v1/nowhere-${i}`, { method: "POST", role: null, headers: { "content-type": "application/json" }, body: "{}" })).status;
      for (let i = 0; i < 10; i++) expect(await probe(i)).toBe(404);
      // A route's own audit is not limited: an anonymous trigger is still written.
      expect((await p.request("/api/v1/pipelines/demo/runs", { method: "POST", role: null, headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(401);
      now += 60_000;
      expect(await probe(10)).toBe(404);
      const entries = (await (await p.request("/api/v1/audit?limit=100", { role: "admin" })).json()) as Array<{ actor: string; action: string; target: string; details: Record<string, unknown> }>;
      const probes = entries.filter((e) => e.target.startsWith("/api/v1/nowhere-"));
      expect(probes.map((e) => e.target).sort()).toEqual(["/api/v1/nowhere-0", "/api/v1/nowhere-1", "/api/v1/nowhere-10", "/api/v1/nowhere-2"]);
      expect(probes.find((e) => e.target === "/api/v1/nowhere-10")!.details).toMatchObject({ status: 404, notWrittenBefore: 7 });
      expect(entries.some((e) => e.actor === "anonymous" && e.action === "run.start")).toBe(true);
      expect(p.logs()).toContain("audit entries beyond the limit this minute are counted");
    } finally {
      await p.close();
      p.tw.remove();
    }
  });
});
