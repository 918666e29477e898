/**
 * Endpoints on a model registry in real PostgreSQL: a traffic change under load (the registry
 * write now crosses a network connection), and a deployment written by another process on the
 * same database (as a pipeline's deploy step on another machine would) picked up by a refresh.
 */
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log.ts";
import { EndpointService } from "../../src/serving/index.ts";
import { createRng } from "../../steps/ml/rng.ts";
import { irisData, irisModel, servingWorkspace, type IrisData, type ServingWorkspace } from "../unit/serving/models.ts";

const BASE = "postgres://postgres@127.0.0.1:5432/test";
const schema = `endpoints_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const url = `${BASE}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;

async function sql(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

describe("model endpoints with the registry in PostgreSQL", () => {
  let sw: ServingWorkspace;
  let other: ServingWorkspace;
  let data: IrisData;
  let service: EndpointService;
  let v1: number;
  let v2: number;

  beforeAll(async () => {
    await sql(`CREATE SCHEMA ${schema}`);
    data = irisData();
    sw = await servingWorkspace({}, { SLUICE_DATABASE_URL: url });
    other = await servingWorkspace({}, { SLUICE_DATABASE_URL: url });
    v1 = await sw.register("iris", irisModel(data, 0.01));
    v2 = await sw.register("iris", irisModel(data, 1));
    // "other" shares the database, not the CAS: it only writes deployments, as a deploy step elsewhere would.
    await sw.ws.models.setDeployments("flowers", [{ deployment: "blue", model: "iris", version: v1, trafficPercent: 90 }, { deployment: "green", model: "iris", version: v2, trafficPercent: 10 }], Date.now());
    service = new EndpointService({ models: sw.ws.models, cas: sw.ws.cas, root: sw.dir.root, log: silentLogger(), metrics: new Registry(), refreshMs: 0, random: createRng(5).next });
    await service.start();
  });
  afterAll(async () => {
    await service?.close();
    await sw?.close();
    await other?.close();
    await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  it("moves 90/10 to 0/100 while 32 clients score: no request fails, every request started after the change goes to green", async () => {
    type Phase = "before" | "changing" | "after";
    let phase: Phase = "before";
    const answers: Array<{ started: Phase; ended: Phase; deployment: string }> = [];
    let startedAfter = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (!(phase === "after" && startedAfter >= 300)) {
        const started = phase;
        if (started === "after") startedAfter++;
        const r = await service.score("flowers", [data.rows[answers.length % 150]!]);
        answers.push({ started, ended: phase, deployment: r.deployment });
        if (answers.length === 300) {
          phase = "changing";
          void service.setTraffic("flowers", { shares: { blue: 0, green: 100 } }).then(() => (phase = "after"));
        }
      }
    }));
    expect(answers.filter((a) => a.started !== "after" && a.ended !== "before").length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.started === "after").every((a) => a.deployment === "green")).toBe(true);
    expect((await other.ws.models.listDeployments("flowers")).map((d) => [d.deployment, d.trafficPercent])).toEqual([["blue", 0], ["green", 100]]);
    expect((await service.get("flowers")).deployments.every((d) => d.stats.errors === 0)).toBe(true);
  });

  it("serves deployments another process wrote to the same database once it refreshes", async () => {
    await other.ws.models.setDeployments("flowers", [{ deployment: "blue", model: "iris", version: v1, trafficPercent: 100 }], Date.now());
    expect((await service.get("flowers")).deployments.map((d) => d.deployment)).toEqual(["blue", "green"]);
    await service.refresh();
    expect((await service.get("flowers")).deployments.map((d) => [d.deployment, d.trafficPercent])).toEqual([["blue", 100]]);
    expect((await service.score("flowers", [data.rows[0]!])).deployment).toBe("blue");
  });
});
