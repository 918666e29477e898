import fs from "node:fs";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { column, encodeTable, tableFromRows, type SluiceError } from "sluice";
import { silentLogger } from "../../../src/log.ts";
import { toHttpError } from "../../../src/server/http-errors.ts";
import { EndpointService, type EndpointServiceOptions } from "../../../src/serving/index.ts";
import { createRng } from "../../../steps/ml/rng.ts";
import { IRIS_COLUMNS, irisData, irisModel, plainModel, servingWorkspace, type IrisData, type ServingWorkspace } from "./models.ts";

const rejection = async (p: Promise<unknown>): Promise<SluiceError> => {
  try {
    await p;
  } catch (err) {
    return err as SluiceError;
  }
  return expect.fail("expected a rejection");
};

describe("EndpointService with real onnxruntime-node sessions (iris logistic v1 blue, v2 green)", () => {
  let sw: ServingWorkspace;
  let data: IrisData;
  let v1: number;
  let v2: number;
  let plain: number;
  let service: EndpointService;
  let metrics: Registry;

  beforeAll(async () => {
    data = irisData();
    sw = await servingWorkspace({ "data/new.csv": ["sepal_length,sepal_width,petal_length,petal_width,id", ...irisData().rows.slice(0, 40).map((r, i) => `${IRIS_COLUMNS.map((c) => r[c]).join(",")},${i}`)].join("\n") + "\n" });
    v1 = await sw.register("iris", irisModel(data, 0.01));
    v2 = await sw.register("iris", irisModel(data, 1));
    plain = await sw.register("plain", plainModel());
  });
  afterAll(async () => sw?.close());

  const open = async (opts: Partial<EndpointServiceOptions> = {}): Promise<EndpointService> => {
    metrics = new Registry();
    const s = new EndpointService({ models: sw.ws.models, cas: sw.ws.cas, root: sw.dir.root, log: silentLogger(), metrics, refreshMs: 0, ...opts });
    await s.start();
    return s;
  };
  const deploy = (endpoint: string, specs: Array<{ deployment: string; version: number; trafficPercent: number; shadow?: boolean; model?: string }>) =>
    sw.ws.models.setDeployments(endpoint, specs.map((s) => ({ model: "iris", ...s })), Date.now());

  beforeEach(async () => {
    await deploy("flowers", [{ deployment: "blue", version: v1, trafficPercent: 90 }, { deployment: "green", version: v2, trafficPercent: 10 }]);
  });
  afterEach(async () => {
    await service?.close();
    for (const d of await sw.ws.models.listDeployments()) await sw.ws.models.setDeployments(d.endpoint, [], Date.now());
  });

  it("splits 10,000 requests 90/10 within ±2 points with a seeded generator, each answered by the deployment's model version", async () => {
    service = await open({ random: createRng(7).next });
    const counts: Record<string, number> = { blue: 0, green: 0 };
    for (let i = 0; i < 10_000; i++) {
      const r = await service.score("flowers", [data.rows[i % 150]!]);
      counts[r.deployment]!++;
      expect(r.model).toEqual({ name: "iris", version: r.deployment === "blue" ? v1 : v2 });
    }
    expect(counts.blue! + counts.green!).toBe(10_000);
    expect(Math.abs(counts.blue! / 100 - 90)).toBeLessThanOrEqual(2);
    expect(Math.abs(counts.green! / 100 - 10)).toBeLessThanOrEqual(2);
    const info = await service.get("flowers");
    expect(info.deployments.map((d) => [d.deployment, d.trafficPercent, d.stats.requests])).toEqual([["blue", 90, counts.blue], ["green", 10, counts.green]]);
    expect(info.deployments[0]!.columns.map((c) => c.name)).toEqual([...IRIS_COLUMNS]);
    const prom = await metrics.getSingleMetricAsString("sluice_endpoint_requests_total");
    expect(prom).toContain(`sluice_endpoint_requests_total{endpoint="flowers",deployment="blue",kind="primary",outcome="ok"} ${counts.blue}`);
    expect(await metrics.getSingleMetricAsString("sluice_endpoint_request_duration_seconds")).toContain(`sluice_endpoint_request_duration_seconds_count{endpoint="flowers",deployment="green",kind="primary"} ${counts.green}`);
  });

  it("predicts the iris classes (objects by name and arrays in column order agree) with probabilities that sum to 1", async () => {
    service = await open();
    await service.setTraffic("flowers", { shares: { blue: 100, green: 0 } });
    const byName = await service.score("flowers", data.rows);
    const byPosition = await service.score("flowers", data.rows.map((r) => IRIS_COLUMNS.map((c) => r[c]!)));
    expect(byPosition.predictions).toEqual(byName.predictions);
    const right = byName.predictions.filter((p, i) => p["prediction"] === data.species[i]).length;
    expect(right / 150).toBeGreaterThan(0.9);
    for (const p of byName.predictions) expect(Object.values(p["probabilities"] as Record<string, number>).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it("gives requests scored together in one turn (one micro-batched run) exactly the predictions each gets alone", async () => {
    service = await open({ random: () => 0 });
    const alone = [];
    for (let i = 0; i < 150; i += 3) alone.push((await service.score("flowers", data.rows.slice(i, i + 3))).predictions);
    const together = await Promise.all(Array.from({ length: 50 }, (_, k) => service.score("flowers", data.rows.slice(3 * k, 3 * k + 3))));
    expect(together.map((r) => r.predictions)).toEqual(alone);
    const mixed = await Promise.allSettled([service.score("flowers", [data.rows[0]!]), service.score("flowers", [{ ...data.rows[1]!, sepal_length: true }]), service.score("flowers", [data.rows[2]!])]);
    expect(mixed.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((mixed[2] as PromiseFulfilledResult<{ predictions: unknown[] }>).value.predictions).toEqual([alone[0]![2]]);
  });

  it("routes by a sticky key: the same key always lands on the same deployment, and keys spread by the shares", async () => {
    service = await open({ random: () => expect.fail("a sticky request must not draw a random number") });
    const first = new Map<string, string>();
    for (let k = 0; k < 1000; k++) first.set(`user-${k}`, (await service.score("flowers", [data.rows[0]!], { stickyKey: `user-${k}` })).deployment);
    for (let round = 0; round < 3; round++) {
      for (const [key, deployment] of [...first].slice(0, 200)) expect((await service.score("flowers", [data.rows[1]!], { stickyKey: key })).deployment).toBe(deployment);
    }
    const green = [...first.values()].filter((d) => d === "green").length;
    expect(green).toBeGreaterThan(60);
    expect(green).toBeLessThan(140);
  });

  /**
   * Keeps `clients` scoring until `change` (started after `startAt` answers) has resolved and
   * `after` requests have started after it. Each answer notes the phase its request started and
   * ended in: before the change, while it was pending, or after it resolved.
   */
  async function underLoad<T>(clients: number, startAt: number, after: number, change: () => Promise<T>) {
    type Phase = "before" | "changing" | "after";
    let phase: Phase = "before";
    let result: T | undefined;
    const answers: Array<{ started: Phase; ended: Phase; deployment: string }> = [];
    let startedAfter = 0;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (!(phase === "after" && startedAfter >= after)) {
        const started = phase;
        if (started === "after") startedAfter++;
        const r = await service.score("flowers", [data.rows[answers.length % 150]!]);
        answers.push({ started, ended: phase, deployment: r.deployment });
        if (answers.length === startAt) {
          phase = "changing";
          void change().then((v) => {
            result = v;
            phase = "after";
          });
        }
      }
    }));
    return { answers, result: result!, overlapping: answers.filter((a) => a.started !== "after" && a.ended !== "before").length };
  }

  it("moves 0/100 under load: requests in flight during the change all succeed, and every request started after it goes to green", async () => {
    service = await open({ random: createRng(3).next });
    const { answers, result, overlapping } = await underLoad(32, 500, 500, () => service.setTraffic("flowers", { shares: { blue: 0, green: 100 } }));
    expect(overlapping).toBeGreaterThan(0);
    expect(answers.filter((a) => a.started === "before").filter((a) => a.deployment === "blue").length).toBeGreaterThan(400);
    const later = answers.filter((a) => a.started === "after");
    expect(later.length).toBeGreaterThanOrEqual(500);
    expect(later.every((a) => a.deployment === "green")).toBe(true);
    expect(result).toMatchObject({ deployments: [{ deployment: "blue", trafficPercent: 0 }, { deployment: "green", trafficPercent: 100 }] });
    // A deployment at 0 % stays loaded and listed: a batch job may still name it.
    expect(result.deployments[0]!.columns.map((c) => c.name)).toEqual([...IRIS_COLUMNS]);
    expect(await service.startBatch("flowers", { path: "data/new.csv", deployment: "blue" })).toMatchObject({ deployment: "blue", status: "queued" });
    await service.batchesSettled();
    expect((await sw.ws.models.listDeployments("flowers")).map((d) => d.trafficPercent)).toEqual([0, 100]);
    const stats = (await service.get("flowers")).deployments.map((d) => d.stats);
    expect(stats[0]!.requests + stats[1]!.requests).toBe(answers.length);
    expect(stats.every((s) => s.errors === 0)).toBe(true);
  });

  it("deploys a version no session has loaded yet while 16 clients score: it loads before the swap and no request fails", async () => {
    await deploy("flowers", [{ deployment: "blue", version: v1, trafficPercent: 100 }]);
    service = await open();
    const change = () => service.setTraffic("flowers", { deployments: [{ deployment: "blue", model: "iris", version: v1, trafficPercent: 0 }, { deployment: "green", model: "iris", version: v2, trafficPercent: 100 }] });
    const { answers, overlapping } = await underLoad(16, 200, 300, change);
    expect(overlapping).toBeGreaterThan(0);
    expect(answers.filter((a) => a.started === "before").every((a) => a.deployment === "blue")).toBe(true);
    expect(answers.filter((a) => a.started === "after").every((a) => a.deployment === "green")).toBe(true);
    expect((await service.get("flowers")).deployments.map((d) => [d.deployment, d.stats.errors])).toEqual([["blue", 0], ["green", 0]]);
  });

  it("mirrors a copy of each request to a shadow deployment, never returning its answer; a failing shadow fails nothing", async () => {
    await deploy("flowers", [
      { deployment: "blue", version: v1, trafficPercent: 100 },
      { deployment: "green", version: v2, trafficPercent: 100, shadow: true },
      { deployment: "broken", model: "plain", version: plain, trafficPercent: 100, shadow: true },
    ]);
    service = await open();
    for (let i = 0; i < 300; i++) expect((await service.score("flowers", [data.rows[i % 150]!, data.rows[(i + 7) % 150]!])).deployment).toBe("blue");
    await service.shadowsSettled();
    const stats = Object.fromEntries((await service.get("flowers")).deployments.map((d) => [d.deployment, d.stats]));
    expect(stats["blue"]).toMatchObject({ requests: 300, errors: 0, rows: 600, shadowRequests: 0 });
    expect(stats["green"]).toMatchObject({ requests: 0, shadowRequests: 300, shadowErrors: 0, shadowDropped: 0 });
    // The plain model takes "x", which iris rows lack: each copy fails, each answer still came back.
    expect(stats["broken"]).toMatchObject({ requests: 0, shadowRequests: 300, shadowErrors: 300 });
  });

  it("names the row and column of a bad value, and counts it as invalid, not as an error", async () => {
    service = await open({ random: () => 0 });
    const bad = [data.rows[0]!, { ...data.rows[1]!, petal_width: "wide" }];
    const err = await rejection(service.score("flowers", bad));
    expect(err).toMatchObject({ code: "SLUICE_DATA_INVALID", details: { row: 1, column: "petal_width", field: "rows/1/petal_width" } });
    expect(err.message).toContain('endpoint "flowers" › deployment "blue" › row 1, column "petal_width": expected a number (or null for missing), got "wide"');
    const missing = await rejection(service.score("flowers", [{ sepal_length: 1 }]));
    expect(missing).toMatchObject({ code: "SLUICE_DATA_INVALID", details: { row: 0, column: "sepal_width" } });
    const ragged = await rejection(service.score("flowers", [[1, 2, 3]]));
    expect(ragged.message).toContain("row 0: expected an object of column values or an array of 4 values");
    expect((await service.get("flowers")).deployments[0]!.stats).toMatchObject({ requests: 3, invalid: 3, errors: 0 });
  });

  it("serves a model without sluice metadata by its graph inputs and outputs", async () => {
    await sw.ws.models.setDeployments("plain", [{ deployment: "only", model: "plain", version: plain, trafficPercent: 100 }], Date.now());
    service = await open();
    const r = await service.score("plain", [{ x: [1, 2] }, [[3, 4]]]);
    expect(r.predictions).toEqual([{ y: 21 }, { y: 43 }]);
    const err = await rejection(service.score("plain", [{ x: [1] }]));
    expect(err.message).toContain('row 0, column "x": expected an array of 2 values');
  });

  it("shares refreshes between listing callers: 20 at once read the registry once, and see a change made before they asked", async () => {
    service = await open();
    const models = sw.ws.models;
    const list = models.listDeployments.bind(models);
    let reads = 0;
    // The real registry, counted: every refresh reads it once.
    models.listDeployments = (endpoint?: string) => (reads++, list(endpoint));
    try {
      await deploy("irises", [{ deployment: "only", version: v2, trafficPercent: 100 }]);
      await Promise.all(Array.from({ length: 20 }, () => service.refreshShared()));
      expect(reads).toBe(1);
      expect(service.list().map((e) => e.endpoint).sort()).toEqual(["flowers", "irises"]);
      await service.refreshShared(); // a call after that refresh started reads again
      expect(reads).toBe(2);
    } finally {
      models.listDeployments = list;
    }
  });

  it("answers SLUICE_ENDPOINT_NOT_FOUND for an unknown endpoint, and serves one deployed after start once asked for it", async () => {
    service = await open();
    expect(await rejection(service.score("later", [data.rows[0]!]))).toMatchObject({ code: "SLUICE_ENDPOINT_NOT_FOUND" });
    await deploy("later", [{ deployment: "a", version: v2, trafficPercent: 100 }]);
    await service.refresh();
    expect((await service.score("later", [data.rows[0]!])).deployment).toBe("a");
  });

  it("refuses a traffic change naming an unknown deployment, shares not summing to 100, or a missing version, and keeps serving", async () => {
    service = await open({ random: () => 0 });
    expect(await rejection(service.setTraffic("flowers", { shares: { purple: 100 } }))).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "shares/purple" } });
    expect(await rejection(service.setTraffic("flowers", { shares: { blue: 50 } }))).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "shares" } });
    expect(await rejection(service.setTraffic("flowers", { deployments: [{ deployment: "x", model: "iris", version: 99, trafficPercent: 100 }] }))).toMatchObject({ code: "SLUICE_MODEL_NOT_FOUND" });
    expect((await sw.ws.models.listDeployments("flowers")).map((d) => d.trafficPercent)).toEqual([90, 10]);
    expect((await service.score("flowers", [data.rows[0]!])).deployment).toBe("blue");
  });

  it("runs a batch job queued → succeeded, whose result artifact matches online scoring row for row", async () => {
    service = await open({ random: () => 0 });
    const table = tableFromRows(data.rows.map((r, i) => ({ ...r, id: i })));
    const digest = sw.ws.cas.putBytes(encodeTable(table));
    const job = await service.startBatch("flowers", { table: digest });
    expect(job).toMatchObject({ status: "queued", deployment: "blue", model: { name: "iris", version: v1 }, result: null });
    await service.batchesSettled();
    const done = service.batchJob("flowers", job.id);
    expect(done).toMatchObject({ status: "succeeded", rows: 150 });
    expect(done.result).toMatch(/^sha256:[0-9a-f]{64}$/);
    const result = service.batchResult("flowers", job.id);
    expect(result.columns.map((c) => c.name)).toEqual([...IRIS_COLUMNS, "id", "prediction", ...data.classes.map((c) => `proba_${c}`)]);
    const online = await service.score("flowers", data.rows);
    expect(column(result, "prediction").values).toEqual(online.predictions.map((p) => p["prediction"]));
    data.classes.forEach((c) => expect(Array.from(column(result, `proba_${c}`).values as Float64Array)).toEqual(online.predictions.map((p) => (p["probabilities"] as Record<string, number>)[c])));
  });

  it("runs a batch job on a workspace file with a named deployment, and refuses paths outside the workspace", async () => {
    service = await open();
    const job = await service.startBatch("flowers", { path: "data/new.csv", deployment: "green" });
    await service.batchesSettled();
    expect(service.batchJob("flowers", job.id)).toMatchObject({ status: "succeeded", rows: 40, deployment: "green", model: { version: v2 } });
    fs.symlinkSync("/etc", sw.dir.path("data/etc"));
    for (const path of ["../outside.csv", "/etc/passwd.csv", "data/../../x.csv", "data/etc/hosts.csv", "data/new.txt"]) {
      expect(await rejection(service.startBatch("flowers", { path })), path).toMatchObject({ details: { field: "path" } });
    }
    expect(await rejection(service.startBatch("flowers", { table: "sha256:nope" }))).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "table" } });
    expect(await rejection(service.startBatch("flowers", { table: `sha256:${"0".repeat(64)}` }))).toMatchObject({ code: "SLUICE_INPUT_MISSING" });
    expect(() => service.batchJob("flowers", "b000000000-00000000")).toThrow(expect.objectContaining({ code: "SLUICE_JOB_NOT_FOUND" }));
  });

  it("refuses a batch job with SLUICE_QUEUE_FULL (429) while maxQueuedJobs wait or run, and takes it once they finished", async () => {
    service = await open({ maxQueuedJobs: 2 });
    const first = await service.startBatch("flowers", { path: "data/new.csv" });
    await service.startBatch("flowers", { path: "data/new.csv" });
    const full = await rejection(service.startBatch("flowers", { path: "data/new.csv" }));
    expect(full).toMatchObject({ code: "SLUICE_QUEUE_FULL", details: { queued: 2 } });
    expect(toHttpError(full, { method: "POST", path: "/api/v1/endpoints/flowers/batch", reqId: "r1" }).status).toBe(429);
    await service.batchesSettled();
    expect(service.batchJob("flowers", first.id).status).toBe("succeeded");
    const later = await service.startBatch("flowers", { path: "data/new.csv" });
    await service.batchesSettled();
    expect(service.batchJob("flowers", later.id)).toMatchObject({ status: "succeeded", rows: 40 });
  });

  it("records a batch job whose table lacks a model column as failed, naming the column", async () => {
    service = await open();
    const digest = sw.ws.cas.putBytes(encodeTable(tableFromRows([{ sepal_length: 1, sepal_width: 2, petal_length: 3 }])));
    const job = await service.startBatch("flowers", { table: digest });
    await service.batchesSettled();
    expect(service.batchJob("flowers", job.id)).toMatchObject({ status: "failed", error: { code: "SLUICE_DATA_INVALID", details: { column: "petal_width" } } });
  });
});
