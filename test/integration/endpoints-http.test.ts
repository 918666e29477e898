import http from "node:http";
import { Registry } from "prom-client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log.ts";
import { createServer, hashToken, newToken, type Role, type SluiceServer } from "../../src/server/index.ts";
import { endpointRoutes } from "../../src/server/routes/endpoints.ts";
import { EndpointService } from "../../src/serving/index.ts";
import { createRng } from "../../steps/ml/rng.ts";
import { IRIS_COLUMNS, irisData, irisModel, servingWorkspace, type IrisData, type ServingWorkspace } from "../unit/serving/models.ts";

/** Keeps up to `keepAlive` sockets open, as a load balancer in front of the service would. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

interface Answer {
  status: number;
  body: any;
}

describe("model endpoints over real HTTP on loopback (createServer, bearer tokens, iris v1 blue / v2 green)", () => {
  let sw: ServingWorkspace;
  let data: IrisData;
  let server: SluiceServer;
  let service: EndpointService;
  let base: URL;
  const tokens = {} as Record<Role, string>;
  const names = {} as Record<Role, string>;
  let draws = createRng(11);
  let v1: number;
  let v2: number;

  /** One JSON request through the keep-alive agent. */
  const call = (method: string, path: string, opts: { role?: Role | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const role = opts.role === undefined ? "operator" : opts.role;
      const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
      const headers: Record<string, string> = { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...opts.headers };
      const req = http.request({ host: base.hostname, port: base.port, method, path, headers, agent }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => {
          const json = (res.headers["content-type"] ?? "").startsWith("application/json");
          resolve({ status: res.statusCode ?? 0, body: json && text ? JSON.parse(text) : text });
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
  const score = (rows: unknown[], headers: Record<string, string> = {}) => call("POST", "/api/v1/endpoints/flowers/score", { body: { rows }, headers });
  const setDeployments = (specs: Array<{ deployment: string; version: number; trafficPercent: number; shadow?: boolean }>) =>
    sw.ws.models.setDeployments("flowers", specs.map((s) => ({ model: "iris", ...s })), Date.now());

  beforeAll(async () => {
    data = irisData();
    sw = await servingWorkspace({ "data/new.csv": `${IRIS_COLUMNS.join(",")}\n${data.rows.slice(0, 25).map((r) => IRIS_COLUMNS.map((c) => r[c]).join(",")).join("\n")}\n` });
    v1 = await sw.register("iris", irisModel(data, 0.01));
    v2 = await sw.register("iris", irisModel(data, 1));
    await setDeployments([{ deployment: "blue", version: v1, trafficPercent: 90 }, { deployment: "green", version: v2, trafficPercent: 10 }]);
    const log = silentLogger();
    // The service draws from a seeded generator the test can reseed; its metrics go to the server's registry below.
    const metricsHolder: { registry?: Registry } = {};
    server = await createServer({
      workspace: sw.ws,
      log,
      routeGroups: [
        async (app, ctx) => {
          metricsHolder.registry = ctx.metrics;
          service = new EndpointService({ models: sw.ws.models, cas: sw.ws.cas, root: sw.dir.root, log, metrics: ctx.metrics, refreshMs: 0, random: () => draws.next() });
          await service.start();
          await endpointRoutes({ service, maxRows: 200 })(app, ctx);
        },
      ],
    });
    for (const role of ["viewer", "operator", "admin"] as const) {
      tokens[role] = newToken();
      names[role] = `${role}-endpoints`;
      await server.service.createToken({ name: names[role], role, hash: hashToken(tokens[role]), createdAt: Date.now() });
    }
    base = new URL(await server.app.listen({ port: 0, host: "127.0.0.1" }));
  });
  afterAll(async () => {
    agent.destroy();
    await service?.close();
    await server?.close();
    await sw?.close();
  });
  beforeEach(async () => {
    draws = createRng(11);
    await setDeployments([{ deployment: "blue", version: v1, trafficPercent: 90 }, { deployment: "green", version: v2, trafficPercent: 10 }]);
    await service.refresh();
  });

  it("scores rows for an operator and names the deployment and model version that answered", async () => {
    const r = await score([data.rows[0]!, IRIS_COLUMNS.map((c) => data.rows[120]![c])]);
    expect(r.status).toBe(200);
    expect(r.body.model).toEqual({ name: "iris", version: r.body.deployment === "blue" ? v1 : v2 });
    expect(r.body.predictions.map((p: { prediction: string }) => p.prediction)).toEqual(["setosa", "virginica"]);
  });

  it("refuses without a token (401), a viewer (403), bad rows (400 naming row and column), too many rows, unknown fields and unsafe names", async () => {
    expect((await call("POST", "/api/v1/endpoints/flowers/score", { role: null, body: { rows: [data.rows[0]] } })).status).toBe(401);
    expect((await call("POST", "/api/v1/endpoints/flowers/score", { role: "viewer", body: { rows: [data.rows[0]] } })).status).toBe(403);
    const bad = await score([data.rows[0]!, { ...data.rows[0]!, sepal_width: "x" }]);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "SLUICE_DATA_INVALID", field: "rows/1/sepal_width" });
    expect(bad.body.error.message).toContain('row 1, column "sepal_width"');
    const many = await score(Array.from({ length: 201 }, () => data.rows[0]!));
    expect(many.status).toBe(400);
    expect(many.body.error.code).toBe("SLUICE_REQUEST_INVALID");
    expect((await call("POST", "/api/v1/endpoints/flowers/score", { body: { rows: [data.rows[0]], extra: 1 } })).body.error).toMatchObject({ code: "SLUICE_REQUEST_INVALID", field: "body.extra" });
    expect((await call("POST", "/api/v1/endpoints/flowers/score", { raw: "{not json" })).status).toBe(400);
    expect((await call("POST", "/api/v1/endpoints/nowhere/score", { body: { rows: [data.rows[0]] } })).body.error.code).toBe("SLUICE_ENDPOINT_NOT_FOUND");
    for (const path of ["/api/v1/endpoints/..%2F..%2Fetc/score", "/api/v1/endpoints/.hidden/score", "/api/v1/endpoints/%2e%2e/batch/b000000000-00000000"]) {
      expect([400, 404], path).toContain((await call(path.endsWith("score") ? "POST" : "GET", path, { body: path.endsWith("score") ? { rows: [data.rows[0]] } : undefined })).status);
    }
    expect((await call("GET", "/api/v1/endpoints/flowers/batch/..%2F..%2Fpasswd", { role: "viewer" })).status).toBe(400);
    expect((await call("GET", "/healthz", { role: null })).status).toBe(200);
  });

  it("splits 1,000 HTTP requests 90/10 within ±3 points and shows the shares and counts to a viewer", async () => {
    const counts: Record<string, number> = { blue: 0, green: 0 };
    const before = Object.fromEntries((await call("GET", "/api/v1/endpoints/flowers", { role: "viewer" })).body.deployments.map((d: { deployment: string; stats: { requests: number } }) => [d.deployment, d.stats.requests]));
    const queue = Array.from({ length: 1000 }, (_, i) => i);
    await Promise.all(Array.from({ length: 20 }, async () => {
      for (let i = queue.pop(); i !== undefined; i = queue.pop()) {
        const r = await score([data.rows[i % 150]!]);
        expect(r.status).toBe(200);
        counts[r.body.deployment]!++;
      }
    }));
    expect(Math.abs(counts.blue! / 10 - 90)).toBeLessThanOrEqual(3);
    const info = (await call("GET", "/api/v1/endpoints/flowers", { role: "viewer" })).body;
    expect(info.deployments.map((d: { deployment: string; trafficPercent: number; stats: { requests: number } }) => [d.deployment, d.trafficPercent, d.stats.requests - before[d.deployment]])).toEqual([["blue", 90, counts.blue], ["green", 10, counts.green]]);
    const list = (await call("GET", "/api/v1/endpoints", { role: "viewer" })).body;
    expect(list.map((e: { endpoint: string }) => e.endpoint)).toContain("flowers");
    const prom = await (await fetch(new URL("/metrics", base))).text();
    expect(prom).toMatch(/sluice_endpoint_requests_total\{endpoint="flowers",deployment="blue",kind="primary",outcome="ok"\} \d+/);
    expect(prom).toContain("sluice_endpoint_request_duration_seconds_bucket");
  });

  it("moves traffic to 0/100 while 32 clients keep scoring: every request gets 200, the change is audited, and all requests sent after it go to green", async () => {
    type Phase = "before" | "changing" | "after";
    let phase: Phase = "before";
    const answers: Array<{ started: Phase; ended: Phase; status: number; deployment: string }> = [];
    let startedAfter = 0;
    let changed: Answer | undefined;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (!(phase === "after" && startedAfter >= 300)) {
        const started = phase;
        if (started === "after") startedAfter++;
        const r = await score([data.rows[answers.length % 150]!]);
        answers.push({ started, ended: phase, status: r.status, deployment: r.body.deployment });
        if (answers.length === 300) {
          phase = "changing";
          void call("PUT", "/api/v1/endpoints/flowers/traffic", { role: "admin", body: { shares: { blue: 0, green: 100 } } }).then((a) => {
            changed = a;
            phase = "after";
          });
        }
      }
    }));
    expect(changed!.status).toBe(200);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.started !== "after" && a.ended !== "before").length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.started === "before").filter((a) => a.deployment === "blue").length).toBeGreaterThan(240);
    expect(answers.filter((a) => a.started === "after").every((a) => a.deployment === "green")).toBe(true);
    const audit = await server.service.listAudit({ limit: 20 });
    expect(audit.find((a) => a.action === "endpoint.traffic")).toMatchObject({ actor: names.admin, target: "endpoint/flowers", result: "ok" });
    const denied = await call("PUT", "/api/v1/endpoints/flowers/traffic", { role: "operator", body: { shares: { blue: 100, green: 0 } } });
    expect(denied.status).toBe(403);
    expect((await server.service.listAudit({ limit: 1 }))[0]).toMatchObject({ action: "endpoint.traffic", actor: names.operator, result: "denied" });
    expect((await call("PUT", "/api/v1/endpoints/flowers/traffic", { role: "admin", body: { shares: { blue: 60 } } })).body.error).toMatchObject({ code: "SLUICE_PARAMS_INVALID", field: "shares" });
  });

  it("mirrors each request to a shadow deployment (copies counted equal to requests) and sticks a header's key to one deployment", async () => {
    type Stats = { requests: number; shadowRequests: number; shadowErrors: number; shadowDropped: number };
    const stats = async (): Promise<Record<string, Stats>> => Object.fromEntries((await call("GET", "/api/v1/endpoints/flowers", { role: "viewer" })).body.deployments.map((d: { deployment: string; stats: Stats }) => [d.deployment, d.stats]));
    const put = await call("PUT", "/api/v1/endpoints/flowers/traffic", { role: "admin", body: { deployments: [{ deployment: "blue", model: "iris", version: v1, trafficPercent: 100 }, { deployment: "green", model: "iris", version: v2, trafficPercent: 100, shadow: true }] } });
    expect(put.status).toBe(200);
    const before = await stats();
    await Promise.all(Array.from({ length: 10 }, async (_, c) => {
      for (let i = 0; i < 30; i++) expect((await score([data.rows[(c * 30 + i) % 150]!])).body.deployment).toBe("blue");
    }));
    await service.shadowsSettled();
    const after = await stats();
    expect(after["blue"]!.requests - before["blue"]!.requests).toBe(300);
    expect(after["green"]!.shadowRequests - before["green"]!.shadowRequests).toBe(300);
    expect(after["green"]).toMatchObject({ shadowErrors: 0, shadowDropped: 0 });
    expect(after["green"]!.requests - before["green"]!.requests).toBe(0);

    await setDeployments([{ deployment: "blue", version: v1, trafficPercent: 50 }, { deployment: "green", version: v2, trafficPercent: 50 }]);
    await service.refresh();
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 40; k++) {
        const r = await score([data.rows[k]!], { "x-sluice-sticky-key": `customer-${k}` });
        (seen.get(`customer-${k}`) ?? seen.set(`customer-${k}`, new Set()).get(`customer-${k}`)!).add(r.body.deployment);
      }
    }
    expect([...seen.values()].every((s) => s.size === 1)).toBe(true);
    expect(new Set([...seen.values()].map((s) => [...s][0])).size).toBe(2);
  });

  it("runs a batch job over HTTP: 202 queued, then succeeded with a result whose predictions match online scoring", async () => {
    const start = await call("POST", "/api/v1/endpoints/flowers/batch", { body: { path: "data/new.csv" } });
    expect(start.status).toBe(202);
    expect(start.body).toMatchObject({ status: "queued", endpoint: "flowers", deployment: "blue" });
    let job = start.body;
    while (job.status === "queued" || job.status === "running") {
      await service.batchesSettled();
      job = (await call("GET", `/api/v1/endpoints/flowers/batch/${start.body.id}`, { role: "viewer" })).body;
    }
    expect(job).toMatchObject({ status: "succeeded", rows: 25 });
    const result = await call("GET", `/api/v1/endpoints/flowers/batch/${job.id}/result?format=jsonl`, { role: "viewer" });
    const rows = (result.body as string).trim().split("\n").map((l) => JSON.parse(l));
    await call("PUT", "/api/v1/endpoints/flowers/traffic", { role: "admin", body: { shares: { blue: 100, green: 0 } } });
    const online = await score(data.rows.slice(0, 25));
    expect(rows.map((r) => r.prediction)).toEqual(online.body.predictions.map((p: { prediction: string }) => p.prediction));
    expect(rows.map((r) => r.proba_setosa)).toEqual(online.body.predictions.map((p: { probabilities: Record<string, number> }) => p.probabilities["setosa"]));
    const csv = await call("GET", `/api/v1/endpoints/flowers/batch/${job.id}/result`, { role: "viewer" });
    expect((csv.body as string).split("\n")[0]).toBe([...IRIS_COLUMNS, "prediction", ...data.classes.map((c) => `proba_${c}`)].join(","));
    expect((await server.service.listAudit({ limit: 50 })).find((a) => a.action === "endpoint.batch")).toMatchObject({ actor: names.operator, target: "endpoint/flowers", result: "ok" });
    const outside = await call("POST", "/api/v1/endpoints/flowers/batch", { body: { path: "../../etc/passwd.csv" } });
    expect(outside.body.error).toMatchObject({ code: "SLUICE_PARAMS_INVALID", field: "path" });
    expect((await call("GET", "/api/v1/endpoints/flowers/batch/b000000000-00000000", { role: "viewer" })).body.error.code).toBe("SLUICE_JOB_NOT_FOUND");
  });
});
